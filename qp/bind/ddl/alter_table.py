"""ALTER TABLE bound: the table found, and each sub-command (ADD / DROP COLUMN, column
defaults, DROP EXPRESSION, DROP NOT NULL, ADD / DROP / VALIDATE CONSTRAINT) checked and
applied in order to the table's descriptor; qp/ddl/tables.py writes the result.

What needs the table's rows stays with applying: VALIDATE CONSTRAINT's pass over the rows
(`BoundAlterTable.validations`), and the online steps an ADD CONSTRAINT asks for (index
builds, validation: `followups`). The oids of indexes that ADD CONSTRAINT creates are
numbered from PLACEHOLDER_OID (no object has a negative oid) and moved to the catalog
counter's when applied (`BoundAlterTable.placed_at`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.constraints import foreign_key_from
from qp.bind.ddl.generated import generation_dependents
from qp.bind.ddl.index_exprs import index_reads_column
from qp.bind.ddl.limits import COLUMNS_PER_KEY_MAX, COLUMNS_PER_TABLE_MAX
from qp.bind.ddl.missing import added_column_default
from qp.bind.ddl.names import (
    SYSTEM_COLUMN_NAMES,
    check_collation,
    check_name,
    check_not_system_column,
    column_names_in,
    existing_column,
    relation_display,
    resolve_column_type,
    schema_of,
    search_schema,
)
from qp.bind.ddl.naming import check_column, choose_name, constraint_names, name_addition
from qp.bind.ddl.skip import SkipDdl
from qp.bind.domains import domain_named
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope, table_scope
from qp.catalog.stored import (
    CatalogSnapshot,
    CheckDef,
    ColumnDef,
    ForeignKeyDef,
    IndexDef,
    IndexState,
    TableDef,
    require_key_type,
)
from qp.errors import SqlError
from qp.parse.parser import string_list
from storage import keys

PLACEHOLDER_OID = -(1 << 40)


@dataclass(frozen=True, slots=True)
class BoundAlterTable:
    """ALTER TABLE: the table as its sub-commands leave it, how many oids they take (indexes of
    ADD CONSTRAINT, numbered from PLACEHOLDER_OID), the constraints VALIDATE CONSTRAINT checks
    against the rows now (each with the table as it was when its turn came), the notices, and
    the online steps to run after it commits."""

    table: TableDef
    oids_used: int
    validations: tuple[tuple[TableDef, CheckDef | ForeignKeyDef], ...]
    notices: tuple[str, ...]
    followups: tuple[tuple, ...]
    bind_context: BindContext | None  # what the validations bind a CHECK's expression with

    def placed_at(self, oid: int) -> BoundAlterTable:
        """The statement with the oids it takes moved to start at `oid`."""
        shift = oid - PLACEHOLDER_OID

        def placed(table: TableDef) -> TableDef:
            return replace(table, indexes=tuple(
                replace(ix, oid=ix.oid + shift) if ix.oid < 0 else ix for ix in table.indexes
            ))  # fmt: skip

        validations = tuple((placed(table), constraint) for table, constraint in self.validations)
        return replace(self, table=placed(self.table), validations=validations)


def changes_owner_only(body: dict) -> bool:
    """Whether an ALTER TABLE only changes the owner (ALTER TABLE ... OWNER TO, bound apart)."""
    cmds = body.get("cmds", ())
    return bool(cmds) and all(c["AlterTableCmd"].get("subtype") == "AT_ChangeOwner" for c in cmds)


def set_validated(table: TableDef, name: str) -> TableDef:
    return replace(
        table,
        checks=tuple(replace(c, validated=True) if c.name == name else c for c in table.checks),
        foreign_keys=tuple(replace(f, validated=True) if f.name == name else f for f in table.foreign_keys),
    )


def set_column(table: TableDef, index: int, column: ColumnDef) -> TableDef:
    columns = list(table.columns)
    columns[index] = column
    return replace(table, columns=tuple(columns))


def bind_alter_table(body: dict, catalog: CatalogSnapshot, bc: BindContext,
                     asynchronous: bool = False) -> BoundAlterTable | SkipDdl:  # fmt: skip
    """ALTER TABLE [ASYNC] with its sub-commands, bound in order, each on the table as the ones
    before it left it."""
    relation = body["relation"]
    where = search_schema(schema_of(relation), bc, relation["relname"], missing_ok=body.get("missing_ok", False))
    if body.get("objtype", "OBJECT_TABLE") != "OBJECT_TABLE":
        raise SqlError("0A000", "ALTER of this object type is not supported")
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        if body.get("missing_ok"):
            return SkipDdl("ALTER TABLE", (f'relation "{relation_display(relation)}" does not exist, skipping',))
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    notices: list[str] = []
    followups: list[tuple] = []
    validations: list[tuple[TableDef, CheckDef | ForeignKeyDef]] = []
    next_oid = PLACEHOLDER_OID
    for cmd_node in body.get("cmds", ()):
        cmd = cmd_node["AlterTableCmd"]
        subtype = cmd.get("subtype")
        if subtype == "AT_AddConstraint":
            table, next_oid = _add_constraint(
                table, cmd["def"]["Constraint"], catalog, bc, next_oid, followups
            )
        elif subtype == "AT_DropConstraint":
            table = _drop_constraint(table, cmd, catalog, notices)
        elif subtype == "AT_ValidateConstraint":
            constraint = table.constraint_named(cmd["name"])
            if constraint is None:
                raise SqlError(
                    "42704", f'constraint "{cmd["name"]}" of relation "{table.name}" does not exist'
                )
            if isinstance(constraint, (CheckDef, ForeignKeyDef)) and not constraint.validated:
                if asynchronous:  # DSQL's ALTER TABLE ASYNC ... VALIDATE CONSTRAINT: a job
                    followups.append(("revalidate", table.oid, constraint.name))
                    continue
                # Writers already enforce it, so one pass over the rows at this
                # snapshot covers every row it has not seen: applying makes it.
                validations.append((table, constraint))
                table = set_validated(table, constraint.name)
        else:
            table = _alter_one(table, cmd, catalog, bc, notices)
    return BoundAlterTable(table, next_oid - PLACEHOLDER_OID, tuple(validations), tuple(notices), tuple(followups),
                           bc if validations else None)  # fmt: skip


def _add_constraint(
    table: TableDef,
    con: dict,
    catalog: CatalogSnapshot,
    bc: BindContext,
    next_oid: int,
    followups: list[tuple],
) -> tuple[TableDef, int]:
    """Add a constraint NOT VALID / write-only; `followups` validate and publish it."""
    contype = con.get("contype")
    name = con.get("conname")
    if name and table.constraint_named(name) is not None:
        raise SqlError("42710", f'constraint "{name}" for relation "{table.name}" already exists')

    def columns_of() -> tuple[int, ...]:
        out = []
        for column_name in string_list(con.get("keys")):
            index = table.column_index(column_name)
            if index is None:
                raise SqlError("42703", f'column "{column_name}" named in key does not exist')
            out.append(index)
        if len(out) > COLUMNS_PER_KEY_MAX:
            raise SqlError(
                "54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported"
            )
        return tuple(out)

    schema_constraints = (
        constraint_names(catalog, table.schema)
        | {c.name for c in (*table.checks, *table.foreign_keys)}
        | {ix.name for ix in table.indexes if ix.constraint}
    )

    def fresh_name(name2: str | None, label: str, *, relation: bool = False) -> str:
        """PostgreSQL's default name (qp/bind/ddl/naming.py); index-backed ones avoid relations too."""

        def taken(candidate: str) -> bool:
            return candidate in schema_constraints or (
                relation and catalog.relation_name_taken(candidate, table.schema)
            )

        return choose_name(table.name, name2, label, taken)

    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
        if con.get("indexname"):
            raise SqlError("0A000", "ADD CONSTRAINT ... USING INDEX is not supported")
        cols = columns_of()
        for i in cols:
            require_key_type(
                table.columns[i], "a primary key" if contype == "CONSTR_PRIMARY" else "a unique constraint"
            )
        primary = contype == "CONSTR_PRIMARY"
        if primary and (table.pk is not None or table.primary_index is not None):
            raise SqlError("42P16", f'multiple primary keys for table "{table.name}" are not allowed')
        if name and catalog.relation_name_taken(name, table.schema):
            raise SqlError("42P07", f'relation "{name}" already exists')
        index_name = name or fresh_name(
            None if primary else name_addition(table.columns[i].name for i in cols),
            "pkey" if primary else "key",
            relation=True,
        )
        include = tuple(existing_column(table, c) for c in string_list(con.get("including")))
        # A primary key makes its columns NOT NULL: writers enforce it from now on, and the
        # existing rows are checked next, unless every column was NOT NULL already (then
        # writers always did; pgbench's ADD PRIMARY KEY then skips a scan of every row).
        nullable = tuple(dict.fromkeys(i for i in cols if not table.columns[i].not_null)) if primary else None
        index = IndexDef(
            next_oid, index_name, table.next_index_id, cols, True, primary, IndexState.WRITE_ONLY, True,
            include=include, nulls_not_distinct=bool(con.get("nulls_not_distinct")), not_null_from_key=nullable,
        )  # fmt: skip
        columns = list(table.columns)
        if nullable:
            for i in nullable:
                columns[i] = replace(columns[i], not_null=True)
            followups.append(("validate", table.oid, index_name))
        followups.append(("build_index", table.oid, index_name))
        table = replace(
            table,
            columns=tuple(columns),
            indexes=table.indexes + (index,),
            next_index_id=table.next_index_id + 1,
        )
        return table, next_oid + 1
    if contype == "CONSTR_CHECK":
        scope = table_scope(table, bc)
        ExprBinder(bc, scope, QueryLevel(what="check constraints")).bind_bool(con["raw_expr"], "CHECK")
        if not name:
            used = [n for n in column_names_in(con["raw_expr"]) if table.column_index(n) is not None]
            name = fresh_name(check_column(used), "check")
        check = CheckDef(name, json.dumps(con["raw_expr"]), validated=False)
        if not con.get("skip_validation"):
            followups.append(("validate", table.oid, name))
        return replace(table, checks=table.checks + (check,)), next_oid
    if contype == "CONSTR_FOREIGN":
        fk_name = name or fresh_name(name_addition(string_list(con.get("fk_attrs"))), "fkey")
        fk = replace(foreign_key_from(con, table, None, catalog, fk_name, bc), validated=False)
        if not con.get("skip_validation"):
            followups.append(("validate", table.oid, fk_name))
        return replace(table, foreign_keys=table.foreign_keys + (fk,)), next_oid
    raise SqlError("0A000", f"ALTER TABLE ADD CONSTRAINT {contype.removeprefix('CONSTR_')} is not supported")


