"""Names and oids of catalog objects: the reg* types' input and output.

`'t'::regclass` finds a relation along the search path (42P01 when there is
none); `oid::regclass` prints the relation's name, schema-qualified only when
the bare name would find something else, as PostgreSQL's regclassout does.
regproc does the same for functions, regnamespace for schemas. regtype needs
no catalog (every type is built in); its output is the library's.

`qp.types.text_io` calls `reg_output` / `reg_input` when the statement has a
catalog snapshot (`EvalContext.catalog`); without one it prints oids.
"""

from __future__ import annotations

from typing import Any

from qp.catalog.privcheck import role_name_of, role_named
from qp.catalog.temp_keys import TEMP_NAMESPACE_NAMES
from qp.errors import SqlError
from qp.functions.strings import quote_ident
from qp.pgcatalog import builtins, oids
from qp.pgcatalog.model import CatalogModel, model_for, search_path_of
from qp.pgcatalog.routines import find_function, function_visible, path_functions
from qp.pgcatalog.search_path import SearchPath, schema_names, schema_oids
from qp.types import format_type, type_by_oid
from qp.types.text_io import parse_regtype

REGPROC, REGPROCEDURE, REGCLASS, REGTYPE, REGNAMESPACE, REGROLE = 24, 2202, 2205, 2206, 4089, 4096


def reg_output(type_oid: int, snapshot: Any, value: int, ctx: Any) -> str | None:
    """The text of a reg* value, or None to let the library print it."""
    if type_oid == REGCLASS:
        return regclass_name(model_for(snapshot), value, search_path_of(ctx))
    if type_oid == REGNAMESPACE:
        name = schema_names(snapshot).get(value) or TEMP_NAMESPACE_NAMES.get(value)
        return None if name is None else quote_ident(name)
    if type_oid == REGPROC:
        user = find_function(snapshot, value)
        if user is not None:  # regprocout: qualified unless the bare name finds it alone
            found = path_functions(snapshot, search_path_of(ctx), user.name)
            if len(found) == 1 and found[0][0] == user.oid:
                return quote_ident(user.name)
            return f"{quote_ident(user.schema)}.{quote_ident(user.name)}"
        proc = builtins.proc_by_oid().get(value)
        return None if proc is None else quote_ident(proc.name)
    if type_oid == REGPROCEDURE:
        return regprocedure_text(snapshot, value, search_path_of(ctx))
    if type_oid == REGROLE:
        name = role_name_of(snapshot, value)
        return None if name == str(value) else quote_ident(name)
    return None


def reg_input(type_oid: int, snapshot: Any, text: str, ctx: Any) -> int | None:
    """The oid a reg* literal names, or None to let the library parse it."""
    if type_oid == REGCLASS:
        return regclass_oid(model_for(snapshot), text, search_path_of(ctx), missing_ok=False)
    if type_oid == REGNAMESPACE:
        return namespace_oid(text, missing_ok=False, snapshot=snapshot)
    if type_oid == REGPROC:
        return proc_oid(text, missing_ok=False, snapshot=snapshot, search_path=search_path_of(ctx))
    if type_oid == REGPROCEDURE:
        return procedure_oid(text, missing_ok=False, snapshot=snapshot, search_path=search_path_of(ctx))
    if type_oid == REGROLE:
        return role_oid_of(text, missing_ok=False, snapshot=snapshot)
    return None


def regclass_name(model: CatalogModel, oid: int, search_path: SearchPath) -> str:
    relation = model.relation(oid)
    if relation is None:
        return str(oid)
    if model.is_visible(relation, search_path):
        return quote_ident(relation.name)
    return f"{quote_ident(relation.schema)}.{quote_ident(relation.name)}"


def regclass_oid(model: CatalogModel, text: str, search_path: SearchPath, missing_ok: bool) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    parts = qualified_name(stripped)
    if len(parts) > 3 or len(parts) == 3 and parts[0] != oids.DATABASE_NAME:
        if missing_ok:
            return None
        raise SqlError("0A000", f"cross-database references are not implemented: {stripped}")
    schema, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, parts[0])
    relation = model.lookup(name, schema, search_path)
    if relation is None:
        if missing_ok:
            return None
        if schema is not None and schema not in schema_oids(model.snapshot):
            raise SqlError("3F000", f'schema "{schema}" does not exist')
        shown = f"{schema}.{name}" if schema else name
        raise SqlError("42P01", f'relation "{shown}" does not exist')
    return relation.oid


def namespace_oid(text: str, missing_ok: bool, snapshot: Any = None) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    parts = qualified_name(stripped)
    oid = schema_oids(snapshot).get(parts[0]) if len(parts) == 1 else None
    if oid is None and not missing_ok:
        raise SqlError("3F000", f'schema "{parts[-1]}" does not exist')
    return oid


