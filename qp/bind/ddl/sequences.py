"""CREATE, ALTER and DROP SEQUENCE bound: the options checked (DSQL's CACHE rules), OWNED BY
resolved, the sequence found; qp/ddl/sequence_statements.py writes what binding decided.

`sequence_options` is also how identity and serial columns get their sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, creation_schema_of, relation_display, schema_of, search_schema
from qp.bind.ddl.skip import SkipDdl
from qp.catalog.stored import CatalogSnapshot, SequenceDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA, schema_oids
from qp.types import resolve_type_name

DSQL_CACHE_MIN = 65536
SERIAL_CACHE = DSQL_CACHE_MIN
_BOUNDS = {21: (-(2**15), 2**15 - 1), 23: (-(2**31), 2**31 - 1), 20: (-(2**63), 2**63 - 1)}
_TYPE_NAMES = {21: "smallint", 23: "integer", 20: "bigint"}

def _number(arg: dict | None) -> int | None:
    if arg is None:
        return None
    if "Integer" in arg:
        return arg["Integer"].get("ival", 0)
    if "Float" in arg:
        return int(arg["Float"]["fval"])
    if "A_Const" in arg:
        const = arg["A_Const"]
        if "ival" in const:
            return const["ival"].get("ival", 0)
        if "fval" in const:
            return int(const["fval"]["fval"])
    raise SqlError("42601", "sequence options take numbers")


def sequence_options(options: list, *, name: str, oid: int, type_oid: int = 20, require_cache: bool = True,
                     base: SequenceDef | None = None) -> tuple[SequenceDef, int | None, list[str] | None]:
    """A SequenceDef from CREATE/ALTER SEQUENCE or identity options.

    Returns (definition, RESTART value or None, OWNED BY names or None)."""
    values: dict[str, Any] = {}
    restart: int | None = None
    owned: list[str] | None = None
    for option in options or ():
        elem = option["DefElem"]
        key = elem["defname"]
        arg = elem.get("arg")
        if key in values:
            raise SqlError("42601", "conflicting or redundant options")
        if key == "as":

            t = resolve_type_name(string_list(arg["TypeName"]["names"]), [], 0)
            if t.oid not in _BOUNDS:
                raise SqlError("22023", "sequence type must be smallint, integer, or bigint")
            values["as"] = t.oid
        elif key in ("increment", "minvalue", "maxvalue", "start", "cache"):
            values[key] = _number(arg)
        elif key == "cycle":
            values["cycle"] = bool(arg is None or arg.get("Boolean", {}).get("boolval", False))
        elif key == "restart":
            restart = _number(arg) if arg is not None else -1
            values[key] = True
        elif key == "owned_by":
            owned = string_list(arg["List"]["items"] if "List" in arg else arg)
        elif key == "sequence_name":
            continue
        else:
            raise SqlError("42601", f'option "{key}" not recognized')
    type_oid = values.get("as", base.type_oid if base else type_oid)
    low, high = _BOUNDS[type_oid]
    increment = values.get("increment", base.increment if base else 1)
    if increment == 0:
        raise SqlError("22023", "INCREMENT must not be zero")
    min_value = values.get("minvalue", base.min_value if base and "as" not in values else (1 if increment > 0 else low))
    max_value = values.get("maxvalue", base.max_value if base and "as" not in values else (high if increment > 0 else -1))
    if min_value is None:
        min_value = 1 if increment > 0 else low
    if max_value is None:
        max_value = high if increment > 0 else -1
    if not low <= min_value <= high or not low <= max_value <= high:
        raise SqlError("22023", f'MINVALUE/MAXVALUE out of range for sequence data type {_TYPE_NAMES[type_oid]}')
    if min_value >= max_value:
        raise SqlError("22023", f"MINVALUE ({min_value}) must be less than MAXVALUE ({max_value})")
    start = values.get("start", base.start if base else (min_value if increment > 0 else max_value))
    if not min_value <= start <= max_value:
        raise SqlError("22023", f"START value ({start}) cannot be {'less' if start < min_value else 'greater'} than "
                                f"{'MINVALUE' if start < min_value else 'MAXVALUE'} ({min_value if start < min_value else max_value})")
    cache = values.get("cache", base.cache if base else None)
    if cache is None:
        if require_cache:
            # DSQL's own rule and wording.
            raise SqlError(
                "0A000",
                "CREATE SEQUENCE is not supported without an explicit cache size. please define CACHE greater "
                f"than or equal to {DSQL_CACHE_MIN} or equal to 1",
            )
        cache = SERIAL_CACHE
    if cache != 1 and cache < DSQL_CACHE_MIN:
        raise SqlError("0A000", f"CACHE must be equal to 1 or greater than or equal to {DSQL_CACHE_MIN}")
    cycle = values.get("cycle", base.cycle if base else False)
    definition = SequenceDef(oid, name, type_oid, start, increment, min_value, max_value, cache, cycle,
                             base.owned_by if base else None)
    return definition, restart, owned


def with_owner(sequence: SequenceDef, table_oid: int, column: int) -> SequenceDef:
    return replace(sequence, owned_by=(table_oid, column))


# -- the statements ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundCreateSequence:
    """CREATE SEQUENCE: the definition to store; its oid is allocated when it is applied."""

    definition: SequenceDef  # oid 0 until applied


@dataclass(frozen=True, slots=True)
class BoundAlterSequence:
    """ALTER SEQUENCE: the definition as it becomes, and RESTART's value (-1: its START)."""

    sequence: SequenceDef  # as stored
    definition: SequenceDef
    restart: int | None


