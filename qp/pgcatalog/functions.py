"""Functions that read the system catalogs: visibility, names, definitions,
sizes, privileges, descriptions, and the session facts clients ask for.

They read the statement's catalog snapshot (`EvalContext.catalog`, set by
the session before a statement runs and by every scan of a system relation)
through `qp.pgcatalog`'s model. They register with the function library
when `qp.pgcatalog` is imported (the binder imports it), so that library
itself stays free of catalog state.

Answers follow PostgreSQL 16 where dsql has the same objects. Where it has
none: privileges are always granted (one superuser), publications,
partitions, statistics objects, rules and triggers do not exist, and
relation sizes are estimates (one 8 kB page per relation, which is what an
empty PostgreSQL table reports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pglast.keywords as K

from qp.bind.ddl.roles import visible_roles
from qp.catalog.temp_keys import TEMP_NAMESPACE_OID
from qp.errors import SqlError
from qp.functions.registry import register_function
from qp.functions.strings import quote_ident
from qp.pgcatalog import builtin_data, oids
from qp.pgcatalog.builtins import proc_by_oid
from qp.pgcatalog.definitions import (
    constraint_definition,
    index_definition,
    regclass_name,
    stored_expression,
    view_definition,
)
from qp.pgcatalog.model import model_for, search_path_of
from qp.pgcatalog.names import (
    namespace_oid,
    proc_oid,
    procedure_oid,
    qualified_name,
    regclass_oid,
    role_oid_of,
)
from qp.pgcatalog.objects import DESCRIPTIONS, SHARED_DESCRIPTIONS, user_descriptions
from qp.pgcatalog.routines import find_function, function_arguments, function_result, function_visible
from qp.pgcatalog.search_path import SearchPath, first_schema
from qp.types.context import EvalContext
from qp.types.core import (
    BOOL,
    CHAR,
    INT4,
    INT8,
    NAME,
    NUMERIC,
    OID,
    PG_NODE_TREE,
    REGCLASS,
    REGNAMESPACE,
    REGPROC,
    REGPROCEDURE,
    REGROLE,
    REGTYPE,
    TEXT,
    VOID,
    SqlType,
    array_of,
    format_type,
    record_type,
    type_by_oid,
)
from qp.types.text_io import parse_regtype

PAGE_BYTES = 8192


def _type(oid: int) -> SqlType | None:
    try:
        return type_by_oid(oid)
    except SqlError:
        return None


def _model(ctx: EvalContext):
    if ctx.catalog is None:
        raise SqlError("XX000", "no catalog snapshot for this statement")
    return model_for(ctx.catalog)


def _path(ctx: EvalContext) -> SearchPath:
    return search_path_of(ctx)


def _reg(name: str, args: list[SqlType], ret: SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    """A catalog function: stable, reads the session's context."""
    kw.setdefault("volatility", "s")
    register_function(name, args, ret, impl, ctx=True, **kw)


# -- visibility and names ---------------------------------------------------------------------------


def _table_is_visible(ctx: EvalContext, oid: int) -> bool | None:
    model = _model(ctx)
    relation = model.relation(oid)
    return None if relation is None else model.is_visible(relation, _path(ctx))


def _type_is_visible(ctx: EvalContext, oid: int) -> bool | None:
    if oid in builtin_data.TYPES:
        return True
    domain = ctx.catalog.domains_by_oid.get(oid) if ctx.catalog is not None else None
    if domain is None:
        return None
    # Visible: the type its bare name finds along the path (the first schema with one so named).
    domains = ctx.catalog.domains
    return first_schema(_path(ctx), lambda schema: (schema, domain.name) in domains) == domain.schema


def _function_is_visible(ctx: EvalContext, oid: int) -> bool | None:
    user = find_function(ctx.catalog, oid)
    if user is not None:
        return function_visible(ctx.catalog, _path(ctx), user)
    return True if oid in proc_by_oid() else None


