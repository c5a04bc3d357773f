"""CREATE [OR REPLACE] FUNCTION, DROP FUNCTION / ROUTINE and ALTER FUNCTION / ROUTINE bound,
and functions named in DDL found by their signature (an ObjectWithArgs).

Binding CREATE FUNCTION checks the parameters, options and result, and checks the body
as PostgreSQL checks it with check_function_bodies on: every statement is bound
(qp/bind/routine_body.py), so an unknown table or column fails the CREATE, and the last
statement must yield the declared result (42P13). DSQL accepts only LANGUAGE sql and no
procedures: other languages, CREATE PROCEDURE and DROP PROCEDURE are refused with 0A000.
A function lives in any user schema: CREATE puts an unqualified name in the search path's
creation schema (`creation_function_schema`), and DDL that names an existing function finds
it as PostgreSQL's LookupFuncName does (`find_function`: qualified, or along the path).
qp/ddl/functions.py writes what binding decided.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name
from qp.bind.routine_body import bind_body_statement, body_context, check_result
from qp.bind.routines import signature_text
from qp.catalog.privcheck import is_superuser, object_privs, require, role_oid, schema_oid
from qp.catalog.stored import CatalogSnapshot, FunctionDef, ViewDef
from qp.errors import SqlError
from qp.frontend.settings import DEFAULTS, split_identifier_list
from qp.parse.parser import node_body, node_kind, parse, string_list
from qp.pgcatalog.search_path import USER_SCHEMA, check_schema, schema_oids, session_search_path
from qp.types import RECORD, SqlType, format_type, resolve_type_name, type_by_oid

PARAMETER_MODES = {"FUNC_PARAM_IN": "i", "FUNC_PARAM_DEFAULT": "i", "FUNC_PARAM_OUT": "o", "FUNC_PARAM_INOUT": "b",
                   "FUNC_PARAM_VARIADIC": "v", "FUNC_PARAM_TABLE": "t"}  # fmt: skip
VOLATILITY = {"immutable": "i", "stable": "s", "volatile": "v"}
PARALLEL = {"safe": "s", "restricted": "r", "unsafe": "u"}


# Schemas whose contents are the system's: dsql lets no user function in (PostgreSQL lets a
# superuser add to pg_catalog; dsql's built-ins are fixed).
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
TEMP_SCHEMA = re.compile(r"pg_temp(_\d+)?")  # a session's temporary schema, by any of its names


def function_names(names: list[str]) -> tuple[str | None, str]:
    """(schema or None, name) of a function's possibly qualified name."""
    if len(names) > 2:
        raise SqlError("42601", f"improper qualified name (too many dotted names): {'.'.join(names)}")
    return (names[0], names[1]) if len(names) == 2 else (None, names[0])


def creation_function_schema(schema: str | None, bc: BindContext) -> str:
    """The schema CREATE FUNCTION (or SET SCHEMA) puts a function in: the one named, else the
    search path's creation schema (PostgreSQL's QualifiedNameGetCreationNamespace)."""
    if schema is None:
        settings = getattr(bc.eval_ctx, "settings", None) or {}
        listed = split_identifier_list(settings.get("search_path", DEFAULTS["search_path"])) or []
        if listed and TEMP_SCHEMA.fullmatch(listed[0]):
            schema = listed[0]  # PostgreSQL creates in the session's temporary schema
        else:
            schema = session_search_path(bc.eval_ctx, bc.catalog).current_schema
        if schema is None:
            raise SqlError("3F000", "no schema has been selected to create in")
    if TEMP_SCHEMA.fullmatch(schema):
        raise SqlError("0A000", "temporary functions are not supported")
    if schema in SYSTEM_SCHEMAS:
        raise SqlError("0A000", f'dsql does not create functions in system schema "{schema}"')
    return check_schema(bc.catalog, schema)


def lookup_schemas(schema: str | None, bc: BindContext | None, missing_ok: bool = False) -> tuple[str, ...]:
    """The schemas an existing function's name is looked for in: the one named (3F000 if
    there is none such, nothing with `missing_ok`), else the session's search path."""
    if schema is not None:
        if schema not in schema_oids(bc.catalog if bc is not None else None) and missing_ok:
            return ()
        return (check_schema(bc.catalog, schema),) if bc is not None else (schema,)
    if bc is None:
        return ("pg_catalog", USER_SCHEMA)
    return session_search_path(bc.eval_ctx, bc.catalog).searched


