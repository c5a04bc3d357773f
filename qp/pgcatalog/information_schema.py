"""information_schema: the SQL standard's views, computed as PostgreSQL's are.

PostgreSQL types these columns with domains (sql_identifier over name,
cardinal_number over integer, character_data and yes_or_no over varchar,
time_stamp over timestamptz); dsql has no domains, so the columns carry the
base types, which is also how the values print.

What each view lists follows PostgreSQL's definitions (information_schema.sql)
for a superuser: tables and columns of every schema (the system relations
included), constraints of user tables with NOT NULL columns shown as CHECK
constraints named `<nsp oid>_<rel oid>_<attnum>_not_null`.
"""

from __future__ import annotations

from qp.catalog.temp_keys import is_temp_oid
from qp.pgcatalog import oids
from qp.pgcatalog.cluster_tables import session_user
from qp.pgcatalog.definitions import constraint_definition, stored_expression, view_definition
from qp.pgcatalog.model import RelationInfo
from qp.pgcatalog.objects import default_tree
from qp.pgcatalog.relation import Lifetime, Source, system_relation
from qp.types import SqlType, format_type, type_by_oid

SCHEMA = "information_schema"
SESSION = Lifetime.SESSION
CATALOG = Lifetime.CATALOG
DB = oids.DATABASE_NAME

_TABLE_KINDS = {"r": "BASE TABLE", "p": "BASE TABLE", "v": "VIEW", "f": "FOREIGN"}


def _yes(flag: bool) -> str:
    return "YES" if flag else "NO"


def _listed(r: RelationInfo) -> bool:
    return r.relkind in _TABLE_KINDS


@system_relation(SCHEMA, "tables", 13440, """
    table_catalog:name table_schema:name table_name:name table_type:varchar self_referencing_column_name:name
    reference_generation:varchar user_defined_type_catalog:name user_defined_type_schema:name
    user_defined_type_name:name is_insertable_into:varchar is_typed:varchar commit_action:varchar""",
                 lifetime=CATALOG)
def tables(src: Source) -> list[tuple]:
    return [(DB, r.schema, r.name, "LOCAL TEMPORARY" if is_temp_oid(r.oid) else _TABLE_KINDS[r.relkind], None,
             None, None, None, None,
             _yes(r.relkind in ("r", "p") and r.system is None), "NO", None)
            for r in src.model.relations if _listed(r)]


@system_relation(SCHEMA, "columns", 13473, """
    table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:int4
    column_default:varchar is_nullable:varchar data_type:varchar character_maximum_length:int4
    character_octet_length:int4 numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4
    datetime_precision:int4 interval_type:varchar interval_precision:int4 character_set_catalog:name
    character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name
    collation_name:name domain_catalog:name domain_schema:name domain_name:name udt_catalog:name
    udt_schema:name udt_name:name scope_catalog:name scope_schema:name scope_name:name
    maximum_cardinality:int4 dtd_identifier:name is_self_referencing:varchar is_identity:varchar
    identity_generation:varchar identity_start:varchar identity_increment:varchar identity_maximum:varchar
    identity_minimum:varchar identity_cycle:varchar is_generated:varchar generation_expression:varchar
    is_updatable:varchar""", lifetime=SESSION)
def columns(src: Source) -> list[tuple]:
    model = src.model
    out = []
    for r in model.relations:
        if not _listed(r):
            continue
        updatable = _yes(r.relkind in ("r", "p") and r.system is None)
        for a in r.attributes:
            if a.dropped:
                continue
            t = a.type
            default = generation = None
            if a.default_sql is not None:
                default = stored_expression(model, default_tree(a.attnum, a.default_sql), r.oid, False, src.ctx)
            if a.generated:
                default, generation = None, default
            domain = model.snapshot.domains_by_oid.get(a.domain_oid) if a.domain_oid else None
            domain_names = (DB, domain.schema, domain.name) if domain is not None else (None, None, None)
            out.append((
                DB, r.schema, r.name, a.name, a.attnum,
                default, _yes(not a.not_null), _data_type(t), _char_max_length(t),
                _char_octet_length(t), _numeric_precision(t), _numeric_radix(t), _numeric_scale(t),
                _datetime_precision(t), None, None, None,
                None, None, None, None,
                None, *domain_names, DB,
                "pg_catalog", t.name, None, None, None,
                None, str(a.attnum), "NO", *_identity(model, a),
                "ALWAYS" if a.generated else "NEVER", generation,
                updatable,
            ))
    return out


_GENERATIONS = {"a": "ALWAYS", "d": "BY DEFAULT"}


