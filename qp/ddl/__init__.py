"""DDL: statements that change the catalog (tables, indexes, views, constraints, sequences,
roles) and the background jobs that finish online builds and validations."""
