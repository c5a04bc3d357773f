"""INSERT, UPDATE and DELETE, bound: names resolved and expressions typed.

Binding produces a `BoundInsert` or a `BoundModify` (the target table, the
source rows or query, the assignments, ON CONFLICT and RETURNING as bound
expressions); qp/plan/dml.py plans them (access paths, compiled
expressions) and qp/exec/dml.py applies the rows to the transaction's
write buffer. TRUNCATE's targets are found here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

from qp.api import Column
from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.expressions import _SEQUENCE_FUNCTIONS, ExprBinder, coerce, resolve_unknown
from qp.bind.index_exprs import bind_index_exprs, same_shape
from qp.bind.privileges import forget_target_read
from qp.bind.query import BoundSelect, FromJoin, FromTable, QueryBinder, figure_colname
from qp.bind.scope import RangeItem, Scope, ScopeColumn
from qp.catalog.stored import ColumnDef, IndexDef, TableDef
from qp.errors import SqlError, locate
from qp.parse.parser import node_kind, node_location
from qp.pgcatalog.search_path import binding_path, first_schema
from qp.types import INT8, OID, UNKNOWN

# What a VALUES row holds for DEFAULT, until the row is built (COPY's DEFAULT too).
DEFAULT_MARK = object()


@dataclass
class TableContext:
    """A DML target: its scope (for SET, WHERE, RETURNING) and its column identities."""

    table: TableDef
    scope: Scope
    cids: list[int | None]
    alias: str


def target_context(bc: BindContext, relation: dict, ctes: dict | None = None) -> TableContext:
    scope = Scope()
    binder = QueryBinder(bc)
    name = relation["relname"]
    schema = relation.get("schemaname") or first_schema(binding_path(bc), lambda s: bc.catalog.relation_name_taken(name, s))
    if schema is not None and bc.catalog.find_view(name, schema) is not None:
        raise SqlError(
            "0A000", f'cannot change view "{relation["relname"]}": views are read-only (as in DSQL)'
        )
    # The target is always a table, even one a WITH query's name would hide.
    item = binder._bind_range_var(relation, scope)
    forget_target_read(bc, getattr(item, "table", None))  # what the target needs is the statement's
    scope.inherited_ctes = ctes or {}
    if not isinstance(item, FromTable):
        raise SqlError("42809", f'cannot change relation "{relation["relname"]}"')
    if item.table.kind != "table":
        raise SqlError("42809", f'cannot change {item.table.kind} "{item.table.name}"')
    return TableContext(item.table, scope, item.cids, item.alias)


@dataclass
class Returning:
    exprs: list[E.Expr]
    columns: list[Column]


def bind_returning(
    bc: BindContext, tc: TableContext, nodes: list, extra_scope: Scope | None = None
) -> Returning | None:
    if not nodes:
        return None
    binder = ExprBinder(
        bc, extra_scope or tc.scope, QueryLevel(what="RETURNING"), QueryBinder(bc)._subquery_binder
    )
    exprs, names = [], []
    for node in nodes:
        res = node["ResTarget"]
        value = res["val"]
        if node_kind(value) == "ColumnRef" and "A_Star" in value["ColumnRef"]["fields"][-1]:
            # `*` is every FROM entry (UPDATE ... FROM, DELETE ... USING too); `s.*` is s's.
            for name, expr in QueryBinder(bc)._expand_star(value, extra_scope or tc.scope):
                exprs.append(expr)
                names.append(name)
            continue
        exprs.append(resolve_unknown(binder.bind(value), bc))
        names.append(res.get("name") or figure_colname(value))
    columns = [Column(n, e.type.oid, e.type.typlen, e.type.typmod) for n, e in zip(names, exprs, strict=True)]
    return Returning(exprs, columns)


InsertSource = Union["InsertValues", "InsertQuery", None]  # None: DEFAULT VALUES


@dataclass
class InsertValues:
    """INSERT ... VALUES: one list of bound expressions per row (DEFAULT_MARK for DEFAULT)."""

    rows: list[list[E.Expr]]
    cids: list[int]


@dataclass
class InsertQuery:
    """INSERT ... SELECT: the bound query, and `casts` over its outputs when a column
    needs an assignment cast (with the `cids` they produce)."""

    query: Any
    casts: list[E.Expr] | None
    cids: list[int]


@dataclass
class BoundInsert:
    tc: TableContext
    target_positions: list[int]  # table column index for each source column
    source: InsertSource
    defaults: list[tuple[int, Any]]  # see bind_defaults
    on_conflict: str | None = None  # None | "nothing" | "update"
    arbiter: tuple[IndexDef, ...] = ()  # unique indexes (the primary first) that ON CONFLICT covers
    update_set: list[tuple[int, E.Expr]] = field(default_factory=list)  # DO UPDATE over old + excluded
    update_where: E.Expr | None = None
    update_cids: list[int] = field(default_factory=list)  # the old row's then EXCLUDED's columns
    returning: Returning | None = None
    ignored_positions: set[int] = field(default_factory=set)  # OVERRIDING USER VALUE


@dataclass
class BoundModify:
    kind: str  # "update" | "delete"
    tc: TableContext
    tree: Any  # the target (with its row key), joined with FROM / USING items if any
    where: E.Expr | None
    set_positions: list[int]  # table columns that SET assigns, in order
    set_exprs: list[E.Expr]
    returning: Returning | None


# -- INSERT ----------------------------------------------------------------------------------


def bind_insert(bc: BindContext, body: dict) -> BoundInsert:
    ctes = QueryBinder(bc).bind_with(body.get("withClause"))
    tc = target_context(bc, body["relation"], ctes)
    table = tc.table
    targets = [r["ResTarget"] for r in body.get("cols", ())]
    if targets:
        positions = []
        for target in targets:
            name = target["name"]
            index = table.column_index(name)
            if index is None:
                error = SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
                raise locate(error, target.get("location"))
            if index in positions:
                raise SqlError("42701", f'column "{name}" specified more than once')
            positions.append(index)
    else:
        positions = list(table.live_columns)
    select = body.get("selectStmt")
    override = body.get("override", "OVERRIDING_NOT_SET")
    # With a column list, every column named needs a value (PostgreSQL's transformInsertRow).
    named_at = [t.get("location") for t in targets] if targets else None
    source, positions = _bind_insert_source(bc, tc, select, positions, ctes, named_at)
    # Identity columns: GENERATED ALWAYS refuses given values unless
    # OVERRIDING SYSTEM VALUE; OVERRIDING USER VALUE ignores given values.
    for pos in list(positions):
        column = table.columns[pos]
        if (
            column.identity == "a"
            and override != "OVERRIDING_SYSTEM_VALUE"
            and override != "OVERRIDING_USER_VALUE"
        ):
            raise SqlError(
                "428C9",
                f'cannot insert a non-DEFAULT value into column "{column.name}"',
                detail=f'Column "{column.name}" is an identity column defined as GENERATED ALWAYS.',
                hint="Use OVERRIDING SYSTEM VALUE to override.",
            )
    _refuse_generated_targets(table, positions, source)
    ignored = {
        pos for pos in positions if override == "OVERRIDING_USER_VALUE" and table.columns[pos].identity
    }
    bound = BoundInsert(tc, positions, source, bind_defaults(bc, tc), ignored_positions=ignored)
    if "onConflictClause" in body:
        _bind_on_conflict(bc, tc, body["onConflictClause"], bound)
    bound.returning = bind_returning(bc, tc, _returning_nodes(body))
    return bound


def _refuse_generated_targets(table: TableDef, positions: list[int], source: InsertSource) -> None:
    """A generated column takes only DEFAULT (PostgreSQL's rewriter: in every VALUES row)."""
    for i, pos in enumerate(positions):
        column = table.columns[pos]
        if column.generated is None:
            continue
        if isinstance(source, InsertValues) and all(
            isinstance(row[i], E.Const) and row[i].value is DEFAULT_MARK for row in source.rows
        ):
            continue
        raise SqlError(
            "428C9",
            f'cannot insert a non-DEFAULT value into column "{column.name}"',
            detail=f'Column "{column.name}" is a generated column.',
        )


def _check_insert_width(width: int, positions: list[int], named_at: list | None, expression_at=None) -> None:
    """INSERT's arity errors, located as PostgreSQL locates them: at the first
    expression without a column, or at the first named column without a value."""
    if width > len(positions):
        error = SqlError("42601", "INSERT has more expressions than target columns")
        raise locate_any(error, expression_at(len(positions)) if expression_at is not None else None)
    if named_at is not None and width < len(positions):
        error = SqlError("42601", "INSERT has more target columns than expressions")
        raise locate_any(error, named_at[width])


def locate_any(error: SqlError, location: int | None) -> SqlError:
    if isinstance(location, int) and location >= 0:
        error.location = location
    return error


def _bind_insert_source(
    bc: BindContext,
    tc: TableContext,
    select: dict | None,
    positions: list[int],
    ctes: dict,
    named_at: list | None = None,
) -> tuple[InsertSource, list[int]]:
    table = tc.table
    if select is None:  # DEFAULT VALUES
        return None, []
    body = select["SelectStmt"]
    if "valuesLists" in body and not any(k in body for k in ("sortClause", "limitCount", "withClause")):
        binder = ExprBinder(
            bc, Scope(inherited_ctes=ctes), QueryLevel(what="VALUES"), QueryBinder(bc)._subquery_binder
        )
        lists = [
            row_node["List"]["items"] if "List" in row_node else row_node for row_node in body["valuesLists"]
        ]
        for items in lists:  # row by row, as PostgreSQL checks each row when it reaches it
            if len(items) != len(lists[0]):
                raise SqlError("42601", "VALUES lists must all be the same length")
            _check_insert_width(
                len(items), positions, named_at, lambda i, items=items: node_location(items[i])
            )
        rows = []
        for items in lists:
            row = []
            for pos, item in zip(positions, items, strict=False):
                if node_kind(item) == "SetToDefault":
                    row.append(E.Const(DEFAULT_MARK, UNKNOWN))
                    continue
                column = table.columns[pos]
                row.append(_assign(binder.bind(item), column, bc, item))
            rows.append(row)
        positions = positions[: len(lists[0])]
        return InsertValues(rows, [bc.new_cid() for _ in positions]), positions
    # A plain SELECT's string literals stay untyped, so that they take the
    # columns' types as in VALUES (PostgreSQL: INSERT ... SELECT '5' into an int).
    plain = (
        body.get("op", "SETOP_NONE") == "SETOP_NONE"
        and "valuesLists" not in body
        and not any(body.get(k) for k in ("sortClause", "groupClause", "distinctClause", "havingClause"))
    )
    query = QueryBinder(bc).bind_query(select, None, ctes, keep_unknown=plain)
    if plain and isinstance(query, BoundSelect):
        targets = []
        for i, target in enumerate(query.targets):
            if target.type == UNKNOWN and isinstance(target, E.Const) and i < len(positions):
                column = table.columns[positions[i]]
                target = coerce(target, column.type, bc, "assignment", column.name)
            targets.append(resolve_unknown(target, bc))
        query.targets = targets
    types = query.output_types()
    select_targets = [t["ResTarget"].get("val") for t in body.get("targetList", ())]
    _check_insert_width(
        len(types),
        positions,
        named_at,
        lambda i: node_location(select_targets[i]) if i < len(select_targets) else None,
    )
    positions = positions[: len(types)]
    target_nodes = [t["ResTarget"].get("val") for t in body.get("targetList", ())]
    if any(
        isinstance(n, dict) and node_kind(n) == "ColumnRef" and "A_Star" in n["ColumnRef"]["fields"][-1]
        for n in target_nodes
    ):
        target_nodes = []  # `*` expands: the nodes no longer line up with the columns
    casts = []
    for i, (cid, t, pos) in enumerate(zip(query.target_cids, types, positions, strict=True)):
        column = table.columns[pos]
        node = target_nodes[i] if i < len(target_nodes) and isinstance(target_nodes[i], dict) else None
        if node is None:
            casts.append(coerce(E.ColumnRef(cid, t), column.type, bc, "assignment", column.name))
        else:
            casts.append(_assign(E.ColumnRef(cid, t), column, bc, node))
    if all(isinstance(c, E.ColumnRef) for c in casts):
        return InsertQuery(query, None, []), positions
    return InsertQuery(query, casts, [bc.new_cid() for _ in casts]), positions


def bind_defaults(bc: BindContext, tc: TableContext) -> list[tuple[int, Any]]:
    """Default values for the columns an INSERT leaves out (or writes DEFAULT into):
    (column index, a bound expression, ("nextval", sequence oid), ("await", a bound
    expression that calls a SQL function's body) or None)."""
    out = []
    binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT"))
    for i, column in enumerate(tc.table.columns):
        if column.dropped:
            continue
        if column.sequence_oid is not None:
            out.append((i, ("nextval", column.sequence_oid)))
            continue
        default_sql = column.default_sql
        if default_sql is None and column.domain_oid is not None:  # a domain's default stands in for the column's
            domain = bc.catalog.domains_by_oid.get(column.domain_oid)
            default_sql = domain.default_sql if domain is not None else None
        if default_sql is None:
            out.append((i, None))
            continue
        expr = coerce(binder.bind(json.loads(default_sql)), column.type, bc, "assignment", column.name)
        if any(isinstance(n, E.AsyncCall) for n in E.walk(expr)):
            out.append((i, ("await", expr)))  # a SQL function's body runs per row (qp/exec/async_values.py)
            continue
        out.append((i, expr))
    return out


def _bind_on_conflict(bc: BindContext, tc: TableContext, clause: dict, plan: BoundInsert) -> None:
    table = tc.table
    action = clause.get("action")
    infer = clause.get("infer")
    uniques = [ix for ix in table.indexes if ix.unique]
    if infer is not None:
        if "conname" in infer:
            arbiter = [ix for ix in uniques if ix.name == infer["conname"]]
            if not arbiter:
                raise SqlError(
                    "42704", f'constraint "{infer["conname"]}" for table "{table.name}" does not exist'
                )
        else:
            arbiter = _infer_arbiters(bc, tc, infer, uniques)
            if not arbiter:
                raise SqlError(
                    "42P10",
                    "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                )
    else:
        if action == "ONCONFLICT_UPDATE":
            raise SqlError(
                "42601", "ON CONFLICT DO UPDATE requires inference specification or constraint name"
            )
        arbiter = uniques
    plan.arbiter = tuple(arbiter)
    if action == "ONCONFLICT_NOTHING":
        plan.on_conflict = "nothing"
        return
    plan.on_conflict = "update"
    # SET and WHERE see the existing row (the table's name) and EXCLUDED.
    scope = Scope(items=list(tc.scope.items))
    excluded_cids = [bc.new_cid(c.name) if not c.dropped else None for c in table.columns]
    scope.items.append(
        RangeItem(
            "excluded",
            [
                ScopeColumn(c.name, E.ColumnRef(cid, c.type, c.name))
                for c, cid in zip(table.columns, excluded_cids, strict=True)
                if cid is not None
            ],
        )
    )
    binder = ExprBinder(bc, scope, QueryLevel(what="ON CONFLICT DO UPDATE"))
    plan.update_cids = [c for c in tc.cids if c is not None] + [c for c in excluded_cids if c is not None]
    positions, exprs = _bind_set_exprs(bc, table, clause.get("targetList", ()), binder)
    if any(isinstance(n, (E.SubLink, E.AsyncCall)) for e in exprs for n in E.walk(e)):
        raise SqlError("0A000", "subqueries in ON CONFLICT DO UPDATE SET are not supported")
    plan.update_set = list(zip(positions, exprs, strict=True))
    if "whereClause" in clause:
        plan.update_where = binder.bind_bool(clause["whereClause"], "WHERE")


def _infer_arbiters(bc: BindContext, tc: TableContext, infer: dict, uniques: list[IndexDef]) -> list[IndexDef]:
    """PostgreSQL's infer_arbiter_indexes: the unique indexes whose key columns and
    expressions are those named, and whose predicate, if partial, the inference
    WHERE includes (conjunct by conjunct, the simple case of implication)."""
    table = tc.table
    binder = ExprBinder(bc, tc.scope, QueryLevel(what="index expressions"))
    cols: set[int] = set()
    exprs: list[E.Expr] = []
    for elem_node in infer.get("indexElems", ()):
        elem = elem_node["IndexElem"]
        if "expr" in elem:
            expr = binder.bind(elem["expr"])
            position = tc.cids.index(expr.cid) if isinstance(expr, E.ColumnRef) and expr.cid in tc.cids else None
            if position is None:
                exprs.append(expr)
            else:
                cols.add(position)
            continue
        name = elem.get("name")
        index = table.column_index(name) if name else None
        if index is None:
            raise SqlError("42703", f'column "{name}" does not exist')
        cols.add(index)
    where = E.conjuncts(binder.bind_bool(infer["whereClause"], "WHERE")) if "whereClause" in infer else []
    bound = bind_index_exprs(bc, table, tc.cids)
    arbiters = []
    for index in uniques:
        if {c for c in index.columns if c >= 0} != cols:
            continue
        parts = bound.get(index.oid)
        keys = [k for k in parts.keys if k is not None] if parts is not None else []
        if index.expressions and parts is None:
            continue  # an index being built
        if len(keys) != len(exprs) or not all(any(same_shape(k, e) for e in exprs) for k in keys):
            continue
        if index.predicate is not None and (
            parts is None or not all(any(same_shape(p, w) for w in where) for p in parts.predicate or ())
        ):
            continue
        arbiters.append(index)
    return arbiters


# -- UPDATE and DELETE ---------------------------------------------------------------------


def bind_modify(bc: BindContext, body: dict, kind: str) -> BoundModify:
    if "whereClause" in body and node_kind(body["whereClause"]) == "CurrentOfExpr":
        raise SqlError("0A000", "WHERE CURRENT OF is not supported")
    tc = target_context(bc, body["relation"], QueryBinder(bc).bind_with(body.get("withClause")))
    table = tc.table
    qb = QueryBinder(bc)
    binder = ExprBinder(bc, tc.scope, QueryLevel(what="WHERE"), qb._subquery_binder)
    # UPDATE ... FROM and DELETE ... USING join the target with more tables;
    # LATERAL items among them cannot read the target (PostgreSQL).
    for item in tc.scope.items:
        qb.lateral_blocked[id(item)] = _target_not_lateral
    extra = qb._bind_from_list(body.get("fromClause") or body.get("usingClause") or (), tc.scope, binder)
    where = binder.bind_bool(body["whereClause"], "WHERE") if "whereClause" in body else None
    set_positions: list[int] = []
    set_exprs: list[E.Expr] = []
    if kind == "update":
        set_binder = ExprBinder(bc, tc.scope, QueryLevel(what="UPDATE"), qb._subquery_binder)
        set_positions, set_exprs = _bind_set_exprs(bc, table, body.get("targetList", ()), set_binder)
    returning = bind_returning(bc, tc, _returning_nodes(body))
    target = FromTable(table, tc.alias, tc.cids, with_key=True, all_columns=True,
                       index_exprs=bind_index_exprs(bc, table, tc.cids))  # fmt: skip
    tree = target if extra is None else FromJoin("inner", target, extra, None)
    return BoundModify(kind, tc, tree, where, set_positions, set_exprs, returning)


def _target_not_lateral(alias: str) -> SqlError:
    return SqlError(
        "42P01",
        f'invalid reference to FROM-clause entry for table "{alias}"',
        hint=f'There is an entry for table "{alias}", but it cannot be referenced from this part of the query.',
    )


def _bind_set_exprs(bc, table: TableDef, targets: list, binder: ExprBinder) -> tuple[list[int], list[E.Expr]]:
    positions: list[int] = []
    exprs: list[E.Expr] = []
    for node in targets:
        res = node["ResTarget"]
        name = res["name"]
        if res.get("indirection"):
            raise SqlError("0A000", "assigning to a subscript or field is not supported")
        index = table.column_index(name)
        if index is None:
            error = SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
            raise locate(error, res.get("location"))
        if index in positions:
            raise SqlError("42601", f'multiple assignments to same column "{name}"')
        value = res["val"]
        if node_kind(value) == "MultiAssignRef":
            raise SqlError("0A000", "multiple-column assignment is not supported")
        column = table.columns[index]
        if node_kind(value) == "SetToDefault":
            if column.sequence_oid is not None:
                expr: E.Expr = E.AsyncCall(
                    "nextval", _SEQUENCE_FUNCTIONS["nextval"], (E.Const(column.sequence_oid, OID),), INT8
                )
            elif column.default_sql is None:
                expr = E.Const(None, column.type)
            else:
                expr = ExprBinder(bc, Scope(), QueryLevel()).bind(json.loads(column.default_sql))
        elif column.identity == "a" or column.generated is not None:
            what = "a generated column" if column.generated is not None else (
                "an identity column defined as GENERATED ALWAYS")  # fmt: skip
            raise SqlError(
                "428C9",
                f'column "{name}" can only be updated to DEFAULT',
                detail=f'Column "{name}" is {what}.',
            )
        else:
            expr = binder.bind(value)
        positions.append(index)
        exprs.append(_assign(expr, column, bc, value))
    return positions, exprs


def _assign(expr: E.Expr, column: ColumnDef, bc: BindContext, node: dict) -> E.Expr:
    """`expr` converted for storing in `column` (PostgreSQL points at the expression if it cannot be)."""
    try:
        return coerce(expr, column.type, bc, "assignment", column.name)
    except SqlError as exc:
        locate(exc, node_location(node))
        raise


# -- TRUNCATE -------------------------------------------------------------------------------


def truncate_targets(bc: BindContext, body: dict) -> list:
    """The tables a TRUNCATE empties: those named, and with CASCADE those referencing them."""
    if body.get("restart_seqs"):
        raise SqlError("0A000", "TRUNCATE ... RESTART IDENTITY is not supported")
    tables = []
    for relation_node in body.get("relations", ()):
        tc = target_context(bc, relation_node["RangeVar"])
        if tc.table.oid not in [t.table.oid for t in tables]:
            tables.append(tc)
    cascade = body.get("behavior") == "DROP_CASCADE"
    chosen = {tc.table.oid for tc in tables}
    i = 0
    while i < len(tables):  # children of truncated tables: added (CASCADE) or refused
        for child, _ in bc.catalog.referencing.get(tables[i].table.oid, ()):
            if child.oid in chosen:
                continue
            if not cascade:
                raise SqlError(
                    "0A000",
                    "cannot truncate a table referenced in a foreign key constraint",
                    detail=f'Table "{child.name}" references "{tables[i].table.name}".',
                    hint=f'Truncate table "{child.name}" at the same time, or use TRUNCATE ... CASCADE.',
                )
            chosen.add(child.oid)
            tables.append(target_context(bc, {"relname": child.name, "schemaname": child.schema}))
        i += 1
    return tables


def _returning_nodes(body: dict) -> list:
    """RETURNING targets (PostgreSQL 18's grammar wraps them in a ReturningClause)."""
    clause = body.get("returningClause")
    if clause is None:
        return body.get("returningList", [])
    if clause.get("options"):
        raise SqlError("0A000", "RETURNING WITH (OLD/NEW) is not supported")
    return clause.get("exprs", [])
