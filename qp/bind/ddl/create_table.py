"""CREATE TABLE bound: columns (types, domains, defaults, identity, serial, generated), LIKE
expanded (qp/bind/ddl/like.py), constraints checked and named in PostgreSQL's order, foreign
keys bound, DSQL's limits applied; qp/ddl/tables.py writes the table, its sequences and the
comments LIKE copies.

The oids a new table takes (its own, then its index-backed constraints' and LIKE's indexes',
then its sequences') come from the catalog's counter, which only the transaction can read.
Binding numbers them from a placeholder instead (`_placeholder_oid`: no table has it, and it
is temporary exactly when the table is, as binding's checks need), and applying moves them
to where the counter says (`BoundCreateTable.placed_at`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.constraints import foreign_key_from
from qp.bind.ddl.generated import check_generation_expressions
from qp.bind.ddl.like import LIKE_COMMENT_KEY, LIKE_DOMAIN_KEY, LIKE_TYPE_KEY, expand_like, like_key_name
from qp.bind.ddl.limits import COLUMNS_PER_KEY_MAX, COLUMNS_PER_TABLE_MAX, TABLES_MAX
from qp.bind.ddl.names import (
    check_collation,
    check_name,
    check_not_system_column,
    column_names_in,
    creation_schema_of,
    distinct_index_constraints,
    resolve_column_type,
)
from qp.bind.ddl.naming import check_column, choose_name, constraint_names, name_addition
from qp.bind.ddl.sequences import sequence_options, with_owner
from qp.bind.ddl.skip import SkipDdl
from qp.bind.domains import domain_named
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope, table_scope
from qp.catalog.stored import (
    CatalogSnapshot,
    CheckDef,
    ColumnDef,
    IndexDef,
    IndexState,
    SequenceDef,
    TableDef,
    require_key_type,
)
from qp.catalog.temp_keys import TEMP_OID_BASE, is_temp_oid
from qp.errors import SqlError
from qp.parse.parser import node_kind, string_list
from qp.parse.unsupported import syntax_words
from qp.pgcatalog.search_path import USER_SCHEMA
from storage import keys


@dataclass(frozen=True, slots=True)
class BoundCreateTable:
    """CREATE TABLE: the table with its indexes, checks and foreign keys, the sequences of its
    serial and identity columns, and the column comments LIKE ... INCLUDING COMMENTS copies
    ((position, text)); every oid numbered from the table's placeholder oid."""

    table: TableDef
    sequences: tuple[SequenceDef, ...]
    comments: tuple[tuple[int, str], ...]
    oids_used: int  # the table's oid and the next oids_used - 1

    def placed_at(self, oid: int) -> tuple[TableDef, tuple[SequenceDef, ...]]:
        """The table and its sequences with their oids moved to start at `oid`."""
        placeholder = self.table.oid
        shift = oid - placeholder
        table = self.table
        columns = tuple(
            replace(c, sequence_oid=c.sequence_oid + shift) if c.sequence_oid is not None else c
            for c in table.columns
        )
        indexes = tuple(replace(ix, oid=ix.oid + shift) for ix in table.indexes)
        foreign_keys = tuple(  # a key referencing the table itself
            replace(fk, ref_oid=oid) if fk.ref_oid == placeholder else fk for fk in table.foreign_keys
        )
        table = replace(table, oid=oid, key_id=keys.table_key_id_for(oid), columns=columns, indexes=indexes,
                        foreign_keys=foreign_keys)  # fmt: skip
        sequences = tuple(
            replace(s, oid=s.oid + shift, owned_by=(oid, s.owned_by[1]) if s.owned_by else None)
            for s in self.sequences
        )
        return table, sequences


def _placeholder_oid(catalog: CatalogSnapshot, temporary: bool) -> int:
    """An oid no table of the catalog has (so a foreign key to it is one to the new table),
    temporary when the table is: past every oid of its kind, and at least where that kind's
    oids start (for a permanent table, the catalog's next oid: usually the one it gets)."""
    floor = TEMP_OID_BASE if temporary else catalog.next_oid
    return max([floor, *(o + 1 for o in catalog.by_oid if is_temp_oid(o) == temporary)])


