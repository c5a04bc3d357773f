"""DDL analysis: each DDL statement bound to a typed statement that qp/ddl applies."""
