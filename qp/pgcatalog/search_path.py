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

The schemas are the system's (qp.pgcatalog.oids.NAMESPACE_OIDS: pg_catalog
and information_schema hold the system relations, pg_toast nothing, public
the user's by default) and those CREATE SCHEMA made (`CatalogSnapshot.schemas`),
so which schemas exist, and the resolved path with them, depends on the
catalog snapshot (`schema_oids`). An unqualified user object is found in the
first schema along the path that holds one of that name (`first_schema`), as
namespace.c's RangeVarGetRelid / TypenameGetTypid look along it.

Everything here is pure and cached per (setting, user, schemas), because
binding resolves names on every statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qp.catalog.temp_keys import is_temp_oid
from qp.errors import SqlError
from qp.frontend.settings import DEFAULTS, split_identifier_list
from qp.pgcatalog import oids

USER_SCHEMA = "public"  # the schema every database starts with
# Schemas whose objects are the system's: nothing may be created in them
# (PostgreSQL's IsCatalogNamespace / IsToastNamespace).
_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "pg_toast"})
_PATHS_CACHED_MAX = 256  # distinct (search_path, user) pairs kept resolved


@dataclass(frozen=True)
class SearchPath:
    """A resolved search path."""

    searched: tuple[str, ...]  # every schema an unqualified name is looked up in, in order
    explicit: tuple[str, ...]  # the existing schemas the setting names (current_schemas(false))
    oids: tuple[int, ...] = ()  # the oids of `searched`, in its order

    @property
    def current_schema(self) -> str | None:
        return self.explicit[0] if self.explicit else None

    def namespace_oids(self) -> list[int]:
        return list(self.oids)


# What the unqualified names of a stored definition (a view's query) are
# resolved with when it is used. PostgreSQL binds them once, at CREATE; dsql
# keeps the query as written and binds it again where it is named, so it does
# so under the path that CREATE has in the common case, never under the
# session's current one: a view must not change meaning with the search_path
# of whoever reads it.
# A view created before dsql kept the path of its CREATE (ViewDef.search_path)
# is bound along this one.
STORED_DEFINITION_PATH = SearchPath(("pg_catalog", USER_SCHEMA), (USER_SCHEMA,),
                                    (oids.PG_CATALOG_NAMESPACE, oids.PUBLIC_NAMESPACE))
_SCHEMA_OIDS_KEY = "search_path.schema_oids"


def schema_oids(catalog: Any) -> dict[str, int]:
    """Every schema of `catalog` (a CatalogSnapshot, or None for the system's
    only) by name: the fixed ones, then CREATE SCHEMA's."""
    if catalog is None:
        return oids.NAMESPACE_OIDS
    found = catalog.derived.get(_SCHEMA_OIDS_KEY)
    if found is None:
        found = dict(oids.NAMESPACE_OIDS)
        for schema in catalog.schemas.values():
            found[schema.name] = schema.oid
        catalog.derived[_SCHEMA_OIDS_KEY] = found
    return found


def schema_names(catalog: Any) -> dict[int, str]:
    return {oid: name for name, oid in schema_oids(catalog).items()}


def resolve(setting: str, user: str, catalog: Any = None) -> SearchPath:
    """The search path the setting's text gives for `user` with the schemas of
    `catalog` (a malformed setting was refused when set; should one get here,
    it searches pg_catalog only, as PostgreSQL does for a list it cannot parse)."""
    existing = schema_oids(catalog)
    return _resolve(setting, user, tuple(existing.items()))


@lru_cache(maxsize=_PATHS_CACHED_MAX)
def _resolve(setting: str, user: str, existing_items: tuple[tuple[str, int], ...]) -> SearchPath:
    existing = dict(existing_items)
    explicit: list[str] = []
    for name in split_identifier_list(setting) or ():
        if name == "$user":
            name = user
        if name in existing and name not in explicit:
            explicit.append(name)
    searched = explicit if "pg_catalog" in explicit else ["pg_catalog", *explicit]
    return SearchPath(tuple(searched), tuple(explicit), tuple(existing[name] for name in searched))


