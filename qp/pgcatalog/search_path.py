"""The search path: which schemas an unqualified name is looked up in, and created in.

PostgreSQL computes this from the search_path setting each time it changes
(namespace.c's recomputeNamespacePath), and dsql follows it step by step:

- the setting is a list of names (`qp.frontend.settings.split_identifier_list`);
  `"$user"` stands for the schema named after the current user, if there is
  one; names of schemas that do not exist are skipped, as are repeats and
  `pg_temp` (a session's temporary objects are searched first wherever it is named:
  qp/catalog/temp_overlay.py);
- the schemas left are the *explicit* path: `current_schemas(false)`, whose
  first one is `current_schema` and where CREATE puts an unqualified name
  (none left: `current_schema` is NULL and CREATE fails with 3F000);
- `pg_catalog` is searched first unless the path names it somewhere
  (`current_schemas(true)`).

dsql's schemas are fixed (qp.pgcatalog.oids.NAMESPACE_OIDS): pg_catalog and
information_schema hold the system relations, public holds every user table,
view, sequence and index, pg_toast holds nothing. So for a user object, the
search path decides one thing: whether public is searched (`user_schema`).

Everything here is pure and cached per (setting, user), because binding
resolves names on every statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qp.errors import SqlError
from qp.frontend.settings import DEFAULTS, split_identifier_list
from qp.pgcatalog import oids

USER_SCHEMA = "public"  # where dsql keeps every user object
# Schemas whose objects are the system's: nothing may be created in them
# (PostgreSQL's IsCatalogNamespace / IsToastNamespace).
_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "pg_toast"})
_PATHS_CACHED_MAX = 256  # distinct (search_path, user) pairs kept resolved


@dataclass(frozen=True)
class SearchPath:
    """A resolved search path."""

    searched: tuple[str, ...]  # every schema an unqualified name is looked up in, in order
    explicit: tuple[str, ...]  # the existing schemas the setting names (current_schemas(false))

    @property
    def current_schema(self) -> str | None:
        return self.explicit[0] if self.explicit else None

    @property
    def user_schema(self) -> str | None:
        """The schema of user objects if an unqualified name looks there, else None."""
        return USER_SCHEMA if USER_SCHEMA in self.searched else None

    def namespace_oids(self) -> list[int]:
        return [oids.NAMESPACE_OIDS[name] for name in self.searched]


# What the unqualified names of a stored definition (a view's query) are
# resolved with when it is used. PostgreSQL binds them once, at CREATE; dsql
# keeps the query as written and binds it again where it is named, so it does
# so under the path that CREATE has in the common case, never under the
# session's current one: a view must not change meaning with the search_path
# of whoever reads it.
STORED_DEFINITION_PATH = SearchPath(("pg_catalog", USER_SCHEMA), (USER_SCHEMA,))


@lru_cache(maxsize=_PATHS_CACHED_MAX)
def resolve(setting: str, user: str) -> SearchPath:
    """The search path the setting's text gives for `user` (a malformed setting
    was refused when set; should one get here, it searches pg_catalog only, as
    PostgreSQL does for a list it cannot parse)."""
    explicit: list[str] = []
    for name in split_identifier_list(setting) or ():
        if name == "$user":
            name = user
        if name in oids.NAMESPACE_OIDS and name not in explicit:
            explicit.append(name)
    searched = explicit if "pg_catalog" in explicit else ["pg_catalog", *explicit]
    return SearchPath(tuple(searched), tuple(explicit))


def session_search_path(ctx: Any) -> SearchPath:
    """The search path of the session an EvalContext belongs to."""
    settings = getattr(ctx, "settings", None) or {}
    setting = settings.get("search_path", DEFAULTS["search_path"])
    return resolve(setting, getattr(ctx, "user", "") or "")


def lookup_schema(schema: str | None, ctx: Any) -> str | None:
    """The schema a user object named `[schema.]name` would be in: `schema` if
    given, else public if the search path reaches it, else None (not found)."""
    if schema is not None:
        return schema
    return session_search_path(ctx).user_schema


def creation_schema(schema: str | None, name: str, ctx: Any) -> str:
    """The schema CREATE puts `[schema.]name` in, or PostgreSQL's error when it
    cannot (RangeVarGetCreationNamespace and the permission checks after it)."""
    if schema is None:
        schema = session_search_path(ctx).current_schema
        if schema is None:
            raise SqlError("3F000", "no schema has been selected to create in")
    if schema in _SYSTEM_SCHEMAS:
        raise SqlError("42501", f'permission denied to create "{schema}.{name}"',
                       detail="System catalog modifications are currently disallowed.")
    if schema not in oids.NAMESPACE_OIDS:
        raise SqlError("3F000", f'schema "{schema}" does not exist')
    if schema != USER_SCHEMA:
        raise SqlError("0A000", f'dsql creates objects only in schema "{USER_SCHEMA}", not in "{schema}"')
    return schema
