"""Preparing a statement: classify it, bind it, plan it, describe its result.

The result (`Prepared`) is what a named or unnamed prepared statement holds:
its parameter types (declared or inferred), its RowDescription, and its plan
for the catalog version and the search path it was bound under (a plan is
bound again when either differs, as PostgreSQL's plan cache re-plans when the
search_path changes). Utility statements (BEGIN, SET, SHOW, ...) and DDL are
carried unbound; the session runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qp.api import Column
from qp.bind.context import BindContext
from qp.bind.dml import bind_insert, bind_modify, target_context
from qp.bind.privileges import check_statement, check_truncate
from qp.bind.query import QueryBinder
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.exec.explain import render
from qp.exec.instrument import actual_text
from qp.frontend.settings import show_name
from qp.parse.parser import Statement
from qp.parse.unsupported import unsupported_statement
from qp.pgcatalog.search_path import SearchPath, session_search_path
from qp.plan.cost import estimate_operator
from qp.plan.dml import plan_insert, plan_modify
from qp.plan.planner import DEFAULT_RULES, Planner
from qp.plan.stats import EMPTY_STATS, StatsCache
from qp.types import TEXT, SqlType, type_by_oid
from qp.types.context import EvalContext

QUERY_KINDS = {"SelectStmt"}
DML_KINDS = {"InsertStmt": "insert", "UpdateStmt": "update", "DeleteStmt": "delete", "TruncateStmt": "truncate"}
DDL_KINDS = {"CreateStmt", "DropStmt", "IndexStmt", "AlterTableStmt", "RenameStmt", "ViewStmt",
             "CreateSeqStmt", "AlterSeqStmt", "CreateSchemaStmt", "CreateRoleStmt", "AlterRoleStmt",
             "DropRoleStmt", "CreateDomainStmt", "CommentStmt",
             "CreateStatsStmt", "AlterStatsStmt", "CreateTableAsStmt", "CreateFunctionStmt", "AlterFunctionStmt",
             "AlterOwnerStmt", "AlterObjectSchemaStmt", "AlterDomainStmt",
             "GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt"}
UTILITY_KINDS = {"TransactionStmt", "VariableSetStmt", "VariableShowStmt", "DiscardStmt", "DeallocateStmt",
                 "ListenStmt", "UnlistenStmt", "NotifyStmt", "ClosePortalStmt", "ExplainStmt", "CheckPointStmt",
                 "VacuumStmt", "PrepareStmt", "ExecuteStmt", "LoadStmt", "DeclareCursorStmt", "FetchStmt",
                 "CallStmt"}

@dataclass
class Prepared:
    statement: Statement | None
    kind: str  # query | insert | update | delete | ddl | utility | empty
    param_types: list[SqlType] = field(default_factory=list)
    columns: list[Column] | None = None
    result_types: list[SqlType] = field(default_factory=list)
    plan: Any = None
    catalog_version: int | None = None
    declared_oids: list[int] = field(default_factory=list)
    catalog: CatalogSnapshot | None = None  # what the plan was bound against
    search_path: SearchPath | None = None  # what its unqualified names were resolved along
    stats: StatsCache | None = None  # the statistics the plan's estimates came from
    stats_version: int = 0  # their version then
    role: str | None = None  # the current user its privileges were checked for (qp/bind/privileges.py)
    # What is derived from the plan and kept while it is (emptied when it is bound again):
    # its fast plan (qp/exec/fast_path.py), its result encoders, the last catalog it was
    # checked against (qp/frontend/runner.py).
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def param_oids(self) -> list[int]:
        return [t.oid for t in self.param_types]

    def planned_for(self, catalog: CatalogSnapshot, eval_ctx: EvalContext) -> bool:
        """Whether the plan may run against `catalog` in a session with this context
        (and the statistics have not changed since it was made)."""
        if self.plan is None or (self.stats is not None and self.stats.version != self.stats_version):
            return False
        # The search path is resolved from the setting, the user and the catalog's schemas:
        # the same three as last time give the same answer without resolving it again.
        settings = eval_ctx.settings
        seen = (settings.get("search_path") if settings else None, eval_ctx.user)
        checked = self.memo.get("planned_for")
        if checked is not None and checked[0] is catalog and checked[1] == seen:
            return True
        fits = (self.catalog_version == catalog.version
                and self.catalog is not None and self.catalog.overlay == catalog.overlay
                and self.search_path == session_search_path(eval_ctx, catalog) and self.role == eval_ctx.user)
        if fits:
            self.memo["planned_for"] = (catalog, seen)
        return fits


def classify(statement: Statement | None) -> str:
    if statement is None:
        return "empty"
    kind = statement.kind
    if kind in QUERY_KINDS:
        if statement.body.get("intoClause") is not None:  # SELECT ... INTO: CREATE TABLE AS
            return "ddl"
        return "query"
    if kind in DML_KINDS:
        return DML_KINDS[kind]
    if kind in DDL_KINDS:
        return "ddl"
    if kind in UTILITY_KINDS:
        return "utility"
    if kind == "CopyStmt":
        return "copy"  # run by qp/frontend/copy.py, streaming its data through the session's events
    raise unsupported_statement(kind)


def declared_types(oids: list[int]) -> list[SqlType | None]:
    out: list[SqlType | None] = []
    for oid in oids:
        if oid == 0:
            out.append(None)
            continue
        try:
            out.append(type_by_oid(oid))
        except SqlError:
            raise SqlError("42704", f"type with OID {oid} does not exist") from None
    return out


def prepare(
    statement: Statement | None,
    catalog: CatalogSnapshot,
    eval_ctx: EvalContext,
    declared_oids: list[int] | None = None,
    *,
    special_relations=None,
    stats: StatsCache = EMPTY_STATS,
    rules: frozenset[str] = DEFAULT_RULES,
) -> Prepared:
    kind = classify(statement)
    declared = declared_oids or []
    prepared = Prepared(statement, kind, declared_oids=list(declared))
    if kind == "empty":
        return prepared
    if kind in ("ddl", "utility", "copy"):
        prepared.param_types = [t or TEXT for t in declared_types(declared)]
        if statement.kind == "VariableShowStmt":

            name = statement.body.get("name", "")
            prepared.columns = [Column(show_name(name) or name.lower(), TEXT.oid, -1)]
            if name.lower() == "all":
                prepared.columns = [Column("name", 25, -1), Column("setting", 25, -1), Column("description", 25, -1)]
        elif statement.kind == "ExplainStmt":
            prepared.columns = [Column("QUERY PLAN", TEXT.oid, -1)]
        elif statement.asynchronous:  # DSQL's ASYNC DDL answers with the job's id
            prepared.columns = [Column("job_id", TEXT.oid, -1)]
        elif statement.kind == "CallStmt":
            prepared.columns = [Column("wait_for_job", 16, 1)]
        return prepared
    # Literals are converted while binding; reg* ones ('t'::regclass) look names up in this catalog.
    eval_ctx.catalog = catalog
    bc = BindContext(catalog, eval_ctx, declared_types(declared), resolve_special_relation=special_relations)
    prepared.catalog_version = catalog.version
    prepared.stats, prepared.stats_version = stats, stats.version
    prepared.catalog = catalog
    prepared.search_path = session_search_path(eval_ctx)
    prepared.role = eval_ctx.user
    node = statement.node
    if kind == "query":
        query = QueryBinder(bc).bind_query(node)
        check_statement(bc, kind, statement.body)
        prepared.plan = Planner(rules=rules, stats=stats).plan_query(query)
        types = query.output_types()
        prepared.result_types = types
        prepared.columns = [Column(n, t.oid, t.typlen, t.typmod) for n, t in zip(query.names, types, strict=True)]
    elif kind == "truncate":

        tables = [target_context(bc, relation["RangeVar"]).table  # the tables must exist (42P01) now
                  for relation in statement.body.get("relations", ())]  # fmt: skip
        check_truncate(catalog, eval_ctx.user, tables, statement.body.get("behavior") == "DROP_CASCADE")
        prepared.plan = statement.body
    elif kind == "insert":
        plan = plan_insert(bc, bind_insert(bc, statement.body), Planner(rules=rules, stats=stats))
        check_statement(bc, kind, statement.body, plan.tc.table)
        prepared.plan = plan
        prepared.columns = plan.columns
        prepared.result_types = [e.type for e in plan.returning.exprs] if plan.returning else []
    else:
        plan = plan_modify(bc, bind_modify(bc, statement.body, kind), Planner(rules=rules, stats=stats))
        check_statement(bc, kind, statement.body, plan.tc.table)
        prepared.plan = plan
        prepared.columns = plan.columns
        prepared.result_types = [e.type for e in plan.returning.exprs] if plan.returning else []
    prepared.param_types = bc.final_param_types()
    return prepared


def explain_lines(prepared: Prepared, *, costs: bool = False, actual: dict | None = None,
                  timing: bool = True, execution_s: float = 0.0) -> list[str]:
    """EXPLAIN's lines: with `costs`, each operator's estimated rows (PostgreSQL's
    `rows=N`; dsql has no cost units to show beside it); with `actual` (the
    counters of qp/exec/instrument.py), what each operator did."""
    plan = prepared.plan
    if plan is None:
        return [f"{prepared.kind.upper()}"]

    def suffix(node) -> str:
        out = f"  (rows={round(estimate_operator(node))})" if costs else ""
        if actual is not None:
            out += " " + actual_text(actual.get(id(node)), timing)
        return out

    if hasattr(plan, "explain"):
        return render(plan, suffix)
    source = getattr(plan, "scan", None) or getattr(plan, "source", None)
    head = {"insert": "Insert", "update": "Update", "delete": "Delete"}.get(prepared.kind, prepared.kind)
    table = plan.tc.table.name if hasattr(plan, "tc") else ""
    # The write itself returns no rows to a parent (PostgreSQL's rows=0 on its ModifyTable line).
    title = f"{head} on {table}" + ("  (rows=0)" if costs else "")
    if actual is not None:
        ms = execution_s * 1000
        title += f" (actual time={ms:.3f}..{ms:.3f} rows=0 loops=1)" if timing else " (actual rows=0 loops=1)"
    lines = [title, "  Writes: buffered in the transaction until COMMIT"]
    if source is not None and hasattr(source, "explain"):
        lines += ["  ->  " + line if i == 0 else "      " + line for i, line in enumerate(render(source, suffix))]
    return lines


def explained_operators(prepared: Prepared):
    """The operator tree EXPLAIN ANALYZE instruments (a DML statement's row source)."""
    plan = prepared.plan
    if hasattr(plan, "explain"):
        return plan
    source = getattr(plan, "scan", None) or getattr(plan, "source", None)
    return source if source is not None and hasattr(source, "explain") else None
