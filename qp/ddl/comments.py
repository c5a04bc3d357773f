"""COMMENT ON applied: the comment qp/bind/ddl/comments.py bound, kept in the catalog.

A comment is a catalog record of its own beside its object's descriptor
(qp/catalog/stored.py, comment_key), read back by pg_description,
obj_description and col_description, and so by psql's \\d+ and \\dt+. Object
ids are never reused, so a comment outliving its object (a dropped table or
column) can never be attached to another one; the catalogs show only the
comments of objects that exist.
"""

from __future__ import annotations

from qp.bind.ddl.comments import BoundComment
from qp.catalog.stored import comment_key
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_comment(bound: BoundComment, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    key = comment_key(bound.oid, bound.subid)
    if bound.text:  # NULL or '' removes the comment, as in PostgreSQL
        txn.put(key, {"kind": "comment", "oid": bound.oid, "subid": bound.subid, "text": bound.text})
    else:
        txn.put(key, None)
    bump_version(txn, version, None)
    return DdlResult("COMMENT")
