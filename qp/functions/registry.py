"""The function/operator/aggregate catalog and PostgreSQL's overload
resolution.

Implementation modules register each overload with the signature pg_proc /
pg_operator give it (so the candidate sets, and hence PG's choice among them,
are the same) and an implementation. Resolution follows parse_func.c and
parse_oper.c: exact match (for operators, an unknown side takes the other
side's type), then candidates reachable by implicit coercion, then
func_select_candidate's heuristics (most exact matches, preferred types,
category of unknown literals, the "all known args are one type" last gasp),
then polymorphic type resolution (anyelement/anyarray/anycompatible...).

An overload gives either `impl` (a plain callable) or `factory(arg_types,
return_type)` that builds the callable once the actual types are known
(for "any" and polymorphic arguments: text output of the argument, element
comparisons, ...). Results are cached per (name, argument types).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from qp.errors import SqlError
from qp.types import core as C
from qp.types.casts import can_coerce, common_type, find_cast
from qp.types.core import SqlType, array_of, format_type

__all__ = ["Resolved", "ResolvedAggregate", "FuncDef", "AggDef", "register_function", "register_operator",
           "register_aggregate", "resolve_function", "resolve_operator", "resolve_aggregate", "is_aggregate",
           "select_candidates"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved function or operator call (see CONTRACT.md)."""

    impl: Callable[..., Any]
    return_type: SqlType
    arg_types: list[SqlType]
    strict: bool = True
    volatility: str = "i"
    needs_context: bool = False
    returns_set: bool = False
    name: str = ""


@dataclass(frozen=True, slots=True)
class ResolvedAggregate:
    """A resolved aggregate: `make(ctx=None)` returns a fresh accumulator
    with .step(*args) and .final(); step is called only with non-NULL
    arguments when `strict`."""

    return_type: SqlType
    arg_types: list[SqlType]
    make: Callable[..., Any]
    strict: bool = True
    name: str = ""


@dataclass(slots=True)
class FuncDef:
    name: str
    args: tuple[SqlType, ...]
    ret: SqlType
    impl: Callable[..., Any] | None = None
    factory: Callable[[list[SqlType], SqlType], Callable[..., Any]] | None = None
    strict: bool = True
    volatility: str = "i"
    needs_context: bool = False
    returns_set: bool = False
    variadic: bool = False  # last declared arg is VARIADIC (its element type, or ANY)
    ret_factory: Callable[[list[SqlType]], SqlType] | None = None


@dataclass(slots=True)
class AggDef:
    name: str
    args: tuple[SqlType, ...]
    ret: SqlType
    factory: Callable[[list[SqlType], SqlType], Callable[..., Any]]
    strict: bool = True
    extra: dict = field(default_factory=dict)


FUNCTIONS: dict[str, list[FuncDef]] = {}
OPERATORS: dict[tuple[str, str], list[FuncDef]] = {}
AGGREGATES: dict[str, list[AggDef]] = {}


def register_function(name: str, args: list[SqlType] | tuple[SqlType, ...], ret: SqlType,
                      impl: Callable[..., Any] | None = None, *,
                      factory: Callable[[list[SqlType], SqlType], Callable[..., Any]] | None = None,
                      strict: bool = True, volatility: str = "i", ctx: bool = False, srf: bool = False,
                      variadic: bool = False,
                      ret_factory: Callable[[list[SqlType]], SqlType] | None = None) -> None:
    assert impl is not None or factory is not None, name
    FUNCTIONS.setdefault(name, []).append(
        FuncDef(name, tuple(args), ret, impl, factory, strict, volatility, ctx, srf, variadic, ret_factory))


def register_operator(name: str, left: SqlType | None, right: SqlType, ret: SqlType,
                      impl: Callable[..., Any] | None = None, *,
                      factory: Callable[[list[SqlType], SqlType], Callable[..., Any]] | None = None,
                      volatility: str = "i", ctx: bool = False, strict: bool = True) -> None:
    kind = "l" if left is None else "b"
    args = (right,) if left is None else (left, right)
    assert impl is not None or factory is not None, name
    OPERATORS.setdefault((name, kind), []).append(
        FuncDef(name, args, ret, impl, factory, strict, volatility, ctx))


