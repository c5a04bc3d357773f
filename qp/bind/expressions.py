"""Binding expressions: parse-tree nodes to typed `qp.bind.expr` trees.

Types follow PostgreSQL's rules, delegated to the function library: operator
and function resolution (with unknown-typed string literals and parameters
taking the type the context needs), implicit casts, common types for CASE,
COALESCE and IN. String literals are converted to their target type here,
once, with the type's input function, as PostgreSQL does at parse analysis.
Parameters whose type the client left open get the first type a context
demands (`$1 + 1` makes $1 an integer), which is what Describe reports.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.bind.collation import check_collatable, resolve_collation
from qp.bind.context import AggCall, BindContext, GroupingCall, QueryLevel, WindowCall
from qp.bind.domains import domain_in, domain_named
from qp.bind.privileges import check_sequence
from qp.bind.routines import RoutineBinding, frame_name, frame_param
from qp.bind.rows import RowBinding, is_row_node
from qp.bind.scope import Scope
from qp.errors import SqlError, locate
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.exec.windows import DEFAULT_FRAME, RANKING, WINDOW_ONLY, Frame, check_frame
from qp.functions import is_aggregate, resolve_aggregate, resolve_function, resolve_operator
from qp.functions.ordered_set import is_ordered_set_aggregate, resolve_within_group
from qp.functions.waiting import ASYNC_FUNCTIONS
from qp.parse.parser import node_body, node_kind, node_location, string_list
from qp.parse.unsupported import syntax_words
from qp.pgcatalog.names import qualified_name
from qp.pgcatalog.search_path import binding_path, check_schema, first_schema
from qp.types import (
    BOOL,
    FLOAT8,
    INT4,
    INT8,
    NAME,
    NUMERIC,
    OID,
    RECORD,
    TEXT,
    UNKNOWN,
    SqlType,
    array_of,
    common_type,
    find_cast,
    format_type,
    resolve_type_name,
    sort_key,
    text_decoder,
)

_INT4_MIN, _INT4_MAX = -(2**31), 2**31 - 1
_NUMERIC_IN = text_decoder(NUMERIC)

# Types whose values may be compared with Python's == and hashed (IN-list sets).
SET_SAFE_OIDS = frozenset({16, 20, 21, 23, 26, 25, 1043, 19, 1082, 1114, 1184, 2950, 18})

_SVF_FUNCTIONS = {
    "SVFOP_CURRENT_DATE": "current_date",
    "SVFOP_CURRENT_TIME": "current_time",
    "SVFOP_CURRENT_TIME_N": "current_time",
    "SVFOP_CURRENT_TIMESTAMP": "now",
    "SVFOP_CURRENT_TIMESTAMP_N": "now",
    "SVFOP_LOCALTIME": "localtime",
    "SVFOP_LOCALTIME_N": "localtime",
    "SVFOP_LOCALTIMESTAMP": "localtimestamp",
    "SVFOP_LOCALTIMESTAMP_N": "localtimestamp",
}
_SVF_CONTEXT = {
    "SVFOP_CURRENT_ROLE": "user",
    "SVFOP_CURRENT_USER": "user",
    "SVFOP_USER": "user",
    "SVFOP_SESSION_USER": "session_user",
    "SVFOP_CURRENT_CATALOG": "database",
}


def fold(expr: E.Expr, bc: BindContext) -> E.Expr:
    """Evaluate an expression with no inputs now (constant folding).

    As in PostgreSQL, an error while folding is the statement's error (so
    `SELECT 1/0 FROM t WHERE false` fails), except inside the arguments of
    COALESCE, CASE, AND and OR, which are folded leniently (`bc.lenient`)
    and then strictly once branches that can never be evaluated are pruned:
    `coalesce(1, 1/0)` is 1.
    """
    if isinstance(expr, E.Const) or not E.is_constant(expr):
        return expr

    try:
        value = compile_scalar(expr, Layout([]))((), ExecFrame(ctx=bc.eval_ctx))
    except SqlError:
        if bc.lenient:
            return expr
        raise
    return E.Const(value, expr.type)


def fold_strict(expr: E.Expr, bc: BindContext) -> E.Expr:
    """Fold what lenient folding left (raising its errors), children first."""
    return _fold_strict(expr, bc)[0]


# Nodes whose value is not known while binding (E.is_constant's list).
_NEVER_CONSTANT = (E.ColumnRef, E.OuterRef, E.Param, E.SubLink, E.AggRef, E.WindowRef, E.ContextValue,
                   E.SetReturning, E.AsyncCall)


def _fold_strict(expr: E.Expr, bc: BindContext) -> tuple[E.Expr, bool]:
    """(folded expression, whether it is a constant) in one pass over the tree:
    asking E.is_constant at every node walked each subtree again, which made
    a deeply nested COALESCE or CASE cubic to bind (seconds at 400 levels)."""
    if isinstance(expr, E.Const):
        return expr, True
    if isinstance(expr, E.SubLink):
        return expr, False
    constant = not isinstance(expr, _NEVER_CONSTANT) and not (
        isinstance(expr, E.Call) and (expr.volatility != "i" or expr.needs_context)
    )

    def child(node: E.Expr) -> E.Expr:
        nonlocal constant
        folded, child_constant = _fold_strict(node, bc)
        constant = constant and child_constant
        return folded

    mapped = E.map_children(expr, child)
    if constant:
        folded = fold(mapped, bc)
        return folded, isinstance(folded, E.Const)
    return mapped, False


class _Lenient:
    def __init__(self, bc: BindContext) -> None:
        self.bc = bc

    def __enter__(self) -> None:
        self.bc.lenient += 1

    def __exit__(self, *exc) -> None:
        self.bc.lenient -= 1


def _is_const(e: E.Expr, value: object) -> bool:
    return isinstance(e, E.Const) and e.value is value


def coerce(expr: E.Expr, target: SqlType, bc: BindContext, context: str = "implicit", what: str = "") -> E.Expr:
    """Convert `expr` to type `target` (with its typmod), or fail as PG does."""
    source = expr.type
    if source == target or target == RECORD and source.oid == RECORD.oid:
        return expr  # a row keeps its fields' names and types where any record is expected
    if isinstance(expr, E.Param) and source == UNKNOWN:
        bc.set_param_type(expr.index, target.base)
        param = E.Param(expr.index, target.base)
        return param if target.typmod == -1 else coerce(param, target, bc, context, what)
    if isinstance(expr, E.Const) and expr.value is None:
        return E.Const(None, target)
    if source == UNKNOWN and isinstance(expr, E.Const):
        # The literal goes through the type's input function with the
        # context's typmod rules: 'abcdefghi' into varchar(8) fails on
        # assignment (22001) but is truncated by an explicit cast.
        cast = find_cast(UNKNOWN, target, context) or find_cast(UNKNOWN, target, "explicit")
        if cast is None:
            raise SqlError("42846", f"cannot cast type unknown to {format_type(target)}")
        try:
            return E.Const(cast.fn(expr.value, bc.eval_ctx), target)
        except SqlError as exc:
            _locate_literal(exc, expr, target, bc)
            raise
    if source.base == target.base and target.typmod == -1:
        return _retype(expr, target)
    cast = find_cast(source, target, context)
    if cast is None:
        if context == "assignment" and what:
            raise SqlError(
                "42804",
                f'column "{what}" is of type {format_type(target)} but expression is of type {format_type(source)}',
                hint="You will need to rewrite or cast the expression.",
            )
        if context == "explicit":
            raise SqlError("42846", f"cannot cast type {format_type(source)} to {format_type(target)}")
        raise SqlError("42804", f"{what or 'expression'} must be type {format_type(target)}, not type {format_type(source)}")
    return fold(E.Cast(expr, cast.fn, target), bc)


def _locate_literal(error: SqlError, literal: E.Const, target: SqlType, bc: BindContext) -> None:
    """PostgreSQL points at a literal its type's input function rejects, but not at
    one that only breaks the typmod (numeric(3,1) overflow, varchar(3) too long)."""
    location = bc.literal_location(literal)
    if location is None or error.location is not None:
        return
    if target.typmod != -1:
        base = find_cast(UNKNOWN, target.base, "explicit")
        try:
            if base is not None:
                base.fn(literal.value, bc.eval_ctx)
            return  # the input is fine: the typmod failed
        except SqlError:
            pass
    error.location = location


def _type_named(name: str) -> SqlType | None:
    """The type whose catalog name (pg_type.typname) is `name`, if any."""
    try:
        found = resolve_type_name([name])
    except SqlError:
        return None
    return found if found.name == name and not found.is_array else None


def _retype(expr: E.Expr, target: SqlType) -> E.Expr:
    """Same values, a type that differs only in its typmod (varchar(5) → varchar)."""
    if isinstance(expr, E.Const):
        return E.Const(expr.value, target)
    return E.Cast(expr, _identity, target)


def _identity(value: Any, ctx: Any) -> Any:
    return value


def resolve_unknown(expr: E.Expr, bc: BindContext) -> E.Expr:
    """An unknown literal left at the end resolves to text (PG 10+)."""
    if expr.type == UNKNOWN:
        return coerce(expr, TEXT, bc)
    return expr


class ExprBinder(RowBinding, RoutineBinding):
    def __init__(self, bc: BindContext, scope: Scope, level: QueryLevel, bind_subquery=None) -> None:
        self.bc = bc
        self.scope = scope
        self.level = level
        self.bind_subquery = bind_subquery  # (select_node, scope) -> BoundQuery

    def bind(self, node: dict) -> E.Expr:
        kind = node_kind(node)
        method = getattr(self, "b_" + kind, None)
        if method is None:
            raise SqlError("0A000", f"{syntax_words(kind)} is not supported")
        body = node_body(node)
        try:
            result = method(body)
            if self.bc.collations:  # nothing to check until a COLLATE clause was seen
                self.bc.collations.derive(kind, body, result.type)
            return result
        except SqlError as exc:
            # The innermost node that fails names the place (a missing column's
            # reference, an unknown function's call, an operator's symbol).
            if exc.location is None and self.bc.view_depth == 0:
                locate(exc, body.get("location"))
            raise

    def coerce_to(self, expr: E.Expr, target: SqlType, context: str = "implicit") -> E.Expr:
        return coerce(expr, target, self.bc, context)

    def bind_bool(self, node: dict, clause: str) -> E.Expr:
        expr = self.bind(node)
        if expr.type == BOOL:
            return expr
        if expr.type == UNKNOWN:
            return coerce(expr, BOOL, self.bc)
        error = SqlError("42804", f"argument of {clause} must be type boolean, not type {format_type(expr.type)}")
        raise locate(error, node_location(node))

    # -- leaves -----------------------------------------------------------------

    def b_A_Const(self, n: dict) -> E.Expr:
        if n.get("isnull"):
            return E.Const(None, UNKNOWN)
        if "ival" in n:
            value = n["ival"].get("ival", 0)
            return E.Const(value, INT4 if _INT4_MIN <= value <= _INT4_MAX else INT8)
        if "fval" in n:
            # An integer too big for int4 arrives as a float token; like
            # PostgreSQL's make_const, type it int4 or int8 when it fits
            # (-2147483648 is an int4: the minus sign is folded into the token).
            # Otherwise it is numeric input (make_const calls numeric_in), with
            # its range checks: 1e-100000 fails (22003) rather than binding.
            text = n["fval"].get("fval", "0")
            try:
                value = _NUMERIC_IN(text)
            except SqlError as error:
                if error.location is None and n.get("location", -1) >= 0:
                    error.location = n["location"]  # PostgreSQL points at the literal
                raise
            if "." not in text and "e" not in text.lower():
                iv = int(value)
                if _INT4_MIN <= iv <= _INT4_MAX:
                    return E.Const(iv, INT4)
                if -(2**63) <= iv < 2**63:
                    return E.Const(iv, INT8)
            return E.Const(value, NUMERIC)
        if "sval" in n:
            literal = E.Const(n["sval"].get("sval", ""), UNKNOWN)
            self.bc.note_literal(literal, n.get("location"))
            return literal
        if "boolval" in n:
            return E.Const(bool(n["boolval"].get("boolval", False)), BOOL)
        if "bsval" in n:
            raise SqlError("0A000", "bit string literals are not supported")
        raise SqlError("0A000", "unsupported constant")

    def b_ColumnRef(self, n: dict) -> E.Expr:
        names = string_list(n.get("fields"))
        if len(names) == 2 and names[1] == "*":
            # t.* inside an expression is t's whole row (a select list's own t.* is expanded before).
            row = self.scope.whole_row(names[0])
            if row is not None:
                return row
        if "*" in names:
            raise SqlError("0A000", "a row reference (*) is not supported in this position")
        if self.level.what == "DEFAULT expressions":
            error = SqlError("0A000", "cannot use column reference in DEFAULT expression")
            error.location = n.get("location")
            raise error
        if self.bc.routine_frames:  # in a function body, a column wins over a parameter of that name
            try:
                return self.scope.lookup(names)
            except SqlError as exc:
                param = frame_name(self.bc, names, self.scope) if exc.sqlstate in ("42703", "42P01") else None
                if param is None:
                    raise
                return param
        return self.scope.lookup(names)

    def b_ParamRef(self, n: dict) -> E.Expr:
        index = n.get("number", 0) - 1
        if index < 0:
            raise SqlError("42P02", "there is no parameter $0")
        param = frame_param(self.bc, index, self.scope)  # $n of a function body
        if param is not None:
            return param
        declared = self.bc.param_type(index)
        if declared is None or declared == UNKNOWN:
            self.bc.note_param(index)
            return E.Param(index, UNKNOWN)
        return E.Param(index, declared)

    def b_TypeCast(self, n: dict) -> E.Expr:
        domain = domain_named(self.bc, n["typeName"])
        if domain is not None:  # the base type's cast, then the domain's constraints
            return domain_in(type(self), self.bc, domain, coerce(self.bind(n["arg"]), domain.base_type, self.bc, "explicit"))
        target = self.type_name(n["typeName"])
        source = n["arg"]
        if node_kind(source) == "A_ArrayExpr" and not node_body(source).get("elements") and target.is_array:
            return E.Const([], target)  # ARRAY[]::int[]: the cast gives the empty array its type
        arg = self.bind(n["arg"])
        return coerce(arg, target, self.bc, "explicit")

    def type_name(self, tn: dict) -> SqlType:
        names = string_list(tn.get("names"))
        typmods = []
        for mod in tn.get("typmods", ()):
            const = mod.get("A_Const")
            if const is None or "ival" not in const:
                if const is not None and "sval" in const:
                    raise SqlError("0A000", "type modifiers given as strings are not supported")
                raise SqlError("42601", "type modifiers must be simple constants or identifiers")
            typmods.append(const["ival"].get("ival", 0))
        dims = len(tn.get("arrayBounds", ()))
        if tn.get("setof"):
            raise SqlError("0A000", "SETOF types are not supported here")
        try:
            return resolve_type_name(names, typmods, dims)
        except SqlError as exc:
            if exc.sqlstate == "42704" and exc.location is None and self.bc.view_depth == 0:
                exc.location = tn.get("location")  # type "x" does not exist: PostgreSQL points at the name
            raise

    def b_CollateClause(self, n: dict) -> E.Expr:
        """`expr COLLATE name`: the value unchanged (every collation dsql has sorts as C),
        checked as PostgreSQL's transformCollateClause does."""
        arg = self.bind(n["arg"])
        check_collatable(arg.type)
        location = n.get("location") if self.bc.view_depth == 0 else None
        try:
            collation = resolve_collation(string_list(n.get("collname")))
        except SqlError as exc:
            exc.location = location
            raise
        self.bc.collations.note(n, collation, location)
        return arg

    def b_SQLValueFunction(self, n: dict) -> E.Expr:
        op = n.get("op", "")
        if op in _SVF_CONTEXT:

            return E.ContextValue(_SVF_CONTEXT[op], NAME)
        if op == "SVFOP_CURRENT_SCHEMA":
            return self.call_function("current_schema", [])
        name = _SVF_FUNCTIONS.get(op)
        if name is None:
            raise SqlError("0A000", f"{op} is not supported")
        return self.call_function(name, [])

    # -- operators ----------------------------------------------------------------

    def operator(self, name: str, left: E.Expr | None, right: E.Expr) -> E.Expr:
        resolved = resolve_operator(name, left.type if left is not None else None, right.type)
        args = [right] if left is None else [left, right]
        args = [coerce(a, t, self.bc) for a, t in zip(args, resolved.arg_types, strict=True)]
        call = E.Call(
            name,
            resolved.impl,
            tuple(args),
            resolved.return_type,
            resolved.strict,
            resolved.needs_context,
            resolved.volatility,
        )
        return fold(call, self.bc)

    def equality(self, left_type: SqlType, right_type: SqlType):
        resolved = resolve_operator("=", left_type, right_type)
        return resolved

    def b_A_Expr(self, n: dict) -> E.Expr:
        kind = n.get("kind", "AEXPR_OP")
        names = string_list(n.get("name"))
        op = names[-1] if names else ""
        if kind == "AEXPR_OP":
            row = self.row_operator(op, n.get("lexpr"), n["rexpr"])
            if row is not None:
                return row
            left = self.bind(n["lexpr"]) if "lexpr" in n else None
            right = self.bind(n["rexpr"])
            if left is not None:
                records = self.compare_records(op, left, right)
                if records is not None:
                    return records
            return self.operator(op, left, right)
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE"):
            left = self.bind(n["lexpr"])
            right = self.bind(n["rexpr"])
            return self.operator(op, left, right)
        if kind == "AEXPR_SIMILAR":
            left = self.bind(n["lexpr"])
            right = self.bind(n["rexpr"])
            return self.operator(op, left, right)
        if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            row = self.row_distinct(n["lexpr"], n["rexpr"], kind == "AEXPR_NOT_DISTINCT")
            if row is not None:
                return row
            left, right = self._pair(n)
            left, right, eq = self._comparable(left, right)
            return E.DistinctFrom(left, right, eq.impl, negated=(kind == "AEXPR_NOT_DISTINCT"))
        if kind == "AEXPR_NULLIF":
            left, right = self._pair(n)
            common = common_type([left.type, right.type], "NULLIF")
            left, right = coerce(left, common, self.bc), coerce(right, common, self.bc)
            eq = resolve_operator("=", common, common)
            return E.NullIf(left, right, eq.impl, left.type)
        if kind == "AEXPR_IN":
            return self._in_list(n, negated=(op == "<>"))
        if kind in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
            return self._any_all(n, op, kind == "AEXPR_OP_ALL")
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM", "AEXPR_NOT_BETWEEN_SYM"):
            return self._between(n, kind)
        raise SqlError("0A000", f"{syntax_words(kind)} is not supported here")

    def _pair(self, n: dict) -> tuple[E.Expr, E.Expr]:
        return self.bind(n["lexpr"]), self.bind(n["rexpr"])

    def _comparable(self, left: E.Expr, right: E.Expr):
        resolved = resolve_operator("=", left.type, right.type)
        left = coerce(left, resolved.arg_types[0], self.bc)
        right = coerce(right, resolved.arg_types[1], self.bc)
        return left, right, resolved

    def _between(self, n: dict, kind: str) -> E.Expr:
        arg = self.bind(n["lexpr"])
        bounds = n["rexpr"]["List"]["items"] if "List" in n["rexpr"] else n["rexpr"]
        low, high = self.bind(bounds[0]), self.bind(bounds[1])
        negated = "NOT" in kind

        def between(lo: E.Expr, hi: E.Expr) -> E.Expr:
            if negated:
                return E.BoolOp("or", (self.operator("<", arg, lo), self.operator(">", arg, hi)))
            return E.BoolOp("and", (self.operator(">=", arg, lo), self.operator("<=", arg, hi)))

        if kind.endswith("_SYM"):
            first, second = between(low, high), between(high, low)
            return E.BoolOp("and" if negated else "or", (first, second))
        return between(low, high)

    def _in_list(self, n: dict, negated: bool) -> E.Expr:
        items_nodes = n["rexpr"]["List"]["items"] if "List" in n["rexpr"] else n["rexpr"]
        row = self.row_in_list(n["lexpr"], items_nodes, negated)
        if row is not None:
            return row
        arg = self.bind(n["lexpr"])
        items = [self.bind(i) for i in items_nodes]
        common = common_type([arg.type, *[i.type for i in items]], "IN")
        arg = coerce(arg, common, self.bc)
        items = [coerce(i, common, self.bc) for i in items]
        if common.oid in SET_SAFE_OIDS:
            return E.InList(arg, tuple(items), None, negated)
        eq = resolve_operator("=", common, common)
        return E.InList(arg, tuple(items), eq.impl, negated)

    def _any_all(self, n: dict, op: str, is_all: bool) -> E.Expr:
        arg = self.bind(n["lexpr"])
        array = self.bind(n["rexpr"])
        if array.type == UNKNOWN:
            array = coerce(array, array_of(arg.type if arg.type != UNKNOWN else TEXT), self.bc)
        if not array.type.is_array:
            raise SqlError("42809", "op ANY/ALL (array) requires array on right side")
        element = array.type.elem
        resolved = resolve_operator(op, arg.type, element)
        arg = coerce(arg, resolved.arg_types[0], self.bc)
        if resolved.arg_types[1] != element:
            array = coerce(array, array_of(resolved.arg_types[1]), self.bc)
        if resolved.return_type != BOOL:
            raise SqlError("42809", "op ANY/ALL (array) requires operator to yield boolean")
        return E.AnyAll(arg, array, resolved.impl, is_all)

    def b_BoolExpr(self, n: dict) -> E.Expr:
        op = n.get("boolop")
        clause = {"AND_EXPR": "AND", "OR_EXPR": "OR", "NOT_EXPR": "NOT"}[op]
        if op == "NOT_EXPR":
            return fold(E.Not(self.bind_bool(n["args"][0], clause)), self.bc)
        with _Lenient(self.bc):
            args = [self.bind_bool(a, clause) for a in n.get("args", ())]
        decisive = op == "OR_EXPR"  # TRUE decides an OR, FALSE an AND
        if any(_is_const(a, decisive) for a in args):
            return E.Const(decisive, BOOL)
        args = [fold_strict(a, self.bc) for a in args if not _is_const(a, not decisive)]
        if not args:
            return E.Const(not decisive, BOOL)
        if len(args) == 1:
            return args[0]
        return fold(E.BoolOp("and" if op == "AND_EXPR" else "or", tuple(args)), self.bc)

    def b_NullTest(self, n: dict) -> E.Expr:
        arg = self.bind(n["arg"])
        negated = n.get("nulltesttype") == "IS_NOT_NULL"
        return fold(self.row_null_test(arg, negated) or E.IsNull(arg, negated=negated), self.bc)

    def row_item(self, item: E.Expr) -> E.Expr:
        return resolve_unknown(item, self.bc)

    def b_BooleanTest(self, n: dict) -> E.Expr:
        test = n.get("booltesttype", "IS_TRUE")
        arg = self.bind_bool(n["arg"], test.replace("_", " "))
        kind = {"IS_TRUE": "true", "IS_NOT_TRUE": "true", "IS_FALSE": "false", "IS_NOT_FALSE": "false",
                "IS_UNKNOWN": "unknown", "IS_NOT_UNKNOWN": "unknown"}[test]
        return fold(E.BoolTest(arg, kind, negated="_NOT_" in test), self.bc)

    # -- conditional forms --------------------------------------------------------

    def b_CaseExpr(self, n: dict) -> E.Expr:
        operand = self.bind(n["arg"]) if "arg" in n else None
        conditions: list[E.Expr] = []
        results: list[E.Expr] = []
        with _Lenient(self.bc):
            for when_node in n.get("args", ()):
                when = when_node["CaseWhen"]
                if operand is not None:
                    value = self.bind(when["expr"])
                    conditions.append(self.operator("=", operand, value))
                else:
                    conditions.append(self.bind_bool(when["expr"], "CASE/WHEN"))
                results.append(self.bind(when["result"]))
            default = self.bind(n["defresult"]) if "defresult" in n else None
            types = [r.type for r in results] + ([default.type] if default is not None else [])
            common = common_type(types, "CASE")
            results = [coerce(r, common, self.bc) for r in results]
            if default is not None:
                default = coerce(default, common, self.bc)
        # Prune arms that can never run (constant FALSE/NULL conditions, and
        # everything after a constant TRUE one) before folding what remains.
        whens: list[tuple[E.Expr, E.Expr]] = []
        for cond, result in zip(conditions, results, strict=True):
            cond = fold_strict(cond, self.bc)
            if isinstance(cond, E.Const) and cond.value is not True:
                continue
            if _is_const(cond, True):
                default = result
                break
            whens.append((cond, result))
        whens = [(c, fold_strict(r, self.bc)) for c, r in whens]
        default = fold_strict(default, self.bc) if default is not None else None
        if not whens:
            return default if default is not None else E.Const(None, common)
        return fold(E.Case(tuple(whens), default, common), self.bc)

    def b_CoalesceExpr(self, n: dict) -> E.Expr:
        with _Lenient(self.bc):
            args = [self.bind(a) for a in n.get("args", ())]
            common = common_type([a.type for a in args], "COALESCE")
            args = [coerce(a, common, self.bc) for a in args]
        kept: list[E.Expr] = []
        for arg in args:
            arg = fold_strict(arg, self.bc)
            if _is_const(arg, None):
                continue
            kept.append(arg)
            if isinstance(arg, E.Const):
                break  # later arguments can never be evaluated
        if not kept:
            return E.Const(None, common)
        if len(kept) == 1:
            return kept[0]
        return fold(E.Coalesce(tuple(kept), common), self.bc)

    def b_MinMaxExpr(self, n: dict) -> E.Expr:
        op = "greatest" if n.get("op") == "IS_GREATEST" else "least"
        args = [self.bind(a) for a in n.get("args", ())]
        common = common_type([a.type for a in args], op.upper())

        return fold(E.MinMax(op, tuple(coerce(a, common, self.bc) for a in args), sort_key(common), common), self.bc)

    def b_A_ArrayExpr(self, n: dict) -> E.Expr:
        items = [self.bind(i) for i in n.get("elements", ())]
        if not items:
            raise SqlError("42P18", "cannot determine type of empty array")
        if any(i.type.is_array for i in items):
            # ARRAY[[1, 2], [3, 4]]: the sub-arrays are the next dimension.
            common = common_type([i.type for i in items], "ARRAY")
            items = [coerce(i, common, self.bc) for i in items]
            return fold(E.Call("array", _multidimensional_array, tuple(items), common, strict=False), self.bc)
        common = common_type([i.type for i in items], "ARRAY")
        if common == UNKNOWN:
            common = TEXT
        items = [coerce(i, common, self.bc) for i in items]
        return fold(E.ArrayExpr(tuple(items), array_of(common)), self.bc)

    def b_A_Indirection(self, n: dict) -> E.Expr:
        arg = self.bind(n["arg"])
        indexes: list[E.Expr] = []
        for step in n.get("indirection", ()):
            if "String" in step:
                arg = _subscripted(arg, indexes)
                arg = self.row_field(arg, step["String"]["sval"])
                continue
            if "A_Indices" not in step or step["A_Indices"].get("is_slice") or not arg.type.is_array:
                raise SqlError("0A000", "this kind of subscript or field selection is not supported")
            # a[i][j]: all subscripts apply together (a 2-D array's a[i] alone is NULL).
            indexes.append(coerce(self.bind(step["A_Indices"]["uidx"]), INT4, self.bc))
        return _subscripted(arg, indexes)

    # -- functions ------------------------------------------------------------------

    def call_function(self, name: str, args: list[E.Expr]) -> E.Expr:
        if name in _SEQUENCE_FUNCTIONS:
            return self._sequence_call(name, args)
        if name in ASYNC_FUNCTIONS and len(args) == len(ASYNC_FUNCTIONS[name][0]):
            arg_types, result, fn = ASYNC_FUNCTIONS[name]  # they wait: awaited per row (qp/functions/waiting.py)
            args = [coerce(a, t, self.bc) for a, t in zip(args, arg_types, strict=True)]
            return E.AsyncCall(name, fn, tuple(args), result)
        if len(args) == 1 and args[0].type == UNKNOWN and isinstance(args[0], E.Const):
            # typename('literal') is a cast of the literal (PostgreSQL's func_get_detail).
            target = _type_named(name)
            if target is not None:
                return coerce(args[0], target, self.bc, "explicit")
        resolved = resolve_function(name, [a.type for a in args])
        if resolved.return_type == RECORD:
            # json_to_record and the like: only a column definition list in FROM gives their rows a shape.
            raise SqlError("0A000", f"could not determine row type for result of {name}",
                           hint="Provide a non-null record argument, or call the function in the FROM clause "
                                "using a column definition list.")
        if resolved.returns_set:
            if not self.level.srf_allowed:
                raise SqlError("0A000", f"set-returning function {name}() is not supported here")
            self.level.has_srf = True
        args = [coerce(a, t, self.bc) for a, t in zip(args, resolved.arg_types, strict=True)]
        call = E.Call(
            name, resolved.impl, tuple(args), resolved.return_type, resolved.strict,
            resolved.needs_context, resolved.volatility,
        )
        if resolved.returns_set:
            return _SetReturning(call)
        return fold(call, self.bc)

    def _sequence_call(self, name: str, args: list[E.Expr]) -> E.Expr:
        """nextval, currval, setval, lastval: they read and write sequence state."""
        expected = {"nextval": 1, "currval": 1, "lastval": 0, "setval": (2, 3)}[name]
        if len(args) not in (expected if isinstance(expected, tuple) else (expected,)):
            raise SqlError("42883", f"function {name}({', '.join(format_type(a.type.base) for a in args)}) does not exist")
        if args:
            args[0] = self._sequence_oid(args[0])
        if name == "setval":
            args[1] = coerce(args[1], INT8, self.bc)
            if len(args) == 3:
                args[2] = coerce(args[2], BOOL, self.bc)
        return E.AsyncCall(name, _SEQUENCE_FUNCTIONS[name], tuple(args), INT8)

    def _sequence_oid(self, arg: E.Expr) -> E.Expr:
        if isinstance(arg, E.Const) and isinstance(arg.value, str):
            name = arg.value
            parts = qualified_name(name)
            schema = parts[-2] if len(parts) >= 2 else None
            catalog = self.bc.catalog
            if schema is None:
                schema = first_schema(binding_path(self.bc), lambda s: catalog.relation_name_taken(parts[-1], s))
            else:
                check_schema(catalog, schema)
            sequence = catalog.find_sequence(parts[-1], schema) if schema is not None else None
            if sequence is None:
                shown = ".".join(parts[-2:])
                raise SqlError("42P01", f'relation "{shown}" does not exist')
            return E.Const(sequence.oid, OID)
        if isinstance(arg, E.Const) and arg.value is None:
            return E.Const(None, OID)
        return coerce(arg, OID, self.bc, "explicit")

    def b_FuncCall(self, n: dict) -> E.Expr:
        names = string_list(n.get("funcname"))
        if len(names) > 2:
            raise SqlError("42883", f"function {'.'.join(names)} does not exist")
        if len(names) == 2 and names[0] != "pg_catalog":  # a user schema holds no built-in or aggregate
            routine = self.user_routine(n)
            if routine is None:
                raise SqlError("42883", f"function {'.'.join(names)} does not exist")
            return self.routine_expr(*routine)
        name = names[-1]
        star = bool(n.get("agg_star"))
        if n.get("agg_within_group"):
            if "over" in n:
                raise SqlError("0A000", f"OVER is not supported for ordered-set aggregate {name}")
            return self._aggregate(name, n, star)
        if is_ordered_set_aggregate(name):
            raise SqlError("42809", f"WITHIN GROUP is required for ordered-set aggregate {name}")
        if "over" in n:
            return self._window(name, n, star)
        if is_aggregate(name):
            return self._aggregate(name, n, star)
        if star or n.get("agg_distinct") or "agg_filter" in n or "agg_order" in n:
            raise SqlError("42809", f"{name}(*) specified, but {name} is not an aggregate function" if star
                           else f"DISTINCT/ORDER BY/FILTER specified, but {name} is not an aggregate function")
        routine = self.user_routine(n)  # a user function's (qp/bind/routines.py)?
        if routine is not None:
            return self.routine_expr(*routine)
        if n.get("func_variadic"):
            raise SqlError("0A000", "VARIADIC calls are not supported")
        args = [self.bind(a) for a in n.get("args", ())]
        return self.call_function(name, args)

    def b_GroupingFunc(self, n: dict) -> E.Expr:
        """GROUPING(args): recorded at this level, checked and computed with its
        grouping (qp/bind/grouping_sets.py); read here as a column."""
        level = self.level
        here = n.get("location")
        if not level.agg_allowed or level.in_aggregate:
            what = "arguments of aggregates" if level.in_aggregate else level.what
            raise self._at(SqlError("42803", f"grouping operations are not allowed in {what}"), here)
        args = tuple(resolve_unknown(self.bind(a), self.bc) for a in n.get("args", ()))
        if any(isinstance(x, E.OuterRef) for a in args for x in E.walk(a)):
            raise SqlError("0A000", "GROUPING() over an outer query's columns is not supported")
        if len(args) > 31:
            raise self._at(SqlError("54011", "GROUPING must have fewer than 32 arguments"), here)
        cid = self.bc.new_cid("grouping")
        level.groupings.append(GroupingCall(cid, args, here))
        return E.ColumnRef(cid, INT4, "grouping")

    def _aggregate(self, name: str, n: dict, star: bool) -> E.Expr:
        """An aggregate call, computed at the query level its arguments come from.

        As PostgreSQL's agglevelsup: the level is the innermost one any of its
        arguments' columns (or FILTER's, or ORDER BY's) belongs to, so in
        `SELECT (SELECT max(o.x)) FROM t o` max() aggregates the outer query's
        rows and the subquery reads its result as an outer value. Whether an
        aggregate is allowed is decided by the clause that level is binding.
        """
        level = self.level
        chain = self.scope.chain()
        # What the arguments add to the enclosing levels' outer references is
        # undone if the aggregate moves out: it is computed there, not read here.
        saved_refs = [set(s.outer_refs) for s in chain] if len(chain) > 1 else None
        # WITH queries of the levels in between: one the arguments read keeps the aggregate here.
        cte_counts = [(cte, cte.refcount) for s in chain[:-1] for cte in s.ctes.values()]
        was_in_aggregate = level.in_aggregate
        level.in_aggregate = True
        try:
            # Unknown literals stay unknown until the aggregate is chosen, as in
            # PostgreSQL: string_agg(b, ',') is string_agg(bytea, bytea) and
            # array_agg('a') is ambiguous (see _resolve_aggregate).
            args = [self.bind(a) for a in n.get("args", ())]
            filter_expr = None
            if "agg_filter" in n:
                saved = level.what, level.agg_allowed
                level.what, level.agg_allowed = "FILTER", False
                try:
                    filter_expr = self.bind_bool(n["agg_filter"], "FILTER")
                finally:
                    level.what, level.agg_allowed = saved
            sort_nodes = n.get("agg_order", ())
            order = tuple(self._sort_item(s) for s in sort_nodes)
        finally:
            level.in_aggregate = was_in_aggregate
        inputs = [*args, *([filter_expr] if filter_expr is not None else []), *(o[0] for o in order)]
        depth = _aggregate_depth(inputs, chain)
        owner = chain[depth]
        owner_level = level if depth == 0 else owner.level
        here = n.get("location")
        if owner.agg_error is not None:
            raise self._at(SqlError("42803", f"aggregate functions are not allowed in {owner.agg_error}"), here)
        if owner_level is None:
            raise SqlError("0A000", "aggregates over columns of an outer query are not supported here")
        if not owner_level.agg_allowed:
            raise self._at(SqlError("42803", f"aggregate functions are not allowed in {owner_level.what}"), here)
        if owner_level.in_aggregate:
            raise self._at(SqlError("42803", "aggregate function calls cannot be nested"), here)
        if depth > 0:
            inner = chain[:depth]
            if any(cte.refcount != count and any(cte.owner is s for s in inner) for cte, count in cte_counts):
                raise self._at(SqlError("0A000", "outer-level aggregate cannot use a nested CTE"), here)
            assert saved_refs is not None
            for scope, refs in zip(chain[:depth], saved_refs, strict=False):
                scope.outer_refs.clear()
                scope.outer_refs.update(refs)

            def lower(e: E.Expr) -> E.Expr:
                if isinstance(e, E.OuterRef) and owner.owns(e.cid):
                    return E.ColumnRef(e.cid, e.type, e.name)
                return E.map_children(e, lower)

            args = [lower(a) for a in args]
            filter_expr = lower(filter_expr) if filter_expr is not None else None
            order = tuple((lower(e), desc, nulls_first) for e, desc, nulls_first in order)
            inputs = [*args, *([filter_expr] if filter_expr is not None else []), *(o[0] for o in order)]
        nested = _aggregate_in(inputs, owner.agg_cids)
        if nested is not None:
            raise self._at(SqlError("42803", "aggregate function calls cannot be nested"),
                           self.bc.agg_locations.get(nested))
        distinct = bool(n.get("agg_distinct"))
        if distinct and order:
            # PostgreSQL sorts the distinct argument values: every sort key must be one of them.
            for (expr, _, _), sort_node in zip(order, sort_nodes, strict=True):
                if expr not in args and expr not in [resolve_unknown(a, self.bc) for a in args]:
                    error = SqlError("42P10", "in an aggregate with DISTINCT, ORDER BY expressions must appear "
                                              "in argument list")
                    raise locate(error, node_location(sort_node["SortBy"]["node"]))
        direct = 0
        if n.get("agg_within_group"):
            # Direct arguments, then the sorted ones: the accumulator reads both (qp/functions/ordered_set.py).
            direct = len(args)
            sorted_args = [e for e, _, _ in order]
            spec = [(desc, nulls_first) for _, desc, nulls_first in order]
            resolved, types = resolve_within_group(name, [a.type for a in args], [a.type for a in sorted_args], spec)
            args = [resolve_unknown(coerce(a, t, self.bc), self.bc) for a, t in zip(args + sorted_args, types, strict=True)]
        else:
            resolved, args = self._resolve_aggregate(name, args, star)
        cid = self.bc.new_cid(name)
        call = AggCall(
            cid, name, resolved, tuple(args), distinct, filter_expr, order, star, resolved.return_type, direct
        )
        owner_level.aggregates.append(call)
        owner.agg_cids.add(cid)
        if isinstance(here, int):
            self.bc.agg_locations[cid] = here
        if depth == 0:
            return E.ColumnRef(cid, resolved.return_type, name)
        for scope in chain[:depth]:
            scope.outer_refs.add(cid)
        return E.OuterRef(cid, resolved.return_type, name)

    def _resolve_aggregate(self, name: str, args: list[E.Expr], star: bool) -> tuple[Any, list[E.Expr]]:
        """The aggregate `name` chosen for `args` (unknown literals included, as
        func_select_candidate sees them) and the arguments coerced to it; an
        unknown literal passed to an "any" argument becomes text."""
        resolved = resolve_aggregate(name, [a.type for a in args], star)
        _check_parameterless(name, args, star)
        args = [coerce(a, t, self.bc) for a, t in zip(args, resolved.arg_types, strict=True)]
        return resolved, [resolve_unknown(a, self.bc) for a in args]

    def _at(self, error: SqlError, location: int | None) -> SqlError:
        """`error` located at `location` (what PostgreSQL points at), whatever its SQLSTATE."""
        if error.location is None and isinstance(location, int) and location >= 0 and self.bc.view_depth == 0:
            error.location = location
        return error

    def _row_sublink(self, n: dict, query, columns, correlated: bool, is_all: bool) -> E.Expr:
        test_node = n["testexpr"]
        if node_kind(test_node) != "RowExpr":
            raise SqlError("42601", "subquery has too many columns")
        items = [self.bind(a) for a in test_node["RowExpr"].get("args", ())]
        if len(items) != len(columns):
            raise SqlError("42601", "subquery has too many columns" if len(columns) > len(items)
                           else "subquery has too few columns")
        op_names = string_list(n.get("operName")) or ["="]
        if op_names[-1] not in ("=", "<>"):
            raise SqlError("0A000", "row comparisons other than = and <> are not supported")
        ops, tests = [], []
        for item, column in zip(items, columns, strict=True):
            resolved = resolve_operator("=", item.type, column)
            tests.append(coerce(item, resolved.arg_types[0], self.bc))
            if resolved.arg_types[1] != column:
                raise SqlError("0A000", "row comparisons needing a cast of the subquery's columns are not supported")
            ops.append(resolved.impl)
        compare = _row_compare(ops, is_all)
        if op_names[-1] == "<>":
            inner = compare

            def compare(a, b, inner=inner):
                result = inner(a, b)
                return None if result is None else not result
        test = E.ArrayExpr(tuple(tests), UNKNOWN)
        return E.SubLink("all" if is_all else "any", query, BOOL, test=test, op=compare, correlated=correlated,
                         row=True)

    def _window(self, name: str, n: dict, star: bool) -> E.Expr:
        level = self.level
        if level.in_aggregate:
            raise SqlError("42803", "aggregate function calls cannot contain window function calls")
        if not level.window_allowed:
            raise SqlError("42P20", f"window functions are not allowed in {level.what}")
        if n.get("agg_distinct"):
            raise SqlError("0A000", "DISTINCT is not implemented for window functions")
        if n.get("agg_order"):
            raise SqlError("0A000", "aggregate ORDER BY is not implemented for window functions")
        spec = self._window_spec(n["over"])
        level.window_allowed = False  # no window calls inside window calls
        try:
            args = [self.bind(a) for a in n.get("args", ())]
            if name in WINDOW_ONLY or not is_aggregate(name):
                args = [resolve_unknown(a, self.bc) for a in args]
            partition = [resolve_unknown(self.bind(p), self.bc) for p in spec.get("partitionClause", ())]
            order = [self._sort_item(o) for o in spec.get("orderClause", ())]
            filter_expr = self.bind_bool(n["agg_filter"], "FILTER") if "agg_filter" in n else None
            options = spec.get("frameOptions", DEFAULT_FRAME)
            check_frame(Frame(options))  # what is not supported, before binding offsets it could not use
            start = self._frame_offset(spec.get("startOffset"))
            end = self._frame_offset(spec.get("endOffset"))
        finally:
            level.window_allowed = True
        frame = Frame(options, start, end)
        check_frame(frame)
        if name in WINDOW_ONLY:
            if filter_expr is not None:
                raise SqlError("0A000", "FILTER is not implemented for non-aggregate window functions")
            resolved, return_type, args = self._window_function(name, args)
            if name in RANKING and name != "ntile":
                args = []
        elif is_aggregate(name):
            resolved, args = self._resolve_aggregate(name, args, star)
            return_type = resolved.return_type
        else:
            raise SqlError("42809", f"OVER specified, but {name} is not a window function nor an aggregate function")
        cid = self.bc.new_cid(name)
        level.windows.append(WindowCall(cid, name, resolved, tuple(args), tuple(partition), tuple(order), frame,
                                        return_type, filter_expr, False, star))
        return E.ColumnRef(cid, return_type, name)

    def _window_spec(self, over: dict) -> dict:
        """The window definition, with a named window (WINDOW w AS ...) merged in."""
        # `OVER w` sets name (a reference, in a call); `OVER (w ORDER BY x)` sets refname.
        ref = over.get("refname") or over.get("name")
        if ref is None:
            return over
        base = self.level.named_windows.get(ref)
        if base is None:
            raise SqlError("42704", f'window "{ref}" does not exist')
        merged = dict(base)
        if over.get("partitionClause"):
            raise SqlError("42P20", f'cannot override PARTITION BY clause of window "{ref}"')
        if over.get("orderClause"):
            if base.get("orderClause"):
                raise SqlError("42P20", f'cannot override ORDER BY clause of window "{ref}"')
            merged["orderClause"] = over["orderClause"]
        if over.get("frameOptions", 0) & 1:
            merged["frameOptions"] = over["frameOptions"]
            merged["startOffset"] = over.get("startOffset")
            merged["endOffset"] = over.get("endOffset")
        return merged

    def _frame_offset(self, node: dict | None) -> E.Expr | None:
        if node is None:
            return None
        expr = coerce(self.bind(node), INT8, self.bc)
        if E.column_refs(expr):
            raise SqlError("42P10", "argument of ROWS must not contain variables")
        return expr

    def _window_function(self, name: str, args: list[E.Expr]):
        """The signature of a pure window function: (marker, return type, coerced args)."""

        counts = {"row_number": (0,), "rank": (0,), "dense_rank": (0,), "percent_rank": (0,), "cume_dist": (0,),
                  "ntile": (1,), "lag": (1, 2, 3), "lead": (1, 2, 3), "first_value": (1,), "last_value": (1,),
                  "nth_value": (2,)}[name]
        if len(args) not in counts:
            raise SqlError("42883", f"function {name}({', '.join(format_type(a.type.base) for a in args)}) does not exist")
        if name in ("row_number", "rank", "dense_rank"):
            return name, INT8, args
        if name in ("percent_rank", "cume_dist"):
            return name, FLOAT8, args
        if name == "ntile":
            return name, INT4, [coerce(args[0], INT4, self.bc)]
        value_type = args[0].type
        rest = []
        if name in ("lag", "lead"):
            if len(args) > 1:
                rest.append(coerce(args[1], INT4, self.bc))
            if len(args) > 2:
                common = common_type([value_type, args[2].type], name)
                return name, common, [coerce(args[0], common, self.bc), rest[0], coerce(args[2], common, self.bc)]
        elif name == "nth_value":
            rest.append(coerce(args[1], INT4, self.bc))
        return name, value_type, [args[0], *rest]

    def _sort_item(self, node: dict) -> tuple[E.Expr, bool, bool]:
        sort = node["SortBy"]
        expr = resolve_unknown(self.bind(sort["node"]), self.bc)
        desc = sort.get("sortby_dir") == "SORTBY_DESC"
        nulls = sort.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
        nulls_first = desc if nulls == "SORTBY_NULLS_DEFAULT" else nulls == "SORTBY_NULLS_FIRST"
        return expr, desc, nulls_first

    # -- subqueries -------------------------------------------------------------------

    def b_SubLink(self, n: dict) -> E.Expr:
        if self.bind_subquery is None:
            raise SqlError("0A000", "subqueries are not supported here")
        link = n.get("subLinkType", "EXPR_SUBLINK")
        # An aggregate inside the subquery over this level's columns is computed
        # here, if the clause being bound here allows aggregates.
        saved_level, self.scope.level = self.scope.level, self.level
        try:
            query = self.bind_subquery(n["subselect"], self.scope)
        finally:
            self.scope.level = saved_level
        correlated = bool(query.outer_refs)
        columns = query.output_types()
        if link == "EXISTS_SUBLINK":
            return E.SubLink("exists", query, BOOL, correlated=correlated)
        if link == "EXPR_SUBLINK":
            if len(columns) != 1:
                raise SqlError("42601", "subquery must return only one column")
            self.bc.sublink_names[id(n)] = (n, query.names[0])
            return E.SubLink("scalar", query, columns[0], correlated=correlated)
        if link == "ARRAY_SUBLINK":
            if len(columns) != 1:
                raise SqlError("42601", "subquery must return only one column")
            return E.SubLink("array", query, array_of(columns[0]), correlated=correlated)
        if link == "ROWCOMPARE_SUBLINK":
            return self.row_compare_sublink(n, query, correlated)
        if link in ("ANY_SUBLINK", "ALL_SUBLINK") and (len(columns) > 1 or is_row_node(n.get("testexpr"))):
            return self._row_sublink(n, query, columns, correlated, link == "ALL_SUBLINK")
        if link in ("ANY_SUBLINK", "ALL_SUBLINK"):
            test = self.bind(n["testexpr"])
            op_names = string_list(n.get("operName")) or ["="]
            resolved = resolve_operator(op_names[-1], test.type, columns[0])
            test = coerce(test, resolved.arg_types[0], self.bc)
            if resolved.arg_types[1] != columns[0]:
                cast = find_cast(columns[0], resolved.arg_types[1], "implicit")
                if cast is None:
                    raise SqlError("42883", f"operator does not exist: {format_type(test.type.base)} {op_names[-1]} {format_type(columns[0].base)}")
                compare = _compose_cast(resolved.impl, cast.fn, self.bc)
            else:
                compare = resolved.impl
            kind = "all" if link == "ALL_SUBLINK" else "any"
            return E.SubLink(kind, query, BOOL, test=test, op=compare, correlated=correlated)
        raise SqlError("0A000", f"{link} subqueries are not supported")