_reg("pg_table_is_visible", [OID], BOOL, _table_is_visible)
_reg("pg_type_is_visible", [OID], BOOL, _type_is_visible)
_reg("pg_function_is_visible", [OID], BOOL, _function_is_visible)
_reg("pg_collation_is_visible", [OID], BOOL, lambda ctx, oid: True)
_reg("pg_opclass_is_visible", [OID], BOOL, lambda ctx, oid: True)
_reg("pg_operator_is_visible", [OID], BOOL, lambda ctx, oid: True)
for _what in ("opfamily", "conversion", "statistics_obj", "ts_parser", "ts_dict", "ts_template", "ts_config"):
    # dsql has none of these objects: whatever is asked about is "visible".
    _reg(f"pg_{_what}_is_visible", [OID], BOOL, lambda ctx, oid: True)


def _userbyid(ctx: EvalContext, oid: int) -> str:
    if ctx.catalog is not None:

        for role in visible_roles(ctx.catalog, ctx.session_user or ctx.user):
            if role.oid == oid:
                return role.name
    elif oid == oids.BOOTSTRAP_SUPERUSER:
        return ctx.session_user or ctx.user
    for role_oid, name in oids.PREDEFINED_ROLES:
        if role_oid == oid:
            return name
    return f"unknown (OID={oid})"


_reg("pg_get_userbyid", [OID], NAME, _userbyid)


def _current_schemas(ctx: EvalContext, include_implicit: bool) -> list[str]:
    path = _path(ctx)
    return list(path.searched if include_implicit else path.explicit)


_reg("current_schemas", [BOOL], array_of(NAME), _current_schemas)
# current_schema: the first schema of the search path that exists (NULL when none does).
_reg("current_schema", [], NAME, lambda ctx: _path(ctx).current_schema, strict=False)


def _to_regclass(ctx: EvalContext, text: str) -> int | None:
    return regclass_oid(_model(ctx), text, _path(ctx), missing_ok=True)


def _to_regtype(ctx: EvalContext, text: str) -> int | None:
    try:
        return parse_regtype(text)
    except SqlError:
        return None


def _to_regnamespace(ctx: EvalContext, text: str) -> int | None:
    return namespace_oid(text, missing_ok=True, snapshot=ctx.catalog)


def _to_regproc(ctx: EvalContext, text: str) -> int | None:
    return proc_oid(text, missing_ok=True, snapshot=ctx.catalog, search_path=search_path_of(ctx))


_reg("to_regclass", [TEXT], REGCLASS, _to_regclass)
_reg("to_regtype", [TEXT], REGTYPE, _to_regtype)
_reg("to_regnamespace", [TEXT], REGNAMESPACE, _to_regnamespace)
_reg("to_regproc", [TEXT], REGPROC, _to_regproc)


def _to_regprocedure(ctx: EvalContext, text: str) -> int | None:
    """NULL for no such function; a type that does not exist is an error (PostgreSQL 15's rule)."""
    return procedure_oid(text, missing_ok=True, snapshot=ctx.catalog, search_path=search_path_of(ctx))


_reg("to_regprocedure", [TEXT], REGPROCEDURE, _to_regprocedure)


def _to_regrole(ctx: EvalContext, text: str) -> int | None:
    return role_oid_of(text, missing_ok=True, snapshot=ctx.catalog)


_reg("to_regrole", [TEXT], REGROLE, _to_regrole)


def _format_type(ctx: EvalContext, oid: int | None, typmod: int | None) -> str | None:
    """format_type(type, typmod): not strict in PostgreSQL (a NULL typmod means
    "no typmod", which prints bpchar as `character`); unknown types print ???."""
    if oid is None:
        return None
    t = _type(oid)
    if t is None:
        domain = ctx.catalog.domains_by_oid.get(oid) if ctx.catalog is not None else None
        return quote_ident(domain.name) if domain is not None else "???"
    if typmod is None:
        if oid == 1042:
            return "character"
        if oid == 1014:
            return "character[]"
        return format_type(t)
    return format_type(t.with_typmod(typmod) if typmod >= 0 else t)


_reg("format_type", [OID, INT4], TEXT, _format_type, strict=False)


# -- definitions ------------------------------------------------------------------------------------


def _indexdef(ctx: EvalContext, oid: int, column: int = 0, pretty: bool = False) -> str | None:
    model = _model(ctx)
    relation = model.relation(oid)
    if relation is None or relation.index is None:
        return None
    return index_definition(model, relation, column, pretty, _path(ctx), ctx)


def _constraintdef(ctx: EvalContext, oid: int, pretty: bool = False) -> str | None:
    model = _model(ctx)
    constraint = model.constraint_by_oid.get(oid)
    return None if constraint is None else constraint_definition(model, constraint, pretty, ctx)