def register_aggregate(name: str, args: list[SqlType] | tuple[SqlType, ...], ret: SqlType,
                       factory: Callable[[list[SqlType], SqlType], Callable[..., Any]], *,
                       strict: bool = True) -> None:
    AGGREGATES.setdefault(name, []).append(AggDef(name, tuple(args), ret, factory, strict))


def is_aggregate(name: str) -> bool:
    return name.lower() in AGGREGATES


# --- resolution ----------------------------------------------------------------------

_UNK = C.UNKNOWN.oid
_ANY_OIDS = {C.ANYELEMENT.oid, C.ANYARRAY.oid, C.ANYNONARRAY.oid}
_ANYCOMPAT_OIDS = {C.ANYCOMPATIBLE.oid, C.ANYCOMPATIBLEARRAY.oid, C.ANYCOMPATIBLENONARRAY.oid}


def _expand(fd: FuncDef, nargs: int) -> tuple[SqlType, ...] | None:
    """The declared types for a call with nargs arguments (variadic expanded)."""
    n = len(fd.args)
    if not fd.variadic:
        return fd.args if n == nargs else None
    if nargs < n:
        return None
    last = fd.args[-1]
    elem = last if last.oid == C.ANY.oid else (last.elem or last)
    return fd.args[:-1] + (elem,) * (nargs - n + 1)


def _is_poly(t: SqlType) -> bool:
    return t.oid in C.POLYMORPHIC


def _poly_consistent(decl: tuple[SqlType, ...], actual: list[SqlType]) -> bool:
    """check_generic_type_consistency (simplified to the families we use)."""
    elem: SqlType | None = None
    compat: list[SqlType] = []
    for d, a in zip(decl, actual, strict=False):
        o = d.oid
        if o not in C.POLYMORPHIC or a.oid == _UNK:
            continue
        if o in _ANY_OIDS:
            e = a.elem if o == C.ANYARRAY.oid else a
            if o == C.ANYARRAY.oid and not a.is_array:
                return False
            if o == C.ANYNONARRAY.oid and a.is_array:
                return False
            assert e is not None
            if elem is None:
                elem = e.base
            elif elem != e.base:
                return False
        else:
            if o == C.ANYCOMPATIBLEARRAY.oid:
                if not a.is_array:
                    return False
                assert a.elem is not None
                compat.append(a.elem)
            else:
                if o == C.ANYCOMPATIBLENONARRAY.oid and a.is_array:
                    return False
                compat.append(a)
    if compat:
        try:
            common_type(compat, "")
        except SqlError:
            return False
    return True


def _matches(decl: tuple[SqlType, ...], actual: list[SqlType]) -> bool:
    for d, a in zip(decl, actual, strict=False):
        if d == a or d.oid == C.ANY.oid:
            continue
        if not can_coerce(a, d):
            return False
    return _poly_consistent(decl, actual)