def _identity(model, attribute) -> tuple:
    """is_identity, identity_generation, _start, _increment, _maximum, _minimum, _cycle."""
    sequence = model.relation(attribute.sequence_oid) if attribute.identity and attribute.sequence_oid else None
    q = sequence.sequence if sequence is not None else None
    if q is None:
        return "NO", None, None, None, None, None, "NO"
    return ("YES", _GENERATIONS[attribute.identity], str(q.start), str(q.increment), str(q.max_value),
            str(q.min_value), _yes(q.cycle))


def _data_type(t: SqlType) -> str:
    if t.is_array:
        return "ARRAY"
    if t.oid == 1042:
        return "character"
    return format_type(t.base)


def _char_max_length(t: SqlType) -> int | None:
    return t.typmod - 4 if t.oid in (1042, 1043) and t.typmod >= 0 else None


def _char_octet_length(t: SqlType) -> int | None:
    if t.oid not in (25, 1042, 1043):
        return None
    length = _char_max_length(t)
    return 1073741824 if length is None else length * 4  # UTF8: at most 4 bytes a character


_INT_PRECISION = {21: 16, 23: 32, 20: 64, 700: 24, 701: 53}


def _numeric_precision(t: SqlType) -> int | None:
    if t.oid in _INT_PRECISION:
        return _INT_PRECISION[t.oid]
    if t.oid == 1700 and t.typmod >= 0:
        return ((t.typmod - 4) >> 16) & 0xFFFF
    return None


def _numeric_radix(t: SqlType) -> int | None:
    if t.oid in _INT_PRECISION:
        return 2
    return 10 if t.oid == 1700 else None


def _numeric_scale(t: SqlType) -> int | None:
    if t.oid in (20, 21, 23):
        return 0
    if t.oid == 1700 and t.typmod >= 0:
        return (t.typmod - 4) & 0xFFFF
    return None


def _datetime_precision(t: SqlType) -> int | None:
    if t.oid == 1082:
        return 0
    if t.oid in (1083, 1266, 1114, 1184):
        return 6 if t.typmod < 0 else t.typmod
    if t.oid == 1186:
        return 6 if t.typmod < 0 else t.typmod & 0xFFFF
    return None


@system_relation(SCHEMA, "schemata", 13432, """
    catalog_name:name schema_name:name schema_owner:name default_character_set_catalog:name
    default_character_set_schema:name default_character_set_name:name sql_path:varchar""", lifetime=SESSION)
def schemata(src: Source) -> list[tuple]:
    me = session_user(src)
    owners = {"public": "pg_database_owner"}
    # The bootstrap superuser shows under a trust-mode session's own name (as in pg_roles).
    owners.update({s.name: s.owner if s.owner in src.model.snapshot.roles else me
                   for s in src.model.snapshot.schemas.values()})  # fmt: skip
    names = ["pg_catalog", "pg_toast", "public", "information_schema", *src.model.snapshot.schemas]
    return [(DB, name, owners.get(name, me), None, None, None, None) for name in names]


_CONSTRAINT_TYPES = {"p": "PRIMARY KEY", "u": "UNIQUE", "c": "CHECK", "f": "FOREIGN KEY"}


def _not_null_constraints(src: Source):
    """PostgreSQL lists each NOT NULL column as a CHECK constraint."""
    for r in src.model.relations:
        if r.table is None or r.relkind != "r":
            continue
        for a in r.attributes:
            if a.not_null and not a.dropped:
                yield r, a, f"{r.namespace}_{r.oid}_{a.attnum}_not_null"


@system_relation(SCHEMA, "table_constraints", 13416, """
    constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name
    table_name:name constraint_type:varchar is_deferrable:varchar initially_deferred:varchar enforced:varchar
    nulls_distinct:varchar""", lifetime=CATALOG)
