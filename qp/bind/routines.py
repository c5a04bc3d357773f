"""User functions (CREATE FUNCTION ... LANGUAGE sql) where a statement calls them.

Resolution is PostgreSQL's (parse_func.c): the candidates are the functions
of that name in the schema the call names (3F000 if there is none such, 42501
without USAGE on it), or else along the search path, where an earlier schema's
function hides a later one's with the same argument types, schemas without
USAGE are skipped and pg_catalog's built-ins keep their place (namespace.c's
FuncnameGetCandidates). Each candidate is seen with the declared types of the
arguments the call gives (named arguments matched by name, missing trailing ones taken from
DEFAULTs), and the registry's overload rules choose among them and the
built-ins of that name (qp/functions/registry.py), so implicit casts and
unknown literals resolve as they do for built-ins.

A call then becomes one of two things:

- *Inlined*, where PostgreSQL's inline_function would: a body that is one
  `SELECT expr` (or `RETURN expr`) with no FROM, no subqueries and nothing
  more volatile than the function says, not STRICT, not SECURITY DEFINER. The
  expression is bound with the parameters standing for placeholder columns,
  then the arguments are put in their place, so the caller's plan sees the
  expression itself (an argument with side effects used other than once keeps
  the call out of line, as in PostgreSQL).
- *Run*: an `AsyncCall` (or, for a set, a call whose implementation wants
  the RunContext: qp/exec/scans.py and project.py await it) that the session's
  statement runner executes as sub-statements of the caller's transaction, with
  the argument values as the body's parameters (qp/frontend/routines.py).

A body's own unqualified names resolve along the caller's search path
(`body_path`), inlined or run, also inside a view. While a body is bound,
`bc.routine_frames` holds what its `$n` and parameter names stand for; a column of a FROM item wins over a parameter of the same
name, as in PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.privileges import note_execute, note_schema_usage, schema_usable
from qp.bind.scope import Scope
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.functions.registry import FUNCTIONS, FuncDef, select_candidates
from qp.parse.parser import node_body, node_kind, parse, string_list
from qp.pgcatalog.search_path import SearchPath, binding_path, check_schema, session_search_path
from qp.types import RECORD, UNKNOWN, SqlType, format_type, record_type, type_by_oid


@dataclass
class RoutineFrame:
    """What a function body's parameters stand for while it is bound.

    With `barrier` (a body inlined as a subquery in FROM), the arguments are the
    caller's expressions (outer references only): each level of the body between
    a reference and the barrier, the body's parent scope, records what they read,
    as a correlated reference would."""

    function: FunctionDef
    args: list[E.Expr]
    barrier: Scope | None = None

    def seen_from(self, arg: E.Expr, scope: Scope | None) -> E.Expr:
        if self.barrier is None:
            return arg
        refs = {n.cid for n in E.walk(arg) if isinstance(n, (E.ColumnRef, E.OuterRef))}
        assert not any(isinstance(n, E.ColumnRef) for n in E.walk(arg)), "FROM arguments are outer references"
        level = scope
        while level is not None and level is not self.barrier:
            level.outer_refs |= refs
            level = level.parent
        return arg


def body_statements(function: FunctionDef) -> list[dict]:
    """The body's statements, as parse trees."""
    if function.sql_body is not None:
        return json.loads(function.sql_body)
    return [statement.node for statement in parse(function.src)]


def result_type(function: FunctionDef) -> SqlType:
    """What one call yields (per row, for a set): the OUT parameters' record, or the return type."""
    outputs = function.outputs
    if function.return_oid == RECORD.oid and outputs:
        return record_type([(name, type_by_oid(oid)) for name, _, oid in outputs])
    return type_by_oid(function.return_oid)


def signature_text(name: str, types: list[SqlType]) -> str:
    return f"{name}({', '.join(format_type(t.base) for t in types)})"


def body_path(bc: BindContext) -> SearchPath:
    """What a function body's unqualified names resolve along when it is inlined: the
    session's path, even inside a view (PostgreSQL inlines a body when it plans the query,
    under the search path of that moment, as a body that runs is bound when it runs)."""
    return session_search_path(bc.eval_ctx, bc.catalog)


