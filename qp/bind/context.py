"""State shared while binding one statement.

`BindContext` lives for a whole statement: the catalog snapshot it binds
against, the parameter types (declared by Parse or inferred here), the
allocator of column identities, and the session's EvalContext for folding
literals. `QueryLevel` lives for one SELECT: the aggregates and window calls
found in its select list, HAVING and ORDER BY.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from qp.bind import expr as E
from qp.bind.collation import Collations
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.types import TEXT, UNKNOWN, SqlType
from qp.types.context import EvalContext


@dataclass
class AggCall:
    cid: int
    name: str
    resolved: Any  # qp.functions ResolvedAggregate
    args: tuple[E.Expr, ...]
    distinct: bool
    filter: E.Expr | None
    order: tuple  # ((expr, desc, nulls_first), ...)
    star: bool
    type: SqlType
    direct: int = 0  # WITHIN GROUP: how many of args are direct (per-group) arguments


@dataclass
class GroupingCall:
    """GROUPING(args): computed by the aggregation from the row's grouping set."""

    cid: int
    args: tuple[E.Expr, ...]
    location: int | None = None


@dataclass
class WindowCall:
    cid: int
    name: str
    resolved: Any
    args: tuple[E.Expr, ...]
    partition: tuple[E.Expr, ...]
    order: tuple
    frame: Any
    type: SqlType
    filter: E.Expr | None = None
    distinct: bool = False
    star: bool = False


@dataclass
class QueryLevel:
    aggregates: list[AggCall] = field(default_factory=list)
    windows: list[WindowCall] = field(default_factory=list)
    groupings: list[GroupingCall] = field(default_factory=list)
    agg_allowed: bool = False  # select list, HAVING, ORDER BY
    window_allowed: bool = False
    what: str = "WHERE"  # the clause being bound, for error messages
    srf_allowed: bool = False
    has_srf: bool = False
    named_windows: dict = field(default_factory=dict)  # WINDOW w AS (...)
    in_aggregate: bool = False


class BindContext:
    def __init__(
        self,
        catalog: CatalogSnapshot,
        eval_ctx: EvalContext,
        param_types: list[SqlType | None] | None = None,
        *,
        resolve_special_relation=None,
    ) -> None:
        self.catalog = catalog
        self.eval_ctx = eval_ctx
        self.param_types: list[SqlType | None] = list(param_types or [])
        self._cids = itertools.count(1)
        self.cid_names: dict[int, str] = {}
        # Hook for relations that are not user tables (pg_catalog views, …).
        self.resolve_special_relation = resolve_special_relation
        self.tables_read: set[int] = set()
        # > 0 while binding arguments that constant folding may later prune
        # (COALESCE, CASE, AND, OR): folding errors wait until then.
        self.lenient = 0
        self.view_depth = 0
        # The search paths of the views being expanded, innermost last
        # (qp.pgcatalog.search_path.binding_path).
        self.definition_paths: list = []
        # Where each string literal of the statement is (byte offsets), for
        # the error position of one its type rejects; by id, with the literal kept.
        self._literal_locations: dict[int, tuple[E.Const, int]] = {}
        # Where each aggregate call is (byte offset), by its result's identity:
        # PostgreSQL points at the inner call of two nested ones.
        self.agg_locations: dict[int, int] = {}
        # Each scalar subquery's first output name, by its SubLink node (kept with
        # it): the default name of a select-list column that is one.
        self.sublink_names: dict[int, tuple[dict, str]] = {}
        # Explicit COLLATE clauses seen so far, for PostgreSQL's conflict rules.
        self.collations = Collations()
        # While a user function's body is bound: what its parameters stand for
        # (qp/bind/routines.py), innermost last; and the functions being inlined
        # (a function met again inside its own body is run, not inlined).
        self.routine_frames: list = []
        self.inlining: set[int] = set()

    def note_literal(self, literal: E.Const, location: int | None) -> None:
        if location is not None and self.view_depth == 0:
            self._literal_locations[id(literal)] = (literal, location)

    def literal_location(self, literal: E.Const) -> int | None:
        found = self._literal_locations.get(id(literal))
        return found[1] if found is not None and found[0] is literal else None

    def new_cid(self, name: str = "") -> int:
        cid = next(self._cids)
        self.cid_names[cid] = name
        return cid

    def param_type(self, index: int) -> SqlType | None:
        if index < len(self.param_types):
            return self.param_types[index]
        return None

    def note_param(self, index: int) -> None:
        """$n exists even if its type is still open (so Describe counts it)."""
        if index >= 65535:
            raise SqlError("54000", "too many parameters")
        while len(self.param_types) <= index:
            self.param_types.append(None)

    def set_param_type(self, index: int, t: SqlType) -> None:
        if index >= 65535:
            raise SqlError("54000", "too many parameters")
        while len(self.param_types) <= index:
            self.param_types.append(None)
        self.param_types[index] = t

    def final_param_types(self) -> list[SqlType]:
        return [TEXT if t is None or t == UNKNOWN else t for t in self.param_types]