def session_search_path(ctx: Any, catalog: Any = None) -> SearchPath:
    """The search path of the session an EvalContext belongs to, with the
    schemas of `catalog` (default: the statement's, `ctx.catalog`)."""
    settings = getattr(ctx, "settings", None) or {}
    setting = settings.get("search_path", DEFAULTS["search_path"])
    if catalog is None:
        catalog = getattr(ctx, "catalog", None)
    return resolve(setting, getattr(ctx, "user", "") or "", catalog)


def definition_path(names: tuple[str, ...] | None, catalog: Any) -> SearchPath:
    """The path a stored definition's unqualified names are bound along: the
    schemas its CREATE's path named (those that still exist)."""
    if names is None:
        return STORED_DEFINITION_PATH
    existing = schema_oids(catalog)
    explicit = tuple(name for name in names if name in existing)
    searched = explicit if "pg_catalog" in explicit else ("pg_catalog", *explicit)
    return SearchPath(searched, explicit, tuple(existing[name] for name in searched))


def binding_path(bc: Any) -> SearchPath:
    """The path the binder resolves unqualified names along: the innermost
    view's being expanded, else the session's (with the schemas of the catalog
    being bound against)."""
    if bc.definition_paths:
        return bc.definition_paths[-1]
    return session_search_path(bc.eval_ctx, bc.catalog)


def first_schema(path: SearchPath, holds: Callable[[str], bool]) -> str | None:
    """The first schema along `path` for which `holds(schema)` (it has an object
    of the name looked for), else None."""
    for schema in path.searched:
        if holds(schema):
            return schema
    return None


def temp_relation_named(catalog: Any, name: str) -> bool:
    """Whether `name` is one of the session's temporary relations (or indexes): those are
    found first whatever the path (PostgreSQL's pg_temp), kept under public's key by the
    catalog overlay (qp/catalog/temp_overlay.py)."""
    if catalog is None or not getattr(catalog, "overlay", None):
        return False
    found = (catalog.find_table(name, USER_SCHEMA) or catalog.find_view(name, USER_SCHEMA)
             or catalog.find_sequence(name, USER_SCHEMA))  # fmt: skip
    if found is None:
        index = catalog.indexes_by_name.get((USER_SCHEMA, name))
        found = index[0] if index is not None else None
    return found is not None and is_temp_oid(found.oid)


def relation_schema(catalog: Any, ctx: Any, schema: str | None, name: str) -> str | None:
    """The schema of the user relation `[schema.]name`: `schema` (3F000 if there is
    no such), else the first along the session's path with a relation so named."""
    if schema is not None:
        return check_schema(catalog, schema)
    if temp_relation_named(catalog, name):
        return USER_SCHEMA
    path = session_search_path(ctx, catalog)
    return first_schema(path, lambda candidate: catalog.relation_name_taken(name, candidate))


def check_schema(catalog: Any, schema: str) -> str:
    """`schema`, or 3F000 when there is no such schema."""
    if schema not in schema_oids(catalog):
        raise SqlError("3F000", f'schema "{schema}" does not exist')
    return schema


def creation_schema(schema: str | None, name: str, ctx: Any, catalog: Any = None) -> str:
    """The schema CREATE puts `[schema.]name` in, or PostgreSQL's error when it
    cannot (RangeVarGetCreationNamespace and the permission checks after it)."""
    if schema is None:
        schema = session_search_path(ctx, catalog).current_schema
        if schema is None:
            raise SqlError("3F000", "no schema has been selected to create in")
    if schema in _SYSTEM_SCHEMAS:
        raise SqlError("42501", f'permission denied to create "{schema}.{name}"',
                       detail="System catalog modifications are currently disallowed.")
    check_schema(catalog if catalog is not None else getattr(ctx, "catalog", None), schema)
    if schema == "information_schema":
        raise SqlError("0A000", 'dsql does not create objects in schema "information_schema"')
    return schema