def bind_create_table(body: dict, catalog: CatalogSnapshot, bc: BindContext,
                      name_taken: Callable[[str, str], bool]) -> BoundCreateTable | SkipDdl:  # fmt: skip
    """CREATE TABLE. `name_taken(name, schema)` says whether a relation of that name is in
    the way (a temporary table collides only with temporary relations)."""
    relation = body["relation"]
    name = check_name(relation["relname"])
    if relation.get("relpersistence") != "t" and body.get("oncommit", "ONCOMMIT_NOOP") != "ONCOMMIT_NOOP":
        raise SqlError("42P16", "ON COMMIT can only be used on temporary tables")
    # A temporary table (qp/ddl/temp_objects.py) is made like any other: the statement
    # runs in temp_mode, so its oids are temporary ones and its keys the session's.
    # A temporary table goes to the session's pg_temp whatever the search path says.
    schema = USER_SCHEMA if relation.get("relpersistence") == "t" else creation_schema_of(relation, bc)
    for unsupported, message in (
        ("partspec", "PARTITION BY clause not supported for CREATE TABLE"),
        ("inhRelations", "INHERITS is not supported"),
        ("ofTypename", "CREATE TABLE OF is not supported"),
        ("partbound", "PARTITION OF is not supported"),
    ):
        if body.get(unsupported):
            raise SqlError("0A000", message)
    if name_taken(name, schema):
        if body.get("if_not_exists"):
            return SkipDdl("CREATE TABLE", (f'relation "{name}" already exists, skipping',))
        raise SqlError("42P07", f'relation "{name}" already exists')
    if len(catalog.tables) >= TABLES_MAX:
        raise SqlError("54000", f"creating more than {TABLES_MAX} tables not allowed")

    columns: list[ColumnDef] = []
    pk: tuple[int, ...] | None = None
    # PRIMARY KEY and UNIQUE, in the order written: [name or None, columns, primary]
    index_constraints: list[list] = []
    checks: list[tuple[str | None, dict]] = []
    not_null: set[int] = set()
    table_constraints: list[dict] = []
    foreign: list[tuple[dict, int | None]] = []
    sequenced: list[tuple[int, tuple | None]] = []  # serial and identity columns
    index_options: dict[tuple[int, ...], tuple[bool, tuple[int, ...]]] = {}  # NULLS NOT DISTINCT, INCLUDE
    like_comments: dict[int, str] = {}  # column position -> comment LIKE ... INCLUDING COMMENTS copies
    elements, like_indexes = expand_like(body.get("tableElts", ()), catalog, bc)
    for element in elements:
        kind = node_kind(element)
        if kind == "ColumnDef":
            cd = element["ColumnDef"]
            col_name = check_name(cd["colname"])
            if any(c.name == col_name for c in columns):
                raise SqlError("42701", f'column "{col_name}" specified more than once')
            domain = domain_named(bc, cd["typeName"]) if "typeName" in cd else None
            if cd.get(LIKE_COMMENT_KEY):
                like_comments[len(columns)] = cd[LIKE_COMMENT_KEY]
            if LIKE_TYPE_KEY in cd:  # copied by LIKE
                col_type, serial = cd[LIKE_TYPE_KEY], False
            elif domain is not None:  # a column of a domain is of its base type, checked by writers
                col_type, serial = domain.base_type, False
            else:
                col_type, serial = resolve_column_type(cd["typeName"])
                check_collation(cd, col_type)
            default = None
            generated = None
            identity = None
            index = len(columns)
            if cd.get("is_not_null"):
                not_null.add(index)
            for con_node in cd.get("constraints", ()):
                con = con_node["Constraint"]
                contype = con.get("contype")
                if contype == "CONSTR_NOTNULL":
                    not_null.add(index)
                elif contype == "CONSTR_NULL":
                    not_null.discard(index)
                elif contype == "CONSTR_DEFAULT":
                    if generated is not None:
                        raise _both("default", col_name, name, con)
                    default = con["raw_expr"]
                elif contype == "CONSTR_PRIMARY":
                    if pk is not None:
                        raise SqlError("42P16", f'multiple primary keys for table "{name}" are not allowed')
                    pk = (index,)
                    index_constraints.append([con.get("conname"), pk, True])
                elif contype == "CONSTR_UNIQUE":
                    index_constraints.append([con.get("conname"), (index,), False])
                    if con.get("nulls_not_distinct"):
                        index_options[(index,)] = (True, ())
                elif contype == "CONSTR_CHECK":
                    checks.append((con.get("conname"), con["raw_expr"]))
                elif contype == "CONSTR_IDENTITY":
                    if serial or identity is not None:
                        raise SqlError("42601", f'multiple identity specifications for column "{col_name}"')
                    if generated is not None:
                        raise _both("identity", col_name, name, con)
                    identity = (con.get("generated_when", "a"), con.get("options", []))
                elif contype == "CONSTR_GENERATED":
                    if default is not None:
                        raise _both("default", col_name, name, con)
                    if serial or identity is not None:
                        raise _both("identity", col_name, name, con)
                    generated = con["raw_expr"]
                elif contype == "CONSTR_FOREIGN":
                    foreign.append((con, index))
                elif contype in (
                    "CONSTR_ATTR_DEFERRABLE",
                    "CONSTR_ATTR_NOT_DEFERRABLE",
                    "CONSTR_ATTR_DEFERRED",
                    "CONSTR_ATTR_IMMEDIATE",
                ):
                    continue
                else:
                    raise SqlError("0A000", f"constraint {contype} is not supported")
            if (serial or identity) and default is not None:
                raise SqlError(
                    "42601", f'both default and identity specified for column "{col_name}" of table "{name}"'
                )
            if identity is not None and col_type.oid not in (20, 21, 23):
                raise SqlError("22023", "identity column type must be smallint, integer, or bigint")
            if serial or identity:
                not_null.add(index)
                sequenced.append((index, identity))
            columns.append(
                ColumnDef(
                    col_name,
                    col_type,
                    False,
                    json.dumps(default) if default else None,
                    identity=identity[0] if identity else None,
                    generated=json.dumps(generated) if generated is not None else None,
                    domain_oid=domain.oid if domain is not None else cd.get(LIKE_DOMAIN_KEY),
                )
            )
        elif kind == "Constraint":
            table_constraints.append(element["Constraint"])
        else:
            raise SqlError("0A000", f"{syntax_words(kind)} in CREATE TABLE is not supported")
    for column in columns:  # after the duplicate check, as PostgreSQL's CheckAttributeNamesTypes
        check_not_system_column(column.name)
    if not columns:
        raise SqlError("0A000", "tables without columns are not supported")
    if len(columns) > COLUMNS_PER_TABLE_MAX:
        raise SqlError("54011", f"tables can have at most {COLUMNS_PER_TABLE_MAX} columns")
    positions = {c.name: i for i, c in enumerate(columns)}

    def key_columns(con: dict) -> tuple[int, ...]:
        out = []
        for key_name in string_list(con.get("keys")):
            if key_name not in positions:
                raise SqlError("42703", f'column "{key_name}" named in key does not exist')
            out.append(positions[key_name])
        return tuple(out)

    for con in table_constraints:
        contype = con.get("contype")
        if contype == "CONSTR_PRIMARY":
            if pk is not None:
                raise SqlError("42P16", f'multiple primary keys for table "{name}" are not allowed')
            pk = key_columns(con)
            index_constraints.append([con.get("conname"), pk, True])
        elif contype == "CONSTR_UNIQUE":
            index_constraints.append([con.get("conname"), key_columns(con), False])
        elif contype == "CONSTR_CHECK":
            checks.append((con.get("conname"), con["raw_expr"]))
        elif contype == "CONSTR_FOREIGN":
            foreign.append((con, None))
        elif contype == "CONSTR_EXCLUSION":
            raise SqlError("0A000", "exclusion constraints are not supported")
        else:
            raise SqlError("0A000", f"table constraint {contype} is not supported")
        if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and (con.get("including") or con.get("nulls_not_distinct")):
            including = []
            for included in string_list(con.get("including")):
                if included not in positions:
                    raise SqlError("42703", f'column "{included}" named in key does not exist')
                including.append(positions[included])
            index_options[key_columns(con)] = (bool(con.get("nulls_not_distinct")), tuple(including))
    if pk is not None:
        if len(pk) > COLUMNS_PER_KEY_MAX:
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        not_null.update(pk)
        for i in pk:
            require_key_type(columns[i], "a primary key")
    columns = [replace(c, not_null=(i in not_null)) for i, c in enumerate(columns)]

    oid = _placeholder_oid(catalog, relation.get("relpersistence") == "t")
    next_oid = oid + 1
    # Names are chosen in PostgreSQL's order (qp/bind/ddl/naming.py): sequences of serial
    # and identity columns, checks, the index-backed constraints (the primary
    # key first), then foreign keys; each avoids what exists by then.
    new_relations = {name}
    schema_constraints = constraint_names(catalog, schema)
    own_constraints: set[str] = set()

    def relation_taken(candidate: str) -> bool:
        return candidate in new_relations or catalog.relation_name_taken(candidate, schema)

    sequence_names = []
    for column_index, _ in sequenced:
        seq_name = choose_name(name, columns[column_index].name, "seq", relation_taken)
        new_relations.add(seq_name)
        sequence_names.append(seq_name)

    # Bind defaults and checks now, so a bad one fails CREATE TABLE (as in PG).
    table = TableDef(
        oid=oid, name=name, columns=tuple(columns), pk=pk, schema=schema, key_id=keys.table_key_id_for(oid)
    )
    scope = table_scope(table, bc)
    for column in columns:
        if column.default_sql is not None:
            binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
            expr = binder.bind(json.loads(column.default_sql))
            if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
                raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
            coerce(expr, column.type, bc, "assignment", column.name)
    check_generation_expressions(table, bc)
    check_defs = []
    for con_name, raw in checks:
        binder = ExprBinder(bc, scope, QueryLevel(what="check constraints"))
        binder.bind_bool(raw, "CHECK")
        if con_name is None:
            column_name = check_column(n for n in column_names_in(raw) if n in positions)
            con_name = choose_name(
                name, column_name, "check", lambda c: c in own_constraints or c in schema_constraints
            )
        elif con_name in own_constraints:
            raise SqlError("42710", f'check constraint "{con_name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        check_defs.append(CheckDef(con_name, json.dumps(raw)))

    indexes: list[IndexDef] = []
    next_index_id = 2
    for con_name, cols, primary in distinct_index_constraints(index_constraints):
        for i in cols:
            require_key_type(columns[i], "a primary key" if primary else "a unique constraint")
        if len(cols) > COLUMNS_PER_KEY_MAX:
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        nulls_not_distinct, including = index_options.get(cols, (False, ()))
        if con_name is None:
            addition = None if primary else name_addition(columns[i].name for i in (*cols, *including))
            con_name = choose_name(
                name,
                addition,
                "pkey" if primary else "key",
                lambda c: relation_taken(c) or c in schema_constraints,
            )
        elif relation_taken(con_name):
            raise SqlError("42P07", f'relation "{con_name}" already exists')
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        new_relations.add(con_name)
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        options = {"include": including, "nulls_not_distinct": nulls_not_distinct}
        if primary:
            indexes.append(IndexDef(next_oid, con_name, keys.PRIMARY_INDEX_ID, cols, True, True,
                                    IndexState.PUBLIC, True, **options))  # fmt: skip
        else:
            indexes.append(IndexDef(next_oid, con_name, next_index_id, cols, True, False,
                                    IndexState.PUBLIC, True, **options))  # fmt: skip
            next_index_id += 1
        next_oid += 1
    for source, index in like_indexes:  # indexes copied by LIKE ... INCLUDING INDEXES
        source_names = [source.columns[p].name if p >= 0 else None for p in index.columns]
        cols = tuple(positions[c] if c is not None else -1 for c in source_names)
        include = tuple(positions[source.columns[p].name] for p in index.include)
        key_names = [c if c is not None else like_key_name(index, k) for k, c in enumerate(source_names)]
        key_names += [source.columns[p].name for p in index.include]
        index_name = choose_name(name, name_addition(key_names), "idx", relation_taken)
        new_relations.add(index_name)
        indexes.append(replace(index, oid=next_oid, name=index_name, index_id=next_index_id, columns=cols,
                               include=include, state=IndexState.PUBLIC, constraint=False))  # fmt: skip
        next_index_id += 1
        next_oid += 1
    table = replace(table, indexes=tuple(indexes), next_index_id=next_index_id, checks=tuple(check_defs))
    fks = []
    for con, column_index in foreign:
        attr_names = (
            [columns[column_index].name] if column_index is not None else string_list(con.get("fk_attrs"))
        )
        con_name = con.get("conname")
        if con_name is None:
            con_name = choose_name(name, name_addition(attr_names), "fkey", lambda c: c in schema_constraints)
        elif con_name in own_constraints:
            raise SqlError("42710", f'constraint "{con_name}" for relation "{name}" already exists')
        own_constraints.add(con_name)
        schema_constraints.add(con_name)
        fk = foreign_key_from(con, table, column_index, catalog, con_name, bc)
        fks.append(replace(fk, validated=True))  # a new table has no rows to check
    table = replace(table, foreign_keys=tuple(fks))
    # Each serial or identity column gets a sequence of its own, owned by it.
    sequences = []
    columns = list(table.columns)
    for (column_index, identity), seq_name in zip(sequenced, sequence_names, strict=True):
        column = columns[column_index]
        definition, _, _ = sequence_options(
            identity[1] if identity else [],
            name=seq_name,
            oid=next_oid,
            type_oid=column.type.oid,
            require_cache=identity is not None,
        )
        sequences.append(replace(with_owner(definition, oid, column_index), schema=schema))
        columns[column_index] = replace(column, sequence_oid=next_oid)
        next_oid += 1
    table = replace(table, columns=tuple(columns))
    return BoundCreateTable(table, tuple(sequences), tuple(like_comments.items()), next_oid - oid)


def _both(what: str, column: str, table: str, con: dict) -> SqlError:
    """A column with a generation expression and a default or an identity (PostgreSQL's parse-time error)."""
    error = SqlError("42601", f'both {what} and generation expression specified for column "{column}" of table "{table}"')
    error.location = con.get("location")
    return error