def path_candidates(catalog: CatalogSnapshot, schemas: tuple[str, ...], name: str) -> list[FunctionDef]:
    """The functions of that name along `schemas`, a later schema's hidden by an earlier one's
    with the same argument types (FuncnameGetCandidates)."""
    out: list[FunctionDef] = []
    seen: set[tuple[int, ...]] = set()
    for schema in schemas:
        for function in catalog.functions_by_name.get((schema, name), ()):
            if function.input_oids not in seen:
                seen.add(function.input_oids)
                out.append(function)
    return out


def parameter_type(type_name: dict) -> SqlType:
    names = string_list(type_name.get("names"))
    if type_name.get("pct_type"):
        raise SqlError("0A000", "%TYPE references are not supported")
    return resolve_type_name(names, [], len(type_name.get("arrayBounds", ())))

# -- the statements ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundCreateFunction:
    """CREATE [OR REPLACE] FUNCTION: the function to store, its body checked. A new one's oid
    is allocated when it is applied; one replacing an existing function keeps that oid."""

    definition: FunctionDef  # oid 0 until applied, unless replacing
    replacing: bool


@dataclass(frozen=True, slots=True)
class BoundDropFunctions:
    """DROP FUNCTION / ROUTINE: the functions found, the views CASCADE drops with them, and
    the notices (IF EXISTS that found none, what cascades)."""

    tag: str
    functions: tuple[FunctionDef, ...]
    views: tuple[ViewDef, ...]
    notices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BoundAlterFunction:
    """ALTER FUNCTION / ROUTINE (options, RENAME TO, SET SCHEMA): the function as it becomes."""

    tag: str
    definition: FunctionDef


ROUTINE_OBJECTS = ("OBJECT_FUNCTION", "OBJECT_ROUTINE", "OBJECT_PROCEDURE")


def names_routine(kind: str, body: dict) -> bool:
    """ALTER FUNCTION / ROUTINE in any of its statement forms."""
    if kind == "AlterFunctionStmt":
        return True
    objtype = body.get("renameType") or body.get("objectType")
    return kind in ("RenameStmt", "AlterOwnerStmt", "AlterObjectSchemaStmt") and objtype in ROUTINE_OBJECTS


# -- finding a function by its signature ---------------------------------------------


def find_function(
    catalog: CatalogSnapshot, owa: dict, what: str, missing_ok: bool = False, bc: BindContext | None = None
) -> FunctionDef | None:
    """The function an ObjectWithArgs names, qualified or found along the session's search
    path (42883 if none, 42725 if it is ambiguous)."""
    schema, name = function_names(string_list(owa.get("objname")))
    candidates = path_candidates(catalog, lookup_schemas(schema, bc, missing_ok), name)
    if owa.get("args_unspecified"):
        if len(candidates) > 1:
            raise SqlError("42725", f'function name "{name}" is not unique',
                           hint="Specify the argument list to select the function unambiguously.")  # fmt: skip
        if not candidates:
            if missing_ok:
                return None
            shown = name if schema is None else f"{schema}.{name}"
            raise SqlError("42883", f'could not find a function named "{shown}"')
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
    shown = name if schema is None else f"{schema}.{name}"
    raise SqlError("42883", f"{what} {signature_text(shown, types)} does not exist")


# -- CREATE FUNCTION ----------------------------------------------------------------------------