async def _nextval(rc, oid):
    if oid is None:
        return None
    catalog = await rc.session.catalog_for(rc.txn)
    check_sequence(catalog, rc.session.ctx.user, oid, "nextval")
    return await rc.session.sequences.nextval(rc.session, catalog, oid)


async def _currval(rc, oid):
    if oid is None:
        return None
    catalog = await rc.session.catalog_for(rc.txn)
    check_sequence(catalog, rc.session.ctx.user, oid, "currval")
    return rc.session.sequences.currval(catalog, oid)


async def _lastval(rc):
    return rc.session.sequences.lastval()


async def _setval(rc, oid, value, is_called=True):
    if oid is None or value is None:
        return None
    catalog = await rc.session.catalog_for(rc.txn)
    check_sequence(catalog, rc.session.ctx.user, oid, "setval")
    return await rc.session.sequences.setval(rc.session, catalog, oid, value, is_called is not False)


_SEQUENCE_FUNCTIONS = {"nextval": _nextval, "currval": _currval, "lastval": _lastval, "setval": _setval}


def _check_parameterless(name: str, args: list, star: bool) -> None:
    """An aggregate without arguments is called with `*` (PostgreSQL's ParseFuncOrColumn)."""
    if not args and not star:
        raise SqlError("42809", f"{name}(*) must be used to call a parameterless aggregate function")