def _select_candidate(actual: list[SqlType], cands: list[tuple[FuncDef, tuple[SqlType, ...]]]
                      ) -> list[tuple[FuncDef, tuple[SqlType, ...]]]:
    """func_select_candidate: narrow ambiguous candidates; returns the survivors."""
    nargs = len(actual)
    base = [a.base for a in actual]
    nunknowns = sum(1 for a in base if a.oid == _UNK)

    def keep_max(score: Callable[[tuple[SqlType, ...]], int]) -> None:
        nonlocal cands
        scores = [score(decl) for _, decl in cands]
        best = max(scores)
        cands = [c for c, s in zip(cands, scores, strict=False) if s == best]

    keep_max(lambda decl: sum(1 for i in range(nargs) if base[i].oid != _UNK and decl[i].oid == base[i].oid))
    if len(cands) == 1:
        return cands
    cats = [b.category for b in base]
    keep_max(lambda decl: sum(1 for i in range(nargs) if base[i].oid != _UNK and (
        decl[i].oid == base[i].oid or (decl[i].preferred and decl[i].category == cats[i]))))
    if len(cands) == 1:
        return cands
    if nunknowns == 0:
        return cands
    resolved = True
    slot_cat: dict[int, str] = {}
    slot_pref: dict[int, bool] = {}
    for i in range(nargs):
        if base[i].oid != _UNK:
            continue
        cat = None
        pref = False
        conflict = False
        for _, decl in cands:
            t = decl[i]
            if cat is None:
                cat, pref = t.category, t.preferred
            elif t.category == cat:
                pref = pref or t.preferred
            elif t.category == "S":
                cat, pref = "S", t.preferred
            else:
                conflict = True
        if conflict and cat != "S":
            resolved = False
            break
        slot_cat[i] = cat or ""
        slot_pref[i] = pref
    if resolved:
        kept = []
        for c in cands:
            decl = c[1]
            ok = True
            for i in slot_cat:
                if decl[i].category != slot_cat[i] or (slot_pref[i] and not decl[i].preferred):
                    ok = False
                    break
            if ok:
                kept.append(c)
        if kept:
            cands = kept
        if len(cands) == 1:
            return cands
    if nunknowns < nargs:
        known = {b.oid for b in base if b.oid != _UNK}
        if len(known) == 1:
            kt = next(b for b in base if b.oid != _UNK)
            guess = [kt] * nargs
            match = [c for c in cands if _matches(c[1], guess)]
            if len(match) == 1:
                return match
    return cands


def _resolve_poly(decl: tuple[SqlType, ...], actual: list[SqlType], ret: SqlType
                  ) -> tuple[list[SqlType], SqlType]:
    """enforce_generic_type_consistency: the concrete argument and result types."""
    elem: SqlType | None = None
    compat: list[SqlType] = []
    has_any = has_compat = False
    for d, a in zip(decl, actual, strict=False):
        o = d.oid
        if o in _ANY_OIDS:
            has_any = True
            if a.oid == _UNK:
                continue
            e = a.elem if o == C.ANYARRAY.oid else a
            if elem is None and e is not None:
                elem = e.base
        elif o in _ANYCOMPAT_OIDS:
            has_compat = True
            if a.oid == _UNK:
                continue
            compat.append(a.elem if o == C.ANYCOMPATIBLEARRAY.oid and a.elem is not None else a)
    if has_any and elem is None:
        if ret.oid in _ANY_OIDS or any(d.oid in _ANY_OIDS for d in decl):
            raise SqlError("42804", "could not determine polymorphic type because input has type unknown")
    celem: SqlType | None = None
    if has_compat:
        celem = common_type(compat, "") if compat else C.TEXT
        celem = celem.base

    def subst(t: SqlType) -> SqlType:
        o = t.oid
        if o == C.ANYELEMENT.oid or o == C.ANYNONARRAY.oid:
            assert elem is not None
            return elem
        if o == C.ANYARRAY.oid:
            assert elem is not None
            return array_of(elem)
        if o == C.ANYCOMPATIBLE.oid or o == C.ANYCOMPATIBLENONARRAY.oid:
            assert celem is not None
            return celem
        if o == C.ANYCOMPATIBLEARRAY.oid:
            assert celem is not None
            return array_of(celem)
        return t

    args = []
    for d, a in zip(decl, actual, strict=False):
        if d.oid == C.ANY.oid or d.oid == C.RECORD.oid and a.oid == C.RECORD.oid:
            args.append(a)  # "any", and a record argument keeps its fields (row_to_json names them)
        else:
            args.append(subst(d))
    rt = subst(ret) if ret.oid in C.POLYMORPHIC else ret
    return args, rt


def _finish(fd: FuncDef, decl: tuple[SqlType, ...], actual: list[SqlType]) -> Resolved:
    args, ret = _resolve_poly(decl, actual, fd.ret)
    if fd.ret_factory is not None:
        ret = fd.ret_factory(args)
    impl = fd.impl if fd.factory is None else fd.factory(args, ret)
    assert impl is not None
    return Resolved(impl, ret, args, fd.strict, fd.volatility, fd.needs_context, fd.returns_set, fd.name)