def _get_expr(ctx: EvalContext, tree: str, relation: int, pretty: bool = False) -> str | None:
    return stored_expression(_model(ctx), tree, relation, pretty, ctx)


def _viewdef(ctx: EvalContext, view: Any, pretty: bool = False) -> str | None:
    model = _model(ctx)
    if isinstance(view, str):

        oid = regclass_oid(model, view, _path(ctx), missing_ok=False)
    else:
        oid = view
    relation = model.relation(oid)
    return None if relation is None else view_definition(model, relation, ctx, pretty)


_reg("pg_get_indexdef", [OID], TEXT, _indexdef)
_reg("pg_get_indexdef", [OID, INT4, BOOL], TEXT, _indexdef)
_reg("pg_get_constraintdef", [OID], TEXT, _constraintdef)
_reg("pg_get_constraintdef", [OID, BOOL], TEXT, _constraintdef)
_reg("pg_get_expr", [PG_NODE_TREE, OID], TEXT, _get_expr)
_reg("pg_get_expr", [PG_NODE_TREE, OID, BOOL], TEXT, _get_expr)
_reg("pg_get_viewdef", [OID], TEXT, _viewdef)
_reg("pg_get_viewdef", [OID, BOOL], TEXT, _viewdef)
_reg("pg_get_viewdef", [TEXT], TEXT, _viewdef)
_reg("pg_get_viewdef", [TEXT, BOOL], TEXT, _viewdef)
# No triggers, rules or statistics objects exist: their definitions are NULL.
_reg("pg_get_triggerdef", [OID], TEXT, lambda ctx, oid: None)
_reg("pg_get_triggerdef", [OID, BOOL], TEXT, lambda ctx, oid, pretty: None)
_reg("pg_get_ruledef", [OID], TEXT, lambda ctx, oid: None)
_reg("pg_get_ruledef", [OID, BOOL], TEXT, lambda ctx, oid, pretty: None)
def _statistics(ctx: EvalContext, oid: int):
    for stats, table in (ctx.catalog.live_statistics() if ctx.catalog is not None else ()):
        if stats.oid == oid:
            return stats, table
    return None, None


def _statisticsobjdef_columns(ctx: EvalContext, oid: int) -> str | None:
    stats, table = _statistics(ctx, oid)
    return None if stats is None else ", ".join(quote_ident(table.columns[p].name) for p in stats.columns)


def _statisticsobjdef(ctx: EvalContext, oid: int) -> str | None:
    """PostgreSQL's text: the kinds only when not all of them."""
    stats, table = _statistics(ctx, oid)
    if stats is None:
        return None
    kinds = {"d": "ndistinct", "f": "dependencies", "m": "mcv"}
    listed = "" if set(stats.kinds) == set(kinds) else f" ({', '.join(kinds[k] for k in stats.kinds)})"
    table_name = regclass_name(_model(ctx), table.oid, _path(ctx))
    return (f"CREATE STATISTICS {quote_ident(stats.schema)}.{quote_ident(stats.name)}{listed} "
            f"ON {_statisticsobjdef_columns(ctx, oid)} FROM {table_name}")  # fmt: skip


_reg("pg_get_statisticsobjdef_columns", [OID], TEXT, _statisticsobjdef_columns)
_reg("pg_get_statisticsobjdef", [OID], TEXT, _statisticsobjdef)


def _serial_sequence(ctx: EvalContext, table: str, column: str) -> str | None:
    """pg_get_serial_sequence: the sequence a serial or identity column uses,
    schema-qualified (PostgreSQL's format), or NULL."""

    model = _model(ctx)
    oid = regclass_oid(model, table, _path(ctx), missing_ok=False)
    relation = model.relation(oid)
    name = qualified_name(column)[0] if column.startswith('"') else column
    for attribute in relation.attributes if relation is not None else ():
        if attribute.name == name and not attribute.dropped:
            sequence = model.relation(attribute.sequence_oid) if attribute.sequence_oid is not None else None
            if sequence is None:
                return None
            return f"{quote_ident(sequence.schema)}.{quote_ident(sequence.name)}"
    raise SqlError("42703", f'column "{column}" of relation "{table}" does not exist')


