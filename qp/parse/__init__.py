"""Parsing: SQL text to PostgreSQL's own parse trees (libpg_query via pglast), as plain dicts."""
