"""DSQL's limits on tables, columns and indexes: checked when a DDL statement is bound, so a
statement past one fails before it writes anything.
"""

from __future__ import annotations

COLUMNS_PER_TABLE_MAX = 255


COLUMNS_PER_KEY_MAX = 8


INDEXES_PER_TABLE_MAX = 24


TABLES_MAX = 1000