def _drop_constraint(table: TableDef, cmd: dict, catalog: CatalogSnapshot, notices: list[str]) -> TableDef:
    name = cmd["name"]
    constraint = table.constraint_named(name)
    if constraint is None:
        if cmd.get("missing_ok"):
            notices.append(f'constraint "{name}" of relation "{table.name}" does not exist, skipping')
            return table
        raise SqlError("42704", f'constraint "{name}" of relation "{table.name}" does not exist')
    if isinstance(constraint, IndexDef):
        if constraint.index_id == keys.PRIMARY_INDEX_ID:
            raise SqlError("0A000", "dropping a table's physical primary key is not supported")
        for child, fk in catalog.referencing.get(table.oid, ()):
            if set(fk.ref_columns) == set(constraint.columns):
                raise SqlError(
                    "2BP01",
                    f"cannot drop constraint {name} on table {table.name} because other objects depend on it",
                    detail=f"constraint {fk.name} on table {child.name} depends on index {name}",
                )
        return replace(table, indexes=tuple(ix for ix in table.indexes if ix.oid != constraint.oid))
    if isinstance(constraint, CheckDef):
        return replace(table, checks=tuple(c for c in table.checks if c.name != name))
    return replace(table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != name))


def _alter_one(
    table: TableDef, cmd: dict, catalog: CatalogSnapshot, bc: BindContext, notices: list[str]
) -> TableDef:
    subtype = cmd.get("subtype")
    name = cmd.get("name")
    if subtype == "AT_AddColumn":
        cd = cmd["def"]["ColumnDef"]
        col_name = check_name(cd["colname"])
        check_not_system_column(col_name)
        if table.column_index(col_name) is not None:
            if cmd.get("missing_ok"):
                notices.append(f'column "{col_name}" of relation "{table.name}" already exists, skipping')
                return table
            raise SqlError("42701", f'column "{col_name}" of relation "{table.name}" already exists')
        if len(table.live_columns) >= COLUMNS_PER_TABLE_MAX:
            raise SqlError("54011", f"tables can have at most {COLUMNS_PER_TABLE_MAX} columns")
        if domain_named(bc, cd["typeName"]) is not None:
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN of a domain type is not supported")
        col_type, serial = resolve_column_type(cd["typeName"])
        if serial:
            raise SqlError("0A000", "ALTER TABLE ADD COLUMN with constraint not supported")
        check_collation(cd, col_type)
        # DSQL adds bare columns only; a DEFAULT is dsql's extension (qp/ddl/missing.py).
        default_sql, missing, not_null = added_column_default(cd, col_type, col_name, bc)
        column = ColumnDef(col_name, col_type, not_null, default_sql, missing=missing)
        return replace(table, columns=table.columns + (column,))
    if subtype in ("AT_DropColumn", "AT_AlterColumnType") and catalog.dependent_views(table.oid):
        view = catalog.dependent_views(table.oid)[0]
        raise SqlError(
            "2BP01",
            f"cannot alter table {table.name} because other objects depend on it",
            detail=f"view {view.name} depends on table {table.name}",
            hint="Drop the view first (DROP VIEW), then recreate it.",
        )
    if subtype == "AT_DropColumn":
        if name in SYSTEM_COLUMN_NAMES:
            raise SqlError("0A000", f'cannot drop system column "{name}"')
        index = table.column_index(name)
        if index is None:
            if cmd.get("missing_ok"):
                notices.append(f'column "{name}" of relation "{table.name}" does not exist, skipping')
                return table
            raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
        if table.pk is not None and index in table.pk:
            raise SqlError("0A000", "dropping a primary key column is not supported")
        dependents = [c for c in generation_dependents(table, name) if c != name]
        if dependents and cmd.get("behavior") != "DROP_CASCADE":
            raise SqlError(
                "2BP01",
                f"cannot drop column {name} of table {table.name} because other objects depend on it",
                detail=f"column {dependents[0]} of table {table.name} depends on column {name} of table {table.name}",
                hint="Use DROP ... CASCADE to drop the dependent objects too.",
            )
        if len(table.live_columns) <= 1 + len(dependents):
            raise SqlError("0A000", "cannot drop the last column of a table")
        for dependent in dependents:  # CASCADE: the generated columns reading it go too
            table = _alter_one(table, {"subtype": "AT_DropColumn", "name": dependent}, catalog, bc, notices)
        columns = list(table.columns)
        columns[index] = replace(columns[index], dropped=True, not_null=False, default_sql=None, generated=None)
        indexes = tuple(
            ix
            for ix in table.indexes
            if index not in ix.columns and index not in ix.include and not index_reads_column(ix, name)
        )
        checks = tuple(c for c in table.checks if name not in column_names_in(json.loads(c.sql)))
        return replace(table, columns=tuple(columns), indexes=indexes, checks=checks)
    if subtype == "AT_DropExpression":
        index = existing_column(table, name)
        column = table.columns[index]
        if column.generated is None:
            message = f'column "{name}" of relation "{table.name}" is not a stored generated column'
            if cmd.get("missing_ok"):
                notices.append(message + ", skipping")
                return table
            raise SqlError("55000", message)
        # The stored values stay; the column just stops being computed.
        return set_column(table, index, replace(column, generated=None))
    if subtype == "AT_ColumnDefault":
        index = existing_column(table, name)
        column = table.columns[index]
        if column.generated is not None:
            raise SqlError("42601", f'column "{name}" of relation "{table.name}" is a generated column')
        default = cmd.get("def")
        if default is None:
            return set_column(table, index, replace(column, default_sql=None))
        binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
        expr = binder.bind(default)
        if any(isinstance(n, (E.ColumnRef, E.OuterRef)) for n in E.walk(expr)):
            raise SqlError("0A000", "cannot use column reference in DEFAULT expression")
        coerce(expr, column.type, bc, "assignment", column.name)
        return set_column(table, index, replace(column, default_sql=json.dumps(default)))
    if subtype == "AT_DropNotNull":
        index = existing_column(table, name)
        if table.pk is not None and index in table.pk:
            raise SqlError("42P16", f'column "{name}" is in a primary key')
        return set_column(table, index, replace(table.columns[index], not_null=False))
    if subtype in ("AT_SetNotNull", "AT_AlterColumnType"):
        raise SqlError(
            "0A000",
            f"ALTER TABLE {'SET NOT NULL' if subtype == 'AT_SetNotNull' else 'ALTER COLUMN TYPE'} is not supported",
        )
    raise SqlError("0A000", f"ALTER TABLE {subtype.removeprefix('AT_')} is not supported yet")