def _parameters(body: dict) -> tuple[list[tuple[str, str, int]], list[str]]:
    params: list[tuple[str, str, int]] = []
    defaults: list[str] = []
    for node in body.get("parameters", ()):
        p = node["FunctionParameter"]
        mode = PARAMETER_MODES[p.get("mode", "FUNC_PARAM_DEFAULT")]
        t = parameter_type(p["argType"])
        if mode == "v" and not t.is_array:
            raise SqlError("42P13", "VARIADIC parameter must be an array")
        if t.category == "P" and t.oid not in (RECORD.oid,):
            raise SqlError(
                "0A000", f"SQL functions with arguments of type {format_type(t)} are not supported"
            )
        name = p.get("name", "")
        if any(q[1] == "v" for q in params) and mode != "o":
            raise SqlError("42P13", "VARIADIC parameter must be the last input parameter")
        if name and any(
            q[0] == name and (q[1] in ("i", "b", "v")) == (mode in ("i", "b", "v")) for q in params
        ):
            raise SqlError("42P13", f'parameter name "{name}" used more than once')
        if "defexpr" in p:
            if mode not in ("i", "b", "v"):
                raise SqlError("42P13", "only input parameters can have default values")
            defaults.append(json.dumps(p["defexpr"]))
        elif defaults and mode in ("i", "b", "v"):
            raise SqlError("42P13", "input parameters after one with a default value must also have defaults")
        params.append((name, mode, t.oid))
    return params, defaults


def _options(body: dict) -> dict:
    options: dict = {"language": None, "volatility": "v", "strict": False, "parallel": "u", "definer": False,
                     "as": None}  # fmt: skip
    for node in body.get("options", ()):
        d = node["DefElem"]
        name, arg = d["defname"], d.get("arg", {})
        if name == "language":
            options["language"] = arg["String"]["sval"].lower()
        elif name == "volatility":
            options["volatility"] = VOLATILITY[arg["String"]["sval"]]
        elif name == "strict":
            options["strict"] = bool(arg.get("Boolean", {}).get("boolval"))
        elif name == "parallel":
            options["parallel"] = PARALLEL.get(arg["String"]["sval"], "u")
        elif name == "security":
            options["definer"] = bool(arg.get("Boolean", {}).get("boolval"))
        elif name == "as":
            options["as"] = string_list(arg["List"]["items"])
        elif name in ("cost", "rows", "leakproof"):
            continue  # planner hints: accepted, as DSQL does
        elif name == "set":
            raise SqlError("0A000", "SET clauses of functions are not supported")
        else:
            raise SqlError("0A000", f"function option {name.upper()} is not supported")
    return options


def bind_create_function(body: dict, catalog: CatalogSnapshot, bc: BindContext, user: str) -> BoundCreateFunction:
    if body.get("is_procedure"):
        raise SqlError("0A000", "CREATE PROCEDURE is not supported")
    try:
        return _bind_create_function(body, catalog, bc, user)
    except SqlError as exc:
        row_type = exc.sqlstate == "42704" and any(
            catalog.find_table(name) is not None or catalog.find_view(name) is not None
            for name in _type_names(body)
        )
        if row_type:  # a table's row type as a parameter or result: composite values are not modelled
            raise SqlError(
                "0A000", "functions taking or returning a table's row type are not supported"
            ) from None
        if exc.sqlstate == "42704" and any(
            (USER_SCHEMA, name) in catalog.domains for name in _type_names(body)
        ):
            raise SqlError("0A000", "functions taking or returning a domain type are not supported") from None
        raise


def _type_names(body: dict) -> list[str]:
    nodes = [body.get("returnType") or {}] + [
        p["FunctionParameter"]["argType"] for p in body.get("parameters", ())
    ]
    return [string_list(n.get("names"))[-1] for n in nodes if n.get("names")]