_reg("pg_get_serial_sequence", [TEXT, TEXT], TEXT, _serial_sequence)


def _function_arguments(ctx: EvalContext, oid: int, identity: bool = False) -> str | None:
    user = find_function(ctx.catalog, oid)
    if user is not None:  # a CREATE FUNCTION's (qp/pgcatalog/routines.py)
        return function_arguments(user, ctx, identity)
    proc = proc_by_oid().get(oid)
    if proc is None:
        return None
    names = [format_type(t) if (t := _type(a)) is not None else str(a) for a in proc.arg_types]
    if proc.variadic and names:
        names[-1] = "VARIADIC " + names[-1]
    return ", ".join(names)


def _function_result(ctx: EvalContext, oid: int) -> str | None:
    user = find_function(ctx.catalog, oid)
    if user is not None:
        return function_result(user)
    proc = proc_by_oid().get(oid)
    if proc is None:
        return None
    t = _type(proc.ret)
    name = format_type(t) if t is not None else str(proc.ret)
    return f"SETOF {name}" if proc.retset else name


_reg("pg_get_function_arguments", [OID], TEXT, _function_arguments)
_reg("pg_get_function_identity_arguments", [OID], TEXT, lambda ctx, oid: _function_arguments(ctx, oid, True))
_reg("pg_get_function_result", [OID], TEXT, _function_result)


# -- descriptions -----------------------------------------------------------------------------------

_CATALOG_OIDS = {"pg_namespace": 2615, "pg_class": 1259, "pg_proc": 1255, "pg_type": 1247,
                 "pg_extension": 3079, "pg_language": 2612, "pg_constraint": 2606}


def _obj_description(ctx: EvalContext, oid: int, catalog: str | None = None) -> str | None:
    classoid = _CATALOG_OIDS.get(catalog) if catalog is not None else None
    for objoid, cls, subid, text in (*DESCRIPTIONS, *_user_descriptions(ctx)):
        if objoid == oid and subid == 0 and (classoid is None or cls == classoid):
            return text
    return None


def _shobj_description(ctx: EvalContext, oid: int, catalog: str) -> str | None:
    for objoid, _, text in SHARED_DESCRIPTIONS:
        if objoid == oid:
            return text
    return None


_reg("obj_description", [OID, NAME], TEXT, _obj_description)
_reg("obj_description", [OID], TEXT, _obj_description)
def _col_description(ctx: EvalContext, oid: int, column: int) -> str | None:
    for objoid, _, subid, text in _user_descriptions(ctx):
        if objoid == oid and subid == column and column != 0:
            return text
    return None


def _user_descriptions(ctx: EvalContext) -> list[tuple]:
    return user_descriptions(_model(ctx)) if ctx.catalog is not None else []


_reg("col_description", [OID, INT4], TEXT, _col_description)
_reg("shobj_description", [OID, NAME], TEXT, _shobj_description)

# -- encodings --------------------------------------------------------------------------------------

_ENCODINGS = {0: "SQL_ASCII", 6: "UTF8", 8: "LATIN1"}
register_function("pg_encoding_to_char", [INT4], NAME, lambda e: _ENCODINGS.get(e, ""))
register_function("pg_char_to_encoding", [NAME], INT4,
                  lambda n: next((k for k, v in _ENCODINGS.items() if v == n.upper().replace("-", "")), -1))
register_function("getdatabaseencoding", [], NAME, lambda: "UTF8")
register_function("pg_client_encoding", [], NAME, lambda: "UTF8")

# -- publications, partitions -----------------------------------------------------------------------


def _publishable(ctx: EvalContext, oid: int) -> bool | None:
    """PostgreSQL's rule: ordinary user tables can be published."""
    relation = _model(ctx).relation(oid)
    if relation is None:
        return None
    return relation.relkind in ("r", "p") and relation.system is None


def _no_rows(ctx: EvalContext, oid: int) -> Iterator[int]:
    return iter(())


_reg("pg_relation_is_publishable", [REGCLASS], BOOL, _publishable)
# Only partitions and partitioned tables have ancestors; dsql has neither.
_reg("pg_partition_ancestors", [REGCLASS], REGCLASS, _no_rows, srf=True)
_reg("pg_partition_root", [REGCLASS], REGCLASS, lambda ctx, oid: None)

# -- sizes ------------------------------------------------------------------------------------------


