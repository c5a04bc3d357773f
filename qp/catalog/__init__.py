"""The catalog as dsql stores it: table, index, view, sequence and role definitions and the
snapshot a transaction reads them in. PostgreSQL's view of it (pg_catalog,
information_schema) is `qp.pgcatalog`, a layer above."""