def _bind_create_function(body: dict, catalog: CatalogSnapshot, bc: BindContext, user: str) -> BoundCreateFunction:
    schema, name = function_names(string_list(body["funcname"]))
    schema = creation_function_schema(schema, bc)
    check_name(name)
    options = _options(body)
    language = options["language"] or ("sql" if "sql_body" in body else None)
    if language is None:
        raise SqlError("42P13", "no language specified")
    if language != "sql":
        raise SqlError("0A000", f"LANGUAGE {language} is not supported: functions must be LANGUAGE sql")
    params, defaults = _parameters(body)
    outputs = [p for p in params if p[1] in ("o", "b", "t")]
    return_node = body.get("returnType")
    returns_set = bool(return_node and return_node.get("setof"))
    if return_node is None:
        if not outputs:
            raise SqlError("42P13", "function result type must be specified")
        return_oid = outputs[0][2] if len(outputs) == 1 else RECORD.oid
    else:
        rtype = parameter_type(return_node)
        if (
            outputs
            and len(outputs) == 1
            and rtype.oid != outputs[0][2]
            and not any(p[1] == "t" for p in params)
        ):
            raise SqlError("42P13", f"function result type must be {format_type(type_by_oid(outputs[0][2]))} "
                                    "because of OUT parameters")  # fmt: skip
        if len(outputs) > 1 and rtype.oid != RECORD.oid:
            raise SqlError("42P13", "function result type must be record because of OUT parameters")
        return_oid = rtype.oid
        if any(p[1] == "t" for p in params) and len(outputs) == 1:
            return_oid = outputs[0][2]
        if rtype.oid == RECORD.oid and not outputs:
            raise SqlError("0A000", "functions returning record without OUT parameters are not supported")
        if rtype.category == "P" and rtype.oid not in (RECORD.oid, 2278):
            raise SqlError("0A000", f"SQL functions returning {format_type(rtype)} are not supported")
    src, sql_body = "", None
    if "sql_body" in body:
        sql_body = json.dumps(_standard_body(body["sql_body"]))
    else:
        if not options["as"]:
            raise SqlError("42P13", "no function body specified")
        src = options["as"][0]
    input_oids = tuple(p[2] for p in params if p[1] in ("i", "b", "v"))
    existing = next(
        (f for f in catalog.functions_by_name.get((schema, name), ()) if f.input_oids == input_oids), None
    )
    if existing is not None and not body.get("replace"):
        raise SqlError("42723", f'function "{name}" already exists with same argument types')
    oid = existing.oid if existing is not None else 0  # allocated when it is applied
    function = FunctionDef(
        oid, name, tuple(params), return_oid, returns_set, src, sql_body, tuple(defaults), options["volatility"],
        options["strict"], options["parallel"], options["definer"],
        existing.owner if existing is not None else user, schema,
    )  # fmt: skip
    if existing is not None:
        _check_replace(existing, function)
    # The body is bound against the catalog with the function in it: a new one under the
    # snapshot's next oid, which no existing function has (applying allocates its own).
    _check_body(function if existing is not None else replace(function, oid=catalog.next_oid), bc)
    return BoundCreateFunction(function, replacing=existing is not None)


def _standard_body(node: dict) -> list[dict]:
    """RETURN expr is `SELECT expr`; BEGIN ATOMIC ... END its statements."""
    if node_kind(node) == "ReturnStmt":
        value = node_body(node)["returnval"]
        return [{"SelectStmt": {"targetList": [{"ResTarget": {"val": value}}], "limitOption": "LIMIT_OPTION_DEFAULT",
                                "op": "SETOP_NONE"}}]  # fmt: skip
    statements = []
    for item in node_body(node).get("items", ()):
        if "List" in item:
            statements += [s for s in item["List"].get("items", ())]
        else:
            statements.append(item)
    return statements


def _check_replace(old: FunctionDef, new: FunctionDef) -> None:
    """CREATE OR REPLACE keeps the signature's meaning (PostgreSQL's ProcedureCreate)."""
    shown = signature_text(new.name, [type_by_oid(o) for o in new.input_oids])
    if old.return_oid != new.return_oid or old.returns_set != new.returns_set:
        raise SqlError("42P13", "cannot change return type of existing function",
                       hint=f"Use DROP FUNCTION {shown} first.")  # fmt: skip
    if old.return_oid == RECORD.oid and [(p[0], p[2]) for p in old.outputs] != [
        (p[0], p[2]) for p in new.outputs
    ]:
        raise SqlError("42P13", "cannot change return type of existing function",
                       detail="Row type defined by OUT parameters is different.",
                       hint=f"Use DROP FUNCTION {shown} first.")  # fmt: skip
    for (old_name, _, _), (new_name, _, _) in zip(old.inputs, new.inputs, strict=True):
        if old_name and old_name != new_name:
            raise SqlError("42P13", f'cannot change name of input parameter "{old_name}"',
                           hint=f"Use DROP FUNCTION {shown} first.")  # fmt: skip
    if len(new.defaults) < len(old.defaults):
        raise SqlError("42P13", "cannot remove parameter defaults from existing function",
                       hint=f"Use DROP FUNCTION {shown} first.")  # fmt: skip