def proc_oid(text: str, missing_ok: bool, snapshot: Any = None, search_path: SearchPath | None = None) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    parts = qualified_name(stripped)
    by_name = getattr(snapshot, "functions_by_name", None) or {}
    if len(parts) == 2 and parts[0] != "pg_catalog" and parts[0] in schema_oids(snapshot):
        user = [f.oid for f in by_name.get((parts[0], parts[1]), ())]  # CREATE FUNCTION's, in that schema
    elif len(parts) == 1 and search_path is not None and by_name:
        user = [oid for oid, _ in path_functions(snapshot, search_path, parts[0])]  # along the path
    else:
        user = [f.oid for f in by_name.get(("public", parts[-1]), ())] if len(parts) == 1 else []
    if user:
        if len(user) > 1 and not missing_ok:
            raise SqlError("42725", f'more than one function named "{stripped}"')
        return user[0] if len(user) == 1 else None
    if len(parts) == 2 and parts[0] != "pg_catalog" or len(parts) > 2:
        if missing_ok:
            return None
        if len(parts) == 2 and parts[0] not in schema_oids(snapshot):
            raise SqlError("3F000", f'schema "{parts[0]}" does not exist')
        raise SqlError("42883", f'function "{stripped}" does not exist')
    found = builtins.procs_by_name().get(parts[-1], [])
    if len(found) == 1:
        return found[0].oid
    if missing_ok:
        return None
    if not found:
        raise SqlError("42883", f'function "{stripped}" does not exist')
    raise SqlError("42725", f'more than one function named "{stripped}"')


def regprocedure_text(snapshot: Any, oid: int, search_path: SearchPath) -> str | None:
    """regprocedureout: `name(type,type)`, the name qualified when the path does not find it
    (a user function outside the path), None for an oid no function has."""
    user = find_function(snapshot, oid)
    if user is not None:
        visible = function_visible(snapshot, search_path, user)
        prefix = "" if visible else quote_ident(user.schema) + "."
        name, args = prefix + quote_ident(user.name), user.input_oids
    else:
        proc = builtins.proc_by_oid().get(oid)
        if proc is None:
            return None
        name, args = quote_ident(proc.name), proc.arg_types
    return f"{name}({','.join(format_type(type_by_oid(a)) for a in args)})"


def procedure_oid(text: str, missing_ok: bool, snapshot: Any = None, search_path: SearchPath | None = None) -> int | None:
    """regprocedurein: the function `name(type, ...)` names, by its exact argument types."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    name_text, paren, rest = stripped.partition("(")
    if not paren or not rest.rstrip().endswith(")"):
        raise SqlError("22P02", "expected a left parenthesis" if not paren else "expected a right parenthesis")
    parts = qualified_name(name_text)
    schema, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, parts[0])
    args = tuple(parse_regtype(a) for a in _split_arguments(rest.rstrip()[:-1]))
    by_name = getattr(snapshot, "functions_by_name", None) or {}
    if schema is None and search_path is not None:
        for oid, found_args in path_functions(snapshot, search_path, name):  # built-ins where pg_catalog is
            if found_args == args:
                return oid
    elif schema is not None and schema != "pg_catalog":
        for candidate in by_name.get((schema, name), ()):
            if tuple(candidate.input_oids) == args:
                return candidate.oid
    if schema == "pg_catalog" or (schema is None and search_path is None):
        for proc in builtins.procs_by_name().get(name, []):
            if tuple(proc.arg_types) == args:
                return proc.oid
    if missing_ok:
        return None
    if schema is not None and schema not in schema_oids(snapshot):
        raise SqlError("3F000", f'schema "{schema}" does not exist')
    raise SqlError("42883", f'function "{stripped}" does not exist')


def _split_arguments(text: str) -> list[str]:
    """The argument types of a signature, split at the commas outside parentheses."""
    if not text.strip():
        return []
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [a.strip() for a in out]


def role_oid_of(text: str, missing_ok: bool, snapshot: Any = None) -> int | None:
    """regrolein: the role a name names (one identifier, folded as the parser folds it)."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    parts = qualified_name(stripped)
    if len(parts) != 1:
        raise SqlError("42602", "invalid name syntax")
    role = role_named(snapshot, parts[0]) if snapshot is not None else None
    if role is not None:
        return role.oid
    if missing_ok:
        return None
    raise SqlError("42704", f'role "{parts[0]}" does not exist')


def qualified_name(text: str) -> list[str]:
    """PostgreSQL's stringToQualifiedNameList: dotted identifiers, unquoted
    ones folded to lower case, quoted ones kept as written, each cut to 63
    bytes as the parser cuts identifiers."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise SqlError("22P02", f'invalid name syntax: "{text}"')
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            parts.append(_truncate_identifier("".join(buf)))
        else:
            start = i
            while i < n and text[i] != "." and not text[i].isspace():
                i += 1
            if i == start:
                raise SqlError("22P02", "invalid name syntax")
            parts.append(_truncate_identifier(text[start:i].lower()))
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return parts
        if text[i] != ".":
            raise SqlError("22P02", "invalid name syntax")
        i += 1


def _truncate_identifier(name: str) -> str:
    """truncate_identifier: at most NAMEDATALEN - 1 bytes, never half a character."""
    data = name.encode()
    return name if len(data) <= 63 else data[:63].decode("utf-8", "ignore")
