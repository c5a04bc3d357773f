"""Which user function a call resolves to (qp/bind/routines.py), without a server:
overloads chosen by PostgreSQL's rules, DEFAULTs and named arguments, VARIADIC,
built-ins first for their own signatures, and the errors when nothing (or more
than one thing) fits."""

from __future__ import annotations

import json

import pytest

from qp.bind.routines import resolve_routine, result_type, user_functions
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.pgcatalog.search_path import SearchPath
from qp.types import INT4, INT8, NUMERIC, RECORD, TEXT, UNKNOWN

INT4_ARRAY_OID = 1007
_DEFAULT = json.dumps({"A_Const": {"ival": {"ival": 1}}})


# PostgreSQL's default path as a session sees it: pg_catalog first, then public.
_PATH = SearchPath(("pg_catalog", "public"), ("public",))


def _resolve(catalog: CatalogSnapshot, names: list[str], args: list, named: list[str]):
    """resolve_routine as the binder calls it: among the functions the path finds."""
    return resolve_routine(catalog, names, args, named, _PATH, user_functions(catalog, names, _PATH))


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
    function, positions, _ = _resolve(OVERLOADED, ["ovl"], args, [])
    assert function.oid == oid
    assert positions == [0]


def test_no_match_and_ambiguity():
    with pytest.raises(SqlError) as info:
        _resolve(OVERLOADED, ["ovl"], [INT4, INT4], [])
    assert info.value.sqlstate == "42883"
    ambiguous = _catalog(_f(20001, "amb", [("x", "i", 23), ("y", "i", 25)]),
                         _f(20002, "amb", [("x", "i", 25), ("y", "i", 23)]))  # fmt: skip
    with pytest.raises(SqlError) as info:
        _resolve(ambiguous, ["amb"], [UNKNOWN, UNKNOWN], [])
    assert info.value.sqlstate == "42725"


def test_defaults_and_named_arguments():
    catalog = _catalog(_f(20001, "greet", [("who", "i", 25), ("greeting", "i", 25)], 25, defaults=1))
    function, positions, _ = _resolve(catalog, ["greet"], [UNKNOWN], [])
    assert (function.oid, positions) == (20001, [0])
    _, positions, _ = _resolve(catalog, ["greet"], [UNKNOWN, UNKNOWN], ["greeting", "who"])
    assert positions == [1, 0]
    for named in (["nobody"], ["greeting"]):  # an unknown name; a parameter without a value
        with pytest.raises(SqlError) as info:
            _resolve(catalog, ["greet"], [UNKNOWN], named)
        assert info.value.sqlstate == "42883"


def test_variadic_packs_trailing_arguments():
    catalog = _catalog(_f(20001, "vsum", [("xs", "v", INT4_ARRAY_OID)]))
    function, positions, declared = _resolve(catalog, ["vsum"], [INT4, INT4, INT4], [])
    assert positions == [0, 0, 0]
    assert declared == [INT4, INT4, INT4]


def test_builtins_first_for_their_own_signature():
    catalog = _catalog(_f(20001, "lower", [("x", "i", 25)], 25), _f(20002, "lower", [("x", "i", 23)], 25))
    assert _resolve(catalog, ["lower"], [TEXT], []) is None  # pg_catalog.lower(text)
    function, _, _ = _resolve(catalog, ["lower"], [INT4], [])
    assert function.oid == 20002
    assert _resolve(catalog, ["upper"], [TEXT], []) is None  # no user function of that name


def test_out_parameters_make_the_result_record():
    function = _f(20001, "pair", [("x", "i", 23), ("a", "o", 23), ("b", "o", 25)], RECORD.oid)
    rtype = result_type(function)
    assert [name for name, _ in rtype.fields] == ["a", "b"]
    assert [t.oid for _, t in rtype.fields] == [23, 25]