@dataclass(frozen=True, slots=True)
class BoundDropSequences:
    """DROP SEQUENCE: the sequences found, and a notice for each IF EXISTS that found none."""

    sequences: tuple[SequenceDef, ...]
    notices: tuple[str, ...]


def bind_create_sequence(body: dict, catalog: CatalogSnapshot, bc: BindContext | None,
                         name_taken: Any) -> BoundCreateSequence | SkipDdl:  # fmt: skip
    """CREATE SEQUENCE. `name_taken(name, schema)` says whether a relation of that name is
    in the way (a temporary sequence collides only with temporary relations)."""
    relation = body["sequence"]
    name = check_name(relation["relname"])
    schema = USER_SCHEMA if relation.get("relpersistence") == "t" else creation_schema_of(relation, bc)
    if name_taken(name, schema):
        if body.get("if_not_exists"):
            return SkipDdl("CREATE SEQUENCE", (f'relation "{name}" already exists, skipping',))
        raise SqlError("42P07", f'relation "{name}" already exists')
    definition, _, owned = sequence_options(body.get("options", []), name=name, oid=0)
    definition = replace(definition, schema=schema)
    if owned and owned != ["none"]:
        definition = _owned_by(definition, owned, catalog, bc)
    return BoundCreateSequence(definition)


def bind_alter_sequence(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundAlterSequence | SkipDdl:
    relation = body["sequence"]
    where = search_schema(schema_of(relation), bc, relation["relname"], missing_ok=body.get("missing_ok", False))
    sequence = catalog.find_sequence(relation["relname"], where) if where else None
    if sequence is None:
        if body.get("missing_ok"):
            return SkipDdl("ALTER SEQUENCE", (f'relation "{relation_display(relation)}" does not exist, skipping',))
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    definition, restart, owned = sequence_options(
        body.get("options", []), name=sequence.name, oid=sequence.oid, base=sequence
    )
    definition = replace(definition, schema=sequence.schema)
    if owned is not None:
        definition = (
            replace(definition, owned_by=None) if owned == ["none"] else _owned_by(definition, owned, catalog, bc)
        )
    return BoundAlterSequence(sequence, definition, restart)


def bind_drop_sequences(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundDropSequences:
    notices: list[str] = []
    dropping: list[SequenceDef] = []
    missing_ok = body.get("missing_ok", False)
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        if len(names) > 1 and missing_ok and names[-2] not in schema_oids(catalog):
            notices.append(f'schema "{names[-2]}" does not exist, skipping')
            continue
        where = search_schema(names[-2] if len(names) > 1 else None, bc, names[-1])
        sequence = catalog.find_sequence(names[-1], where) if where else None
        if sequence is None:
            if missing_ok:
                notices.append(f'sequence "{".".join(names[-2:])}" does not exist, skipping')
                continue
            raise SqlError("42P01", f'sequence "{".".join(names[-2:])}" does not exist')
        for table in catalog.tables.values():
            for column in table.columns:
                if column.sequence_oid == sequence.oid and not column.dropped:
                    raise SqlError(
                        "2BP01",
                        f"cannot drop sequence {sequence.name} because other objects depend on it",
                        detail=f"default value for column {column.name} of table {table.name} depends on sequence "
                        f"{sequence.name}",
                        hint="Use DROP ... CASCADE to drop the dependent objects too.",
                    )
        dropping.append(sequence)
    return BoundDropSequences(tuple(dropping), tuple(notices))


def _owned_by(definition: SequenceDef, owned: list[str], catalog: CatalogSnapshot,
              bc: BindContext | None) -> SequenceDef:  # fmt: skip
    """OWNED BY table.column, resolved."""
    if len(owned) < 2:
        raise SqlError("42601", "invalid OWNED BY option", hint="Specify OWNED BY table.column or OWNED BY NONE.")
    where = search_schema(owned[-3] if len(owned) > 2 else None, bc, owned[-2])
    table = catalog.find_table(owned[-2], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{".".join(owned[:-1])}" does not exist')
    column = table.column_index(owned[-1])
    if column is None:
        raise SqlError("42703", f'column "{owned[-1]}" of relation "{table.name}" does not exist')
    return with_owner(definition, table.oid, column)
