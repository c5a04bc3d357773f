"""Functions named in DDL: a function found by its signature (an ObjectWithArgs), the
schema and name a function is created under, parameter types and the option words.

DSQL keeps user functions in the one user schema; `function_schema_and_name` says so.
"""

from __future__ import annotations

from qp.bind.routines import signature_text
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA
from qp.types import SqlType, resolve_type_name

PARAMETER_MODES = {"FUNC_PARAM_IN": "i", "FUNC_PARAM_DEFAULT": "i", "FUNC_PARAM_OUT": "o", "FUNC_PARAM_INOUT": "b",
                   "FUNC_PARAM_VARIADIC": "v", "FUNC_PARAM_TABLE": "t"}  # fmt: skip
VOLATILITY = {"immutable": "i", "stable": "s", "volatile": "v"}
PARALLEL = {"safe": "s", "restricted": "r", "unsafe": "u"}


def function_schema_and_name(names: list[str]) -> tuple[str, str]:
    if len(names) == 1:
        return USER_SCHEMA, names[0]
    if len(names) > 2:
        raise SqlError("42601", f"improper qualified name (too many dotted names): {'.'.join(names)}")
    if names[0] != USER_SCHEMA:
        raise SqlError("3F000", f'schema "{names[0]}" does not exist')
    return names[0], names[1]


def parameter_type(type_name: dict) -> SqlType:
    names = string_list(type_name.get("names"))
    if type_name.get("pct_type"):
        raise SqlError("0A000", "%TYPE references are not supported")
    return resolve_type_name(names, [], len(type_name.get("arrayBounds", ())))


# -- finding a function by its signature ---------------------------------------------


def find_function(
    catalog: CatalogSnapshot, owa: dict, what: str, missing_ok: bool = False
) -> FunctionDef | None:
    """The function an ObjectWithArgs names (42883 if none, 42725 if it is ambiguous)."""
    schema, name = function_schema_and_name(string_list(owa.get("objname")))
    candidates = catalog.functions_by_name.get((schema, name), [])
    if owa.get("args_unspecified"):
        if len(candidates) > 1:
            raise SqlError("42725", f'function name "{name}" is not unique',
                           hint="Specify the argument list to select the function unambiguously.")  # fmt: skip
        if not candidates:
            if missing_ok:
                return None
            raise SqlError("42883", f'could not find a function named "{name}"')
        return candidates[0]
    types = []
    for node in owa.get("objfuncargs", ()):
        p = node["FunctionParameter"]
        if PARAMETER_MODES[p.get("mode", "FUNC_PARAM_DEFAULT")] in ("o", "t"):
            continue  # OUT parameters are not part of the signature
        try:
            types.append(parameter_type(p["argType"]))
        except SqlError as exc:
            if missing_ok and exc.sqlstate == "42704":
                return None  # DROP ... IF EXISTS: its notice names the missing type
            raise
    oids = tuple(t.oid for t in types)
    for function in candidates:
        if function.input_oids == oids:
            return function
    if missing_ok:
        return None
    raise SqlError("42883", f"{what} {signature_text(name, types)} does not exist")