def _aggregate_depth(inputs: list[E.Expr], chain: list[Scope]) -> int:
    """How many levels up the innermost column an aggregate's inputs read lives
    (PostgreSQL's find_minimum_var_level; 0 when they read none)."""
    depth: int | None = None
    for expr in inputs:
        for node in E.walk(expr):
            if isinstance(node, E.ColumnRef):
                return 0
            if isinstance(node, E.OuterRef):
                cids: Any = (node.cid,)
            elif isinstance(node, E.SubLink):
                cids = node.query.outer_refs
            else:
                continue
            for cid in cids:
                found = next((i for i, scope in enumerate(chain) if scope.owns(cid)), 0)
                depth = found if depth is None else min(depth, found)
    return depth or 0


def _aggregate_in(inputs: list[E.Expr], agg_cids: set[int]) -> int | None:
    """An aggregate of `agg_cids` that `inputs` read (directly or in a subquery), if any."""
    if not agg_cids:
        return None
    for expr in inputs:
        for node in E.walk(expr):
            if isinstance(node, E.ColumnRef) and node.cid in agg_cids:
                return node.cid
            if isinstance(node, E.SubLink):
                found = next((c for c in node.query.outer_refs if c in agg_cids), None)
                if found is not None:
                    return found
    return None


def _row_compare(ops: list, negate_all: bool):
    """(a, b) = (x, y) over rows: AND of the column comparisons, with 3VL."""

    def compare(left: tuple, right: tuple) -> bool | None:
        unknown = False
        for op, a, b in zip(ops, left, right, strict=True):
            result = None if a is None or b is None else op(a, b)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return compare