def frame_param(bc: BindContext, index: int, scope: Scope | None = None) -> E.Expr | None:
    """`$n` inside a function body (None outside one), read from `scope`."""
    if not bc.routine_frames:
        return None
    frame = bc.routine_frames[-1]
    if 0 <= index < len(frame.args):
        return frame.seen_from(frame.args[index], scope)
    raise SqlError("42P02", f"there is no parameter ${index + 1}")


def frame_name(bc: BindContext, names: list[str], scope: Scope | None = None) -> E.Expr | None:
    """A parameter named in a function body (`a`, or `f.a`), when no column has that name."""
    if not bc.routine_frames:
        return None
    frame = bc.routine_frames[-1]
    if len(names) == 2 and names[0] != frame.function.name:
        return None
    if len(names) not in (1, 2):
        return None
    for (name, _, _), arg in zip(frame.function.inputs, frame.args, strict=True):
        if name and name == names[-1]:
            return frame.seen_from(arg, scope)
    return None


def user_functions(
    catalog: CatalogSnapshot, names: list[str], path: SearchPath, usable: Callable[[str], bool] | None = None
) -> list[FunctionDef]:
    """The user functions a call's name may mean: those of the schema it names, or those
    along the search path (FuncnameGetCandidates: a later schema's function hidden by an
    earlier one's with the same argument types; schemas not `usable` left out)."""
    if not catalog.functions:
        return []
    if len(names) == 2:
        if names[0] == "pg_catalog":
            return []
        return catalog.functions_by_name.get((names[0], names[1]), [])
    out: list[FunctionDef] = []
    seen: set[tuple[int, ...]] = set()
    for schema in path.searched:
        found = catalog.functions_by_name.get((schema, names[-1]))
        if not found or (usable is not None and not usable(schema)):
            continue
        for function in found:
            if function.input_oids not in seen:
                seen.add(function.input_oids)
                out.append(function)
    return out


def _call_positions(function: FunctionDef, positional: int, named: list[str]) -> list[int] | None:
    """Which input parameter each argument of the call goes to, or None if the
    call does not fit the function (too many arguments, an unknown or repeated
    name, a parameter left without a value or DEFAULT)."""
    inputs = function.inputs
    if function.variadic and not named and positional >= len(inputs):
        return list(range(len(inputs) - 1)) + [len(inputs) - 1] * (positional - len(inputs) + 1)
    if positional > len(inputs):
        return None
    positions = list(range(positional))
    for name in named:
        index = next((i for i, p in enumerate(inputs) if p[0] == name), None)
        if index is None or index in positions:
            return None
        positions.append(index)
    first_default = len(inputs) - len(function.defaults)
    if any(i not in positions and i < first_default for i in range(len(inputs))):
        return None
    return positions


def _no_user_impl(*_: Any) -> Any:
    raise AssertionError("a user function's placeholder was called")


