"""User functions (qp/catalog/stored.py, FunctionDef) as PostgreSQL's catalogs show them.

pg_proc rows, and the text of pg_get_function_arguments / _identity_arguments /
_result and pg_get_functiondef, in the forms PostgreSQL's ruleutils.c prints
(which is what psql's \\df and \\sf read); and which functions a name finds along
the search path (`path_functions`, `function_visible`), as namespace.c's
FuncnameGetCandidates and FunctionIsVisible decide for the reg* types and
pg_function_is_visible.
"""

from __future__ import annotations

from typing import Any

from qp.catalog.privcheck import object_privs, role_name_of
from qp.catalog.stored import CatalogSnapshot, FunctionDef
from qp.errors import SqlError
from qp.functions.strings import quote_ident
from qp.pgcatalog import builtins
from qp.pgcatalog.ruleutils import expression_text
from qp.pgcatalog.search_path import SearchPath, schema_oids
from qp.types import format_type, type_by_oid

SQL_LANGUAGE_OID = 14  # pg_language's "sql"
PUBLIC_NAMESPACE_OID = 2200
_MODE_WORDS = {"i": "", "o": "OUT ", "b": "INOUT ", "v": "VARIADIC "}
_VOLATILITY_WORDS = {"i": "IMMUTABLE", "s": "STABLE", "v": ""}
_PARALLEL_WORDS = {"s": "PARALLEL SAFE", "r": "PARALLEL RESTRICTED", "u": ""}


def _acl_text(snapshot: CatalogSnapshot, acl) -> list[str] | None:
    """proacl: the aclitems as text (as qp/pgcatalog/privileges.py shows relacl)."""
    if acl is None:
        return None
    return [item.text(lambda oid: role_name_of(snapshot, oid)) for item in acl]


def _named(function: FunctionDef) -> bool:
    return any(p[0] for p in function.params)


def proc_rows(snapshot: CatalogSnapshot) -> list[tuple]:
    out = []
    namespaces = schema_oids(snapshot)
    for f in sorted(snapshot.functions.values(), key=lambda f: f.oid):
        all_in = all(p[1] == "i" for p in f.params)
        privs = object_privs(snapshot, f.oid, "function")  # owner and ACL (qp/catalog/acl.py)
        out.append((
            f.oid, f.name, namespaces.get(f.schema, PUBLIC_NAMESPACE_OID), privs.owner, SQL_LANGUAGE_OID, 100.0,
            1000.0 if f.returns_set else 0.0, _variadic_oid(f), 0, "f", f.security_definer, False, f.strict, f.returns_set,
            f.volatility, f.parallel, len(f.inputs), len(f.defaults), f.return_oid, list(f.input_oids),
            None if all_in else [p[2] for p in f.params], None if all_in else [p[1] for p in f.params],
            [p[0] for p in f.params] if _named(f) else None, None, None, f.src, None,
            None, None, _acl_text(snapshot, privs.acl),
        ))  # fmt: skip
    return out


def _variadic_oid(function: FunctionDef) -> int:
    if not function.variadic:
        return 0
    elem = type_by_oid(function.inputs[-1][2]).elem
    return elem.oid if elem is not None else 0


def _default_text(function: FunctionDef, index: int, ctx: Any) -> str | None:
    first = len(function.inputs) - len(function.defaults)
    if index < first:
        return None
    tree = function.defaults[index - first]
    return expression_text(None, tree, False, ctx, type_by_oid(function.inputs[index][2]))


def function_arguments(function: FunctionDef, ctx: Any, identity: bool = False) -> str:
    """pg_get_function_arguments (with DEFAULTs), or _identity_arguments (inputs' modes and names only)."""
    parts = []
    input_index = 0
    for name, mode, oid in function.params:
        if mode == "t" or identity and mode == "o":
            continue
        text = _MODE_WORDS[mode] + (quote_ident(name) + " " if name else "") + format_type(type_by_oid(oid))
        if mode in ("i", "b", "v"):
            if not identity:
                default = _default_text(function, input_index, ctx)
                if default is not None:
                    text += f" DEFAULT {default}"
            input_index += 1
        parts.append(text)
    return ", ".join(parts)


def function_result(function: FunctionDef) -> str:
    table = [p for p in function.params if p[1] == "t"]
    if table:
        columns = ", ".join(f"{quote_ident(n)} {format_type(type_by_oid(o))}" for n, _, o in table)
        return f"TABLE({columns})"
    shown = format_type(type_by_oid(function.return_oid))
    return f"SETOF {shown}" if function.returns_set else shown


def functiondef(function: FunctionDef, ctx: Any) -> str:
    """pg_get_functiondef: the CREATE OR REPLACE FUNCTION statement that makes it again."""
    lines = [f"CREATE OR REPLACE FUNCTION {quote_ident(function.schema)}.{quote_ident(function.name)}"
             f"({function_arguments(function, ctx)})",
             f" RETURNS {function_result(function)}", " LANGUAGE sql"]  # fmt: skip
    words = [w for w in (_VOLATILITY_WORDS[function.volatility], _PARALLEL_WORDS[function.parallel]) if w]
    if function.strict:
        words.append("STRICT")
    if function.security_definer:
        words.append("SECURITY DEFINER")
    if words:
        lines.append(" " + " ".join(words))
    if function.sql_body is not None:
        raise SqlError(
            "0A000",
            "pg_get_functiondef() of a function with a SQL-standard body (RETURN, BEGIN "
            "ATOMIC) is not supported",
        )
    lines.append(f"AS $function${function.src}$function$")
    return "\n".join(lines) + "\n"


def find_function(snapshot: Any, oid: int) -> FunctionDef | None:
    functions = getattr(snapshot, "functions", None)
    return functions.get(oid) if functions else None


def path_functions(snapshot: Any, path: SearchPath, name: str) -> list[tuple[int, tuple[int, ...]]]:
    """(oid, argument type oids) of every function `name` finds along the path, built-ins
    where pg_catalog is on it, a later schema's hidden by an earlier one's with the same
    argument types (FuncnameGetCandidates)."""
    by_name = getattr(snapshot, "functions_by_name", None) or {}
    out: list[tuple[int, tuple[int, ...]]] = []
    seen: set[tuple[int, ...]] = set()
    for schema in path.searched:
        if schema == "pg_catalog":
            found = [(p.oid, tuple(p.arg_types)) for p in builtins.procs_by_name().get(name, ())]
        else:
            found = [(f.oid, tuple(f.input_oids)) for f in by_name.get((schema, name), ())]
        for oid, args in found:
            if args not in seen:
                seen.add(args)
                out.append((oid, args))
    return out


def function_visible(snapshot: Any, path: SearchPath, function: FunctionDef) -> bool:
    """FunctionIsVisible: its schema is on the path and its name with its argument types
    finds it there, not a function of an earlier schema."""
    if function.schema not in path.searched:
        return False
    return any(oid == function.oid for oid, args in path_functions(snapshot, path, function.name)
               if args == tuple(function.input_oids))  # fmt: skip