def _relation_size(ctx: EvalContext, oid: int, fork: str = "main") -> int | None:
    relation = _model(ctx).relation(oid)
    if relation is None:
        return None
    if relation.system is not None or relation.relkind not in ("i", "S") or fork != "main":
        return 0  # an empty heap has no pages yet
    return PAGE_BYTES  # an index's metapage, a sequence's one page


# PostgreSQL gives a table a TOAST table when its widest possible row exceeds this.
TOAST_TUPLE_THRESHOLD = 2032


def _max_width(t: SqlType) -> int | None:
    """The most bytes a value of `t` can take (type_maximum_size), None if unbounded."""
    if t.typlen > 0:
        return t.typlen
    if t.oid in (1042, 1043) and t.typmod >= 0:
        return (t.typmod - 4) * 4 + 4  # UTF8: up to 4 bytes a character
    if t.oid == 1700 and t.typmod >= 0:
        precision = ((t.typmod - 4) >> 16) & 0xFFFF
        return (precision + 3) // 4 * 2 + 8
    return None


def _table_size(ctx: EvalContext, oid: int) -> int | None:
    """What PostgreSQL reports for an empty table: nothing for its heap, one
    page for the index of its TOAST table when it has one (a row could
    outgrow a page's share); an index has its metapage."""
    relation = _model(ctx).relation(oid)
    if relation is None:
        return None
    if relation.system is not None or relation.relkind == "v":
        return 0
    if relation.relkind == "i" or relation.relkind == "S":
        return PAGE_BYTES
    widths = [_max_width(a.type) for a in relation.attributes if not a.dropped]
    toasted = any(w is None for w in widths) or sum(w or 0 for w in widths) > TOAST_TUPLE_THRESHOLD
    return PAGE_BYTES if toasted else 0


def _total_size(ctx: EvalContext, oid: int) -> int | None:
    model = _model(ctx)
    relation = model.relation(oid)
    if relation is None:
        return None
    if relation.system is not None or relation.relkind == "v":
        return 0
    return (_table_size(ctx, oid) or 0) + PAGE_BYTES * len(model.indexes_of(oid))


def _indexes_size(ctx: EvalContext, oid: int) -> int | None:
    model = _model(ctx)
    if model.relation(oid) is None:
        return None
    return PAGE_BYTES * len(model.indexes_of(oid))


_reg("pg_relation_size", [REGCLASS], INT8, _relation_size)
_reg("pg_relation_size", [REGCLASS, TEXT], INT8, _relation_size)
_reg("pg_table_size", [REGCLASS], INT8, _table_size)
_reg("pg_total_relation_size", [REGCLASS], INT8, _total_size)
_reg("pg_indexes_size", [REGCLASS], INT8, _indexes_size)
_reg("pg_database_size", [NAME], INT8, lambda ctx, name: PAGE_BYTES * 1000)
_reg("pg_database_size", [OID], INT8, lambda ctx, oid: PAGE_BYTES * 1000)
_reg("pg_tablespace_location", [OID], TEXT, lambda ctx, oid: "")

# pg_size_pretty's units (PostgreSQL 16): name, limit, half-rounded, bits.
_SIZE_UNITS = (("bytes", 10 * 1024, False, 0), ("kB", 20 * 1024 - 1, True, 10), ("MB", 20 * 1024 - 1, True, 20),
               ("GB", 20 * 1024 - 1, True, 30), ("TB", 20 * 1024 - 1, True, 40), ("PB", 20 * 1024 - 1, True, 50))


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _size_pretty(size: int | Decimal) -> str:
    """pg_size_pretty, as dbsize.c computes it: each unit is used below its
    limit, the larger ones rounded half away from zero."""
    value = int(size)
    for i, (unit, limit, rounded, bits) in enumerate(_SIZE_UNITS):
        last = i == len(_SIZE_UNITS) - 1
        if last or abs(value) < limit:
            if rounded:
                value = _trunc_div(value + (-1 if value < 0 else 1), 2)
            return f"{value} {unit}"
        following = _SIZE_UNITS[i + 1]
        shift = following[3] - bits - int(following[2]) + int(rounded)
        value = _trunc_div(value, 1 << shift)
    raise AssertionError("unreachable")