def _candidates(defs: list[FuncDef], actual: list[SqlType]) -> list[tuple[FuncDef, tuple[SqlType, ...]]]:
    out = []
    for fd in defs:
        decl = _expand(fd, len(actual))
        if decl is not None:
            out.append((fd, decl))
        if fd.variadic and len(fd.args) == len(actual) and fd.args[-1].oid != C.ANY.oid:
            # the unexpanded form: f(..., VARIADIC array)
            out.append((_unexpanded(fd), fd.args))
    return out


def _unexpanded(fd: FuncDef) -> FuncDef:
    """f(..., VARIADIC arr): the same function taking the variadic array as
    one argument (typed variadics are registered with a plain impl)."""
    assert fd.impl is not None, f"variadic {fd.name} needs a plain impl"
    f = fd.impl

    def splat(*a: Any) -> Any:
        *head, arr = a
        return f(*head, *arr)

    return FuncDef(fd.name, fd.args, fd.ret, splat, None, fd.strict, fd.volatility, fd.needs_context,
                   fd.returns_set, False, fd.ret_factory)


def _resolve(defs: list[FuncDef], actual: list[SqlType], is_operator: bool) -> tuple[list, bool]:
    """Returns (survivors, ambiguous?) as a list of (FuncDef, declared types)."""
    cands = _candidates(defs, actual)
    base = [a.base for a in actual]
    # exact match (for a binary operator, an unknown side takes the other's type)
    probe = list(base)
    if is_operator and len(probe) == 2:
        if probe[0].oid == _UNK and probe[1].oid != _UNK:
            probe[0] = probe[1]
        elif probe[1].oid == _UNK and probe[0].oid != _UNK:
            probe[1] = probe[0]
    for fd, decl in cands:
        if all(d.oid == p.oid and not _is_poly(d) for d, p in zip(decl, probe, strict=False)):
            return [(fd, decl)], False
    matching = [(fd, decl) for fd, decl in cands if _matches(decl, actual)]
    if len(matching) <= 1:
        return matching, False
    survivors = _select_candidate(actual, matching)
    return survivors, len(survivors) > 1


def select_candidates(defs: list[FuncDef], actual: list[SqlType]) -> tuple[list, bool]:
    """PostgreSQL's choice among `defs` for arguments of these types: (survivors as
    (FuncDef, declared types), ambiguous?). For candidates from outside the registry
    (user functions, qp/bind/routines.py), resolved with the built-ins' rules."""
    return _resolve(defs, actual, False)


def _type_list(types: list[SqlType]) -> str:
    return ", ".join(format_type(t.base) for t in types)


@lru_cache(maxsize=8192)
def _resolve_function_cached(name: str, args: tuple[SqlType, ...]) -> Resolved:
    actual = list(args)
    defs = FUNCTIONS.get(name)
    if defs:
        found, ambiguous = _resolve(defs, actual, False)
        if ambiguous:
            raise SqlError("42725", f"function {name}({_type_list(actual)}) is not unique",
                           hint="Could not choose a best candidate function. You might need to add "
                                "explicit type casts.")
        if found:
            fd, decl = found[0]
            return _finish(fd, decl, actual)
    coercion = _function_style_cast(name, actual)
    if coercion is not None:
        return coercion
    if name in AGGREGATES:
        raise SqlError("42809", f"aggregate function {name} called without aggregate context")
    raise SqlError("42883", f"function {name}({_type_list(actual)}) does not exist",
                   hint="No function matches the given name and argument types. You might need to add "
                        "explicit type casts.")