def _check_body(function: FunctionDef, bc: BindContext) -> None:
    """check_function_bodies: bind every statement; the last one yields the result.
    The catalog they are bound against holds the function already (it may call itself)."""
    catalog = replace(bc.catalog, functions={**bc.catalog.functions, function.oid: function}, derived={})
    if function.sql_body is not None:
        statements = json.loads(function.sql_body)
    else:
        try:
            statements = [s.node for s in parse(function.src)]
        except SqlError as exc:
            exc.position = None
            raise
    last = None
    for node in statements:
        body_bc = BindContext(catalog, bc.eval_ctx, resolve_special_relation=bc.resolve_special_relation)
        body_context(body_bc, function)
        try:
            last = bind_body_statement(body_bc, function, node)
        except SqlError as exc:
            exc.location = None
            raise
    returns_rows = last is not None and (last.kind == "query" or bool(last.output_types))
    check_result(function, last, returns_rows)


# -- DROP FUNCTION / ROUTINE and ALTER FUNCTION / ROUTINE -----------------------------------------


def bind_drop_functions(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> BoundDropFunctions:
    if body.get("removeType") == "OBJECT_PROCEDURE":
        raise SqlError("0A000", "DROP PROCEDURE is not supported")
    what = "function"
    notices, dropped = [], []
    for node in body.get("objects", ()):
        owa = node["ObjectWithArgs"]
        function = find_function(catalog, owa, what, missing_ok=bool(body.get("missing_ok")), bc=bc)
        if function is None:
            names = string_list(owa.get("objname"))
            if len(names) == 2 and names[0] not in schema_oids(catalog):
                notices.append(f'schema "{names[0]}" does not exist, skipping')
                continue
            try:
                shown = (
                    names[-1]
                    if owa.get("args_unspecified")
                    else signature_text(
                        names[-1],
                        [parameter_type(n["FunctionParameter"]["argType"]) for n in owa.get("objfuncargs", ())],
                    )
                )
                notices.append(f"{what} {shown} does not exist, skipping")
            except SqlError as exc:
                notices.append(f"{exc.message}, skipping")
            continue
        dropped.append(function)
    views = []
    for function in dropped:
        shown = signature_text(function.name, [type_by_oid(o) for o in function.input_oids])
        dependents = [(f"view {v.name}", v) for v in catalog.dependent_views(function.oid) if v not in views]
        dependents += [(what, None) for what in default_users(catalog, function)]
        if not dependents:
            continue
        if body.get("behavior") != "DROP_CASCADE":
            raise SqlError("2BP01", f"cannot drop function {shown} because other objects depend on it",
                           detail="\n".join(f"{what} depends on function {shown}" for what, _ in dependents),
                           hint="Use DROP ... CASCADE to drop the dependent objects too.")  # fmt: skip
        if any(view is None for _, view in dependents):
            raise SqlError(
                "0A000", "DROP FUNCTION ... CASCADE of a function that column defaults use is not supported"
            )
        for what, view in dependents:
            notices.append(f"drop cascades to {what}")
            views.append(view)
    if any(catalog.dependent_views(view.oid) for view in views):
        raise SqlError(
            "0A000", "DROP FUNCTION ... CASCADE through views that other views use is not supported"
        )
    tag = "DROP ROUTINE" if body.get("removeType") == "OBJECT_ROUTINE" else "DROP FUNCTION"
    return BoundDropFunctions(tag, tuple(dropped), tuple(views), tuple(notices))


def default_users(catalog: CatalogSnapshot, function: FunctionDef) -> list[str]:
    """The column defaults and generated columns that call a function of this name
    (PostgreSQL records these in pg_depend; dsql reads them from the stored trees)."""
    out = []
    for table in sorted(catalog.tables.values(), key=lambda t: t.oid):
        for column in table.columns:
            if column.dropped:
                continue
            for tree, what in ((column.default_sql, "default value"), (column.generated, "generated column")):
                if tree and _calls(json.loads(tree), function):
                    out.append(
                        f"{what} for column {column.name} of table {table.name}"
                        if what == "default value"
                        else f"column {column.name} of table {table.name}"
                    )
    return out


def _calls(node: object, function: FunctionDef) -> bool:
    if isinstance(node, dict):
        call = node.get("FuncCall")
        if isinstance(call, dict):
            names = string_list(call.get("funcname"))
            same_schema = len(names) < 2 or names[-2] == function.schema  # unqualified: by name alone
            if names and names[-1] == function.name and same_schema and len(call.get("args", ())) <= len(function.inputs):
                return True
        return any(_calls(v, function) for v in node.values())
    if isinstance(node, list):
        return any(_calls(v, function) for v in node)
    return False


def _require_create(catalog: CatalogSnapshot, bc: BindContext, schema: str) -> None:
    """42501 unless the current user may create in `schema` (a superuser always may)."""
    role = role_oid(catalog, bc.eval_ctx.user)
    if not is_superuser(catalog, role):
        require(catalog, role, object_privs(catalog, schema_oid(catalog, schema), "schema"), "C", schema)


def bind_alter_function(kind: str, body: dict, catalog: CatalogSnapshot, bc: BindContext) -> BoundAlterFunction:
    """ALTER FUNCTION / ROUTINE: RENAME TO, SET SCHEMA and the options (OWNER TO: qp/ddl/grants.py)."""
    if kind == "AlterFunctionStmt":
        function = find_function(catalog, body["func"], "function", bc=bc)
    else:
        function = find_function(catalog, body["object"]["ObjectWithArgs"], "function", bc=bc)
    assert function is not None
    changes: dict = {}
    views = catalog.dependent_views(function.oid)
    if kind in ("RenameStmt", "AlterObjectSchemaStmt") and views:
        # Views name the functions they call and are bound again where they are used, so a
        # new name or schema would break them (PostgreSQL would follow the function's oid).
        shown = signature_text(function.name, [type_by_oid(o) for o in function.input_oids])
        verb = "rename" if kind == "RenameStmt" else "move"
        raise SqlError("0A000", f"cannot {verb} function {shown} while view {views[0].name} depends on it",
                       hint="Drop the view first (DROP VIEW), then recreate it.")  # fmt: skip
    if kind == "AlterFunctionStmt":
        for node in body.get("actions", ()):
            d = node["DefElem"]
            name, arg = d["defname"], d.get("arg", {})
            if name == "volatility":
                changes["volatility"] = VOLATILITY[arg["String"]["sval"]]
            elif name == "strict":
                changes["strict"] = bool(arg.get("Boolean", {}).get("boolval"))
            elif name == "parallel":
                changes["parallel"] = PARALLEL.get(arg["String"]["sval"], "u")
            elif name == "security":
                changes["security_definer"] = bool(arg.get("Boolean", {}).get("boolval"))
            elif name in ("cost", "rows", "leakproof"):
                continue
            else:
                raise SqlError("0A000", f"ALTER FUNCTION ... {name.upper()} is not supported")
    elif kind == "RenameStmt":
        new_name = body["newname"]
        check_name(new_name)
        _require_create(catalog, bc, function.schema)  # AlterObjectRename_internal's
        if any(f.input_oids == function.input_oids for f in catalog.functions_by_name.get(
                (function.schema, new_name), ())):  # fmt: skip
            shown = signature_text(new_name, [type_by_oid(o) for o in function.input_oids])
            raise SqlError("42723", f'function {shown} already exists in schema "{function.schema}"')
        changes["name"] = new_name
    else:  # AlterObjectSchemaStmt
        if body.get("newschema") == "pg_toast":  # PostgreSQL's CheckSetNamespace
            raise SqlError("0A000", "cannot move objects into or out of TOAST schema")
        schema = creation_function_schema(body.get("newschema"), bc)
        _require_create(catalog, bc, schema)  # LookupCreationNamespace's
        if schema != function.schema:
            if any(f.input_oids == function.input_oids
                   for f in catalog.functions_by_name.get((schema, function.name), ())):  # fmt: skip
                shown = signature_text(function.name, [type_by_oid(o) for o in function.input_oids])
                raise SqlError("42723", f'function {shown} already exists in schema "{schema}"')
            changes["schema"] = schema
    record = function.to_record()
    record.update({k: v for k, v in changes.items()})
    if "security_definer" in changes:
        record["security_definer"] = changes["security_definer"]
    updated = FunctionDef.from_record(record)
    tag = "ALTER ROUTINE" if "ROUTINE" in str(body.get("objtype") or body.get("renameType")
                                                 or body.get("objectType")) else "ALTER FUNCTION"  # fmt: skip
    return BoundAlterFunction(tag, updated)