def resolve_routine(
    catalog: CatalogSnapshot, names: list[str], arg_types: list[SqlType], named: list[str],
    path: SearchPath, functions: list[FunctionDef],
) -> tuple[FunctionDef, list[int], list[SqlType]] | None:
    """The user function a call resolves to among `functions` (`user_functions`'), with each
    argument's parameter and declared type; None when the call is a built-in's (or no user
    function has that name). Raises PostgreSQL's 42883 / 42725."""
    if not functions:
        return None
    name = names[-1]
    positional = len(arg_types) - len(named)
    builtins: set[tuple[int, ...]] = set()
    if len(names) == 1 and not named:
        builtins = {tuple(t.oid for t in builtin.args) for builtin in FUNCTIONS.get(name, ())}
    # pg_catalog keeps its place on the path: a built-in hides a user function with its
    # argument types in a later schema, and one in an earlier schema hides the built-in.
    catalog_at = path.searched.index("pg_catalog") if "pg_catalog" in path.searched else -1
    hidden: set[tuple[int, ...]] = set()
    user_defs: list[FuncDef] = []
    chosen: dict[int, tuple[FunctionDef, list[int]]] = {}
    for function in functions:
        positions = _call_positions(function, positional, named)
        if positions is None:
            continue
        declared = tuple(_declared(function, i) for i in positions)
        signature = tuple(t.oid for t in declared)
        if len(positions) == len(function.inputs) and signature in builtins:
            at = path.searched.index(function.schema) if function.schema in path.searched else len(path.searched)
            if at > catalog_at:
                continue  # the built-in hides it
            hidden.add(signature)
        fd = FuncDef(name, declared, type_by_oid(function.return_oid), _no_user_impl)
        chosen[id(fd)] = (function, positions)
        user_defs.append(fd)
    defs = [b for b in FUNCTIONS.get(name, ()) if builtins and tuple(t.oid for t in b.args) not in hidden]
    defs += user_defs
    found, ambiguous = select_candidates(defs, arg_types)
    shown = signature_text(name if len(names) == 1 else ".".join(names), arg_types)
    if ambiguous:
        raise SqlError("42725", f"function {shown} is not unique",
                       hint="Could not choose a best candidate function. You might need to add explicit type "
                            "casts.")  # fmt: skip
    if not found:
        if named or len(names) > 1 or name not in FUNCTIONS:
            raise SqlError("42883", f"function {shown} does not exist",
                           hint="No function matches the given name and argument types. You might need to add "
                                "explicit type casts.")  # fmt: skip
        return None  # let the built-ins' resolution give its own error (a cast, an aggregate...)
    fd, declared = found[0]
    if id(fd) not in chosen:
        return None
    function, positions = chosen[id(fd)]
    return function, positions, list(declared)


def _declared(function: FunctionDef, index: int) -> SqlType:
    """A parameter's type as a call's argument sees it (a VARIADIC one: its element type)."""
    t = type_by_oid(function.inputs[index][2])
    if function.inputs[index][1] == "v" and t.elem is not None:
        return t.elem
    return t


def is_volatile_expr(expr: E.Expr) -> bool:
    return any(
        isinstance(n, (E.AsyncCall, E.SubLink)) or (isinstance(n, E.Call) and n.volatility == "v")
        for n in E.walk(expr)
    )


def _volatility_of(expr: E.Expr) -> str:
    worst = "i"
    for n in E.walk(expr):
        if isinstance(n, (E.AsyncCall, E.SubLink)):
            return "v"
        if isinstance(n, E.Call):
            if n.volatility == "v":
                return "v"
            if n.volatility == "s" or n.needs_context:
                worst = "s"
        if isinstance(n, (E.ContextValue, E.Cast)):
            worst = "s" if worst == "i" else worst
    return worst


def _inlinable_body(function: FunctionDef) -> dict | None:
    """The one expression of a body PostgreSQL's inline_function would inline, if it is one."""
    if function.returns_set or function.strict or function.security_definer:
        return None
    if function.return_oid == RECORD.oid or function.outputs:
        return None
    statements = body_statements(function)
    if len(statements) != 1 or node_kind(statements[0]) != "SelectStmt":
        return None
    body = node_body(statements[0])
    allowed = {"targetList", "limitOption", "op"}
    if (
        set(body) - allowed
        or body.get("op", "SETOP_NONE") != "SETOP_NONE"
        or len(body.get("targetList", ())) != 1
    ):
        return None
    return node_body(body["targetList"][0]).get("val")


def inlinable_set_body(function: FunctionDef, args: list[E.Expr]) -> dict | None:
    """The one SELECT of a set-returning function PostgreSQL's inline_set_returning_function
    would put in FROM as a subquery: not VOLATILE, not STRICT, not SECURITY DEFINER, a
    TABLE / OUT result, arguments without side effects."""
    if not function.returns_set or function.volatility == "v" or function.strict or function.security_definer:
        return None
    if not result_type(function).fields or any(is_volatile_expr(a) for a in args):
        return None
    statements = body_statements(function)
    if len(statements) != 1 or node_kind(statements[0]) != "SelectStmt":
        return None
    body = node_body(statements[0])
    if body.get("intoClause") or body.get("lockingClause"):
        return None
    return statements[0]


