"""Which user function a call resolves to (qp/bind/routines.py), without a server:
overloads chosen by PostgreSQL's rules, DEFAULTs and named arguments, VARIADIC,
built-ins first for their own signatures, and the errors when nothing (or more
than one thing) fits."""

from __future__ import annotations

import json

import pytest

from qp.bind.routines import resolve_routine, result_type
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.types import INT4, INT8, NUMERIC, RECORD, TEXT, UNKNOWN

INT4_ARRAY_OID = 1007
_DEFAULT = json.dumps({"A_Const": {"ival": {"ival": 1}}})


def _catalog(*functions: FunctionDef) -> CatalogSnapshot:
    return CatalogSnapshot(version=1, functions={f.oid: f for f in functions})


def _f(
    oid: int, name: str, params: list[tuple[str, str, int]], ret: int = 23, defaults: int = 0
) -> FunctionDef:
    return FunctionDef(oid, name, tuple(params), ret, src="SELECT 1", defaults=(_DEFAULT,) * defaults)


OVERLOADED = _catalog(
    _f(20001, "ovl", [("x", "i", 23)]),
    _f(20002, "ovl", [("x", "i", 25)]),
    _f(20003, "ovl", [("x", "i", 1700)]),
)


@pytest.mark.parametrize(("args", "oid"), [
    ([INT4], 20001), ([TEXT], 20002), ([NUMERIC], 20003), ([UNKNOWN], 20002), ([INT8], 20003),
])  # fmt: skip
def test_overloads_resolve_as_postgres(args, oid):
    function, positions, _ = resolve_routine(OVERLOADED, ["ovl"], args, [])
    assert function.oid == oid
    assert positions == [0]


def test_no_match_and_ambiguity():
    with pytest.raises(SqlError) as info:
        resolve_routine(OVERLOADED, ["ovl"], [INT4, INT4], [])
    assert info.value.sqlstate == "42883"
    ambiguous = _catalog(_f(20001, "amb", [("x", "i", 23), ("y", "i", 25)]),
                         _f(20002, "amb", [("x", "i", 25), ("y", "i", 23)]))  # fmt: skip
    with pytest.raises(SqlError) as info:
        resolve_routine(ambiguous, ["amb"], [UNKNOWN, UNKNOWN], [])
    assert info.value.sqlstate == "42725"


def test_defaults_and_named_arguments():
    catalog = _catalog(_f(20001, "greet", [("who", "i", 25), ("greeting", "i", 25)], 25, defaults=1))
    function, positions, _ = resolve_routine(catalog, ["greet"], [UNKNOWN], [])
    assert (function.oid, positions) == (20001, [0])
    _, positions, _ = resolve_routine(catalog, ["greet"], [UNKNOWN, UNKNOWN], ["greeting", "who"])
    assert positions == [1, 0]
    for named in (["nobody"], ["greeting"]):  # an unknown name; a parameter without a value
        with pytest.raises(SqlError) as info:
            resolve_routine(catalog, ["greet"], [UNKNOWN], named)
        assert info.value.sqlstate == "42883"


def test_variadic_packs_trailing_arguments():
    catalog = _catalog(_f(20001, "vsum", [("xs", "v", INT4_ARRAY_OID)]))
    function, positions, declared = resolve_routine(catalog, ["vsum"], [INT4, INT4, INT4], [])
    assert positions == [0, 0, 0]
    assert declared == [INT4, INT4, INT4]


def test_builtins_first_for_their_own_signature():
    catalog = _catalog(_f(20001, "lower", [("x", "i", 25)], 25), _f(20002, "lower", [("x", "i", 23)], 25))
    assert resolve_routine(catalog, ["lower"], [TEXT], []) is None  # pg_catalog.lower(text)
    function, _, _ = resolve_routine(catalog, ["lower"], [INT4], [])
    assert function.oid == 20002
    assert resolve_routine(catalog, ["upper"], [TEXT], []) is None  # no user function of that name


def test_out_parameters_make_the_result_record():
    function = _f(20001, "pair", [("x", "i", 23), ("a", "o", 23), ("b", "o", 25)], RECORD.oid)
    rtype = result_type(function)
    assert [name for name, _ in rtype.fields] == ["a", "b"]
    assert [t.oid for _, t in rtype.fields] == [23, 25]