SetReturning = E.SetReturning
_SetReturning = E.SetReturning


def _compose_cast(compare, cast_fn, bc):
    ctx = bc.eval_ctx

    def compare_after_cast(left, right):
        return compare(left, cast_fn(right, ctx))

    return compare_after_cast


def _subscript(array: list, *indexes: int) -> Any:
    """array[i][j]...: the element, or NULL if an index is NULL or out of range or
    the number of subscripts is not the array's number of dimensions."""
    value: Any = array
    for index in indexes:
        if type(value) is not list or index is None or not 1 <= index <= len(value):
            return None
        value = value[index - 1]
    return None if type(value) is list else value


def _subscripted(arg: E.Expr, indexes: list[E.Expr]) -> E.Expr:
    if not indexes:
        return arg
    assert arg.type.elem is not None
    call = E.Call("[]", _subscript, (arg, *indexes), arg.type.elem, strict=False)
    indexes.clear()
    return call


def _multidimensional_array(*items: list | None) -> list:
    """ARRAY[sub, sub, ...]: the sub-arrays must have the same dimensions; NULL
    or empty ones make an empty array only if all are (ExecEvalArrayExpr)."""
    present = [item for item in items if item]
    if not present:
        return []
    if len(present) != len(items) or len({repr(_dimensions(item)) for item in present}) != 1:
        raise SqlError("2202E", "multidimensional arrays must have array expressions with matching dimensions")
    return list(present)


def _dimensions(value: list) -> list[int]:
    out = []
    while type(value) is list:
        out.append(len(value))
        value = value[0] if value else None
    return out


def assert_no_sets(expr: E.Expr) -> None:
    for node in E.walk(expr):
        if isinstance(node, _SetReturning):
            raise SqlError("0A000", "set-returning functions must appear at the top level of a select list")