class RoutineBinding:
    """A mixin of the expression binder: calls of user functions.

    It uses only the binder's `bind`, `bc`, `level` and `coerce_to`."""

    bc: BindContext
    level: QueryLevel

    def bind(self, node: dict) -> E.Expr:  # pragma: no cover - the binder's
        raise NotImplementedError

    def coerce_to(
        self, expr: E.Expr, target: SqlType, context: str = "implicit"
    ) -> E.Expr:  # pragma: no cover
        raise NotImplementedError

    def user_routine(self, call: dict) -> tuple[FunctionDef, list[E.Expr]] | None:
        """A FuncCall node that calls a user function: the function and its arguments
        (coerced, in parameter order, DEFAULTs filled in); None for a built-in's call."""
        names = string_list(call.get("funcname"))
        in_user_schema = len(names) == 2 and names[0] != "pg_catalog"
        if in_user_schema:
            check_schema(self.bc.catalog, names[0])
        elif not self.bc.catalog.functions:
            return None
        path = binding_path(self.bc)
        functions = user_functions(self.bc.catalog, names, path, lambda schema: schema_usable(self.bc, schema))
        if not functions:
            if in_user_schema:  # no built-in lives outside pg_catalog
                shown = signature_text(".".join(names), [self.bind(a).type for a in call.get("args", ())
                                                         if node_kind(a) != "NamedArgExpr"])  # fmt: skip
                raise SqlError("42883", f"function {shown} does not exist",
                               hint="No function matches the given name and argument types. You might need to "
                                    "add explicit type casts.")  # fmt: skip
            return None
        if call.get("agg_star") or call.get("agg_distinct") or "over" in call or call.get("agg_within_group"):
            return None  # the built-in path names the error
        if call.get("func_variadic"):
            raise SqlError("0A000", "VARIADIC calls are not supported")
        args, named = [], []
        for node in call.get("args", ()):
            if node_kind(node) == "NamedArgExpr":
                named.append(node_body(node)["name"])
                args.append(self.bind(node_body(node)["arg"]))
            elif named:
                raise SqlError("42601", "positional argument cannot follow named argument")
            else:
                args.append(self.bind(node))
        found = resolve_routine(self.bc.catalog, names, [a.type for a in args], named, path, functions)
        if found is None:
            return None
        function, positions, declared = found
        if len(names) == 2:
            note_schema_usage(self.bc, function.schema, function.name)
        self.bc.tables_read.add(function.oid)  # a view that calls it depends on it (DROP FUNCTION: 2BP01)
        note_execute(self.bc, function.oid, function.name)
        ordered: list[E.Expr | None] = [None] * len(function.inputs)
        variadic: list[E.Expr] = []
        for arg, position, t in zip(args, positions, declared, strict=True):
            if function.variadic and position == len(function.inputs) - 1:
                variadic.append(self.coerce_to(arg, t))  # the trailing arguments make the array
            else:
                ordered[position] = self.coerce_to(arg, t)
        if variadic:
            array_type = type_by_oid(function.inputs[-1][2])
            ordered[-1] = E.ArrayExpr(tuple(variadic), array_type)
        first_default = len(function.inputs) - len(function.defaults)
        for i, value in enumerate(ordered):
            if value is None:
                ordered[i] = self._default_arg(function, i, first_default)
        return function, [a for a in ordered if a is not None]

    def _default_arg(self, function: FunctionDef, index: int, first_default: int) -> E.Expr:
        binder = type(self)(self.bc, Scope(), QueryLevel(what="DEFAULT expressions"))  # type: ignore[call-arg]
        self.bc.view_depth += 1
        try:
            value = binder.bind(json.loads(function.defaults[index - first_default]))
        finally:
            self.bc.view_depth -= 1
        return binder.coerce_to(value, type_by_oid(function.inputs[index][2]), "assignment")

    def routine_expr(self, function: FunctionDef, args: list[E.Expr]) -> E.Expr:
        """A user function's call in an expression: inlined, or run per row."""
        rtype = result_type(function)
        if function.returns_set:
            if not self.level.srf_allowed:
                raise SqlError("0A000", f"set-returning functions are not allowed in {self.level.what}")
            self.level.has_srf = True
            impl = RoutineImpl(function, self.bc.catalog, rows=True)
            return E.SetReturning(
                E.Call(function.name, impl, tuple(args), rtype, False, False, function.volatility)
            )
        inlined = self._inline(function, args, rtype)
        if inlined is not None:
            return inlined
        return E.AsyncCall(
            function.name, RoutineImpl(function, self.bc.catalog, rows=False), tuple(args), rtype
        )

    def routine_in_from(self, function: FunctionDef, args: list[E.Expr]) -> E.Call:
        """A user function in FROM: a call whose rows the function scan awaits."""
        rtype = result_type(function)
        impl = RoutineImpl(function, self.bc.catalog, rows=True)
        return E.Call(function.name, impl, tuple(args), rtype, False, False, function.volatility)

    def _inline(self, function: FunctionDef, args: list[E.Expr], rtype: SqlType) -> E.Expr | None:
        node = _inlinable_body(function)
        if node is None or function.oid in self.bc.inlining:
            return None
        placeholders = [E.ColumnRef(self.bc.new_cid(p[0] or f"${i + 1}"), a.type)
                        for i, (p, a) in enumerate(zip(function.inputs, args, strict=True))]  # fmt: skip
        level = QueryLevel(what="SQL function bodies")
        binder = type(self)(self.bc, Scope(), level)  # type: ignore[call-arg]
        self.bc.inlining.add(function.oid)
        self.bc.routine_frames.append(RoutineFrame(function, list(placeholders)))
        self.bc.view_depth += 1
        self.bc.definition_paths.append(body_path(self.bc))
        try:
            expr = binder.bind(node)
            if expr.type == UNKNOWN:
                expr = binder.coerce_to(expr, rtype, "assignment")
            if expr.type.oid != rtype.oid:
                expr = binder.coerce_to(expr, rtype, "assignment")
        except SqlError:
            return None  # run it instead: the error (if any) is raised where PostgreSQL raises it
        finally:
            self.bc.definition_paths.pop()
            self.bc.view_depth -= 1
            self.bc.routine_frames.pop()
            self.bc.inlining.discard(function.oid)
        if level.aggregates or level.windows or level.has_srf:
            return None
        if any(isinstance(n, (E.SubLink, E.AggRef, E.WindowRef, E.SetReturning)) for n in E.walk(expr)):
            return None
        volatility = _volatility_of(expr)
        if "ivs".index(volatility) > "ivs".index(function.volatility):
            return None  # PostgreSQL keeps such a call out of line (its declared volatility rules)
        uses = {p.cid: 0 for p in placeholders}
        for n in E.walk(expr):
            if isinstance(n, E.ColumnRef) and n.cid in uses:
                uses[n.cid] += 1
        for p, arg in zip(placeholders, args, strict=True):
            if uses[p.cid] != 1 and is_volatile_expr(arg):
                return None
        replacement = {p.cid: arg for p, arg in zip(placeholders, args, strict=True)}

        def substitute(e: E.Expr) -> E.Expr:
            if isinstance(e, E.ColumnRef) and e.cid in replacement:
                return replacement[e.cid]
            return E.map_children(e, substitute)

        inlined = substitute(expr)
        if function.volatility != "i":
            # What the body computes may be immutable, but the call is what its
            # declaration says (generated columns and index keys refuse it, folding skips it).
            inlined = E.Call(function.name, _same, (inlined,), rtype, False, False, function.volatility)
        return inlined


def _same(value: Any) -> Any:
    return value


class RoutineImpl:
    """The implementation of a call that runs the body: awaited with the RunContext
    (an AsyncCall's `fn`, or a function scan's and ProjectSet's `impl`)."""

    wants_run_context = True

    def __init__(self, function: FunctionDef, catalog: CatalogSnapshot, rows: bool) -> None:
        self.function = function
        self.catalog = catalog
        self.rows = rows

    async def __call__(self, rc: Any, *values: Any) -> Any:
        runner = getattr(rc.session, "runner", None)
        if runner is None:
            raise SqlError("0A000", f"function {self.function.name}() cannot run in this context")
        return await runner.run_routine(rc, self.function, self.catalog, values, self.rows)