register_function("pg_size_pretty", [INT8], TEXT, _size_pretty)
register_function("pg_size_pretty", [NUMERIC], TEXT, _size_pretty)

# -- privileges of objects dsql keeps no ACL for (the rest: qp/pgcatalog/privileges.py) ----------------

for _name, _objects in (("has_database_privilege", (TEXT, OID)),
                        ("has_tablespace_privilege", (TEXT, OID)),
                        ("has_language_privilege", (TEXT, OID))):
    for _object in _objects:
        register_function(_name, [_object, TEXT], BOOL, lambda *a: True, volatility="s")
        register_function(_name, [NAME, _object, TEXT], BOOL, lambda *a: True, volatility="s")
        register_function(_name, [OID, _object, TEXT], BOOL, lambda *a: True, volatility="s")

# -- the session and the server ---------------------------------------------------------------------

_reg("pg_backend_pid", [], INT4, lambda ctx: getattr(ctx, "backend_pid", 0))
register_function("pg_is_in_recovery", [], BOOL, lambda: False, volatility="v")


def _signal_backend(ctx: EvalContext, pid: int, timeout_ms: int = 0, *, terminate: bool) -> bool:
    """pg_cancel_backend / pg_terminate_backend: true once the signal is sent.

    The target is interrupted at its next scheduler checkpoint (a few ms), so
    a terminate `timeout` has nothing to wait for beyond that."""
    if timeout_ms < 0:
        raise SqlError("22003", '"timeout" must not be negative')
    signal = getattr(ctx, "signal_backend", None)
    if signal is None:
        raise SqlError("0A000", "signalling backends is not available here")
    if signal(pid, terminate):
        return True
    ctx.notices.append(("WARNING", "01000", f"PID {pid} is not a PostgreSQL backend process"))
    return False


register_function("pg_cancel_backend", [INT4], BOOL, lambda ctx, pid: _signal_backend(ctx, pid, terminate=False),
                  ctx=True, volatility="v")
register_function("pg_terminate_backend", [INT4], BOOL,
                  lambda ctx, pid: _signal_backend(ctx, pid, terminate=True), ctx=True, volatility="v")
register_function("pg_terminate_backend", [INT4, INT8], BOOL,
                  lambda ctx, pid, timeout: _signal_backend(ctx, pid, timeout, terminate=True), ctx=True, volatility="v")
register_function("pg_my_temp_schema", [], OID, lambda ctx: TEMP_NAMESPACE_OID
                  if getattr(getattr(ctx, "catalog", None), "overlay", 0) else 0, ctx=True, volatility="s")
register_function("pg_is_other_temp_schema", [OID], BOOL, lambda oid: False, volatility="s")
register_function("pg_jit_available", [], BOOL, lambda: False, volatility="v")
# Advisory locks do not exist in DSQL; asyncpg's pool reset calls this one. A void
# result is not NULL in PostgreSQL: an empty value (which void's output prints).
register_function("pg_advisory_unlock_all", [], VOID, lambda: "", volatility="v")


def _set_config(ctx: EvalContext, name: str, value: str, is_local: bool) -> str:
    setter = getattr(ctx, "set_config", None)
    if setter is None:
        raise SqlError("0A000", "set_config() is not available here")
    return setter(name, value, is_local)


register_function("set_config", [TEXT, TEXT, BOOL], TEXT, _set_config, ctx=True, volatility="v")

# -- keywords ---------------------------------------------------------------------------------------

_KEYWORD_KINDS = (("RESERVED_KEYWORDS", "R", "reserved"), ("TYPE_FUNC_NAME_KEYWORDS", "T",
                  "reserved (can be function or type name)"), ("COL_NAME_KEYWORDS", "C", "unreserved (cannot be "
                  "function or type name)"), ("UNRESERVED_KEYWORDS", "U", "unreserved"))
_KEYWORD_ROW = record_type([("word", TEXT), ("catcode", CHAR), ("barelabel", BOOL), ("catdesc", TEXT),
                            ("baredesc", TEXT)])


def _keywords() -> Iterator[tuple]:
    rows = []
    for attr, code, description in _KEYWORD_KINDS:
        for word in getattr(K, attr):
            rows.append((word, code, True, description, "can be bare label"))
    return iter(sorted(rows))


register_function("pg_get_keywords", [], _KEYWORD_ROW, _keywords, srf=True, volatility="s")