def _function_style_cast(name: str, actual: list[SqlType]) -> Resolved | None:
    """int4(x), text(x), date(ts): a one-argument call named after a type
    (its pg_type name) is a cast. PG reaches the function casts through
    their pg_proc entries (int4(numeric)...) and the others through
    func_get_detail's coercion rule; either way the result is the cast."""
    if len(actual) != 1:
        return None
    target = C._BY_NAME.get(name)
    if target is None or target.category == "P":
        return None
    src = actual[0]
    cast = find_cast(src, target, "explicit")
    if cast is None:
        return None
    if src.oid == C.RECORD.oid and target.category == "S":
        return None
    fn = cast.fn
    return Resolved(lambda ctx, v: fn(v, ctx), target, [src], True, "s", True, False, name)


def resolve_function(name: str, args: list[SqlType]) -> Resolved:
    """Resolve a call of `name` (lower-case, without pg_catalog.) with
    arguments of these types; raises 42883 / 42725 like PostgreSQL."""
    return _resolve_function_cached(name.lower(), tuple(args))


@lru_cache(maxsize=8192)
def _resolve_operator_cached(name: str, left: SqlType | None, right: SqlType) -> Resolved:
    kind = "l" if left is None else "b"
    actual = [right] if left is None else [left, right]
    defs = OPERATORS.get((name, kind))
    if defs:
        found, ambiguous = _resolve(defs, actual, True)
        if ambiguous:
            raise SqlError("42725", f"operator is not unique: {_op_text(name, left, right)}",
                           hint="Could not choose a best candidate operator. You might need to add "
                                "explicit type casts.")
        if found:
            fd, decl = found[0]
            return _finish(fd, decl, actual)
    raise SqlError("42883", f"operator does not exist: {_op_text(name, left, right)}",
                   hint="No operator matches the given name and argument types. You might need to add "
                        "explicit type casts.")


def _op_text(name: str, left: SqlType | None, right: SqlType) -> str:
    # PostgreSQL names the argument types without their typmods here (format_type_be).
    if left is None:
        return f"{name} {format_type(right.base)}"
    return f"{format_type(left.base)} {name} {format_type(right.base)}"


def resolve_operator(name: str, left: SqlType | None, right: SqlType) -> Resolved:
    """Resolve `left name right` (left None for a prefix operator); `!=` is
    `<>`, as PG's lexer makes it."""
    if name == "!=":
        name = "<>"
    return _resolve_operator_cached(name, left, right)


@lru_cache(maxsize=4096)
def _resolve_aggregate_cached(name: str, args: tuple[SqlType, ...], star: bool) -> ResolvedAggregate:
    defs = AGGREGATES.get(name)
    if defs is None:
        raise SqlError("42883", f"function {name}({_type_list(list(args))}) does not exist",
                       hint="No function matches the given name and argument types. You might need to add "
                            "explicit type casts.")
    if star:
        for ad in defs:
            if ad.extra.get("star") or (ad.name == "count" and not ad.args):
                return ResolvedAggregate(ad.ret, [], ad.factory([], ad.ret), False, name)
        raise SqlError("42809", f"{name}(*) must be used to call a parameterless aggregate function")
    fdefs = [FuncDef(ad.name, ad.args, ad.ret, None, ad.factory, ad.strict) for ad in defs]
    actual = list(args)
    found, ambiguous = _resolve(fdefs, actual, False)
    if ambiguous:
        raise SqlError("42725", f"function {name}({_type_list(actual)}) is not unique",
                       hint="Could not choose a best candidate function. You might need to add "
                            "explicit type casts.")
    if not found:
        raise SqlError("42883", f"function {name}({_type_list(actual)}) does not exist",
                       hint="No function matches the given name and argument types. You might need to add "
                            "explicit type casts.")
    fd, decl = found[0]
    argtypes, ret = _resolve_poly(decl, actual, fd.ret)
    assert fd.factory is not None
    make = fd.factory(argtypes, ret)
    return ResolvedAggregate(ret, argtypes, make, fd.strict, name)


def resolve_aggregate(name: str, args: list[SqlType], star: bool = False) -> ResolvedAggregate:
    """Resolve an aggregate call; `star` for count(*)."""
    return _resolve_aggregate_cached(name.lower(), tuple(args), star)