def table_constraints(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        schema = c.table.schema
        out.append((DB, schema, c.name, DB, schema, c.table.name, _CONSTRAINT_TYPES[c.contype], "NO", "NO", "YES",
                    "YES" if c.contype == "u" else None))
    for r, _, name in _not_null_constraints(src):
        out.append((DB, r.schema, name, DB, r.schema, r.name, "CHECK", "NO", "NO", "YES", None))
    return out


@system_relation(SCHEMA, "check_constraints", 13368, """
    constraint_catalog:name constraint_schema:name constraint_name:name check_clause:varchar""", lifetime=SESSION)
def check_constraints(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        if c.contype == "c":
            clause = constraint_definition(src.model, c, False, src.ctx)[len("CHECK "):]
            out.append((DB, c.table.schema, c.name, clause))
    for r, a, name in _not_null_constraints(src):
        out.append((DB, r.schema, name, f"{a.name} IS NOT NULL"))
    return out


@system_relation(SCHEMA, "key_column_usage", 13436, """
    constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name
    table_name:name column_name:name ordinal_position:int4 position_in_unique_constraint:int4""",
                 lifetime=CATALOG)
def key_column_usage(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        if c.contype not in ("p", "u", "f"):
            continue
        schema = c.table.schema
        for position, attnum in enumerate(c.attnums, start=1):
            unique_position = None
            if c.contype == "f" and c.index is not None and position <= len(c.ref_attnums):
                ref_position = c.ref_attnums[position - 1] - 1
                if ref_position in c.index.columns:
                    unique_position = c.index.columns.index(ref_position) + 1
            out.append((DB, schema, c.name, DB, schema, c.table.name, c.table.columns[attnum - 1].name, position,
                        unique_position))
    return out


@system_relation(SCHEMA, "constraint_column_usage", 13404, """
    table_catalog:name table_schema:name table_name:name column_name:name constraint_catalog:name
    constraint_schema:name constraint_name:name""", lifetime=CATALOG)
def constraint_column_usage(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        schema = c.table.schema
        if c.contype == "f":
            # A foreign key "uses" the referenced columns.
            if c.referenced is not None:
                for attnum in c.ref_attnums:
                    out.append((DB, c.referenced.schema, c.referenced.name, c.referenced.columns[attnum - 1].name,
                                DB, schema, c.name))
            continue
        for attnum in c.attnums:
            out.append((DB, schema, c.table.name, c.table.columns[attnum - 1].name, DB, schema, c.name))
    return out


@system_relation(SCHEMA, "character_sets", 13348, """
    character_set_catalog:name character_set_schema:name character_set_name:name character_repertoire:name
    form_of_use:name default_collate_catalog:name default_collate_schema:name default_collate_name:name""",
                 lifetime=Lifetime.STATIC)
def character_sets(src: Source) -> list[tuple]:
    return [(None, None, "UTF8", "UCS", "UTF8", DB, "pg_catalog", "ucs_basic")]


@system_relation(SCHEMA, "views", 13496, """
    table_catalog:name table_schema:name table_name:name view_definition:varchar check_option:varchar
    is_updatable:varchar is_insertable_into:varchar is_trigger_updatable:varchar is_trigger_deletable:varchar
    is_trigger_insertable_into:varchar""", lifetime=SESSION)
def views(src: Source) -> list[tuple]:
    return [(DB, r.schema, r.name, view_definition(src.model, r, src.ctx), "NONE", "NO", "NO", "NO", "NO", "NO")
            for r in src.model.relations if r.view is not None]


def _is_identity_sequence(src: Source, sequence) -> bool:
    if sequence.owned_by is None:
        return False
    owner = src.model.relation(sequence.owned_by[0])
    return owner is not None and bool(owner.attributes[sequence.owned_by[1]].identity)


_RULES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


@system_relation(SCHEMA, "referential_constraints", 13400, """
    constraint_catalog:name constraint_schema:name constraint_name:name unique_constraint_catalog:name
    unique_constraint_schema:name unique_constraint_name:name match_option:varchar update_rule:varchar
    delete_rule:varchar""", lifetime=CATALOG)
def referential_constraints(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        fk = c.foreign_key
        if fk is None:
            continue
        key = c.index if c.index is not None and c.index.constraint else None
        ref_schema = c.referenced.schema if c.referenced is not None and key is not None else None
        out.append((DB, c.table.schema, c.name, DB if key else None, ref_schema, key.name if key else None,
                    "FULL" if fk.match_full else "NONE", _RULES.get(fk.on_update, "NO ACTION"),
                    _RULES.get(fk.on_delete, "NO ACTION")))
    return out


@system_relation(SCHEMA, "sequences", 13464, """
    sequence_catalog:name sequence_schema:name sequence_name:name data_type:varchar numeric_precision:int4
    numeric_precision_radix:int4 numeric_scale:int4 start_value:varchar minimum_value:varchar
    maximum_value:varchar increment:varchar cycle_option:varchar""", lifetime=CATALOG)
def sequences(src: Source) -> list[tuple]:
    out = []
    for r in src.model.relations:
        q = r.sequence
        if q is None or _is_identity_sequence(src, q):
            continue  # PostgreSQL leaves out the sequences of identity columns
        t = type_by_oid(q.type_oid)
        out.append((DB, r.schema, r.name, format_type(t), _numeric_precision(t), 2, 0, str(q.start),
                    str(q.min_value), str(q.max_value), str(q.increment), _yes(q.cycle)))
    return out
