"""Name resolution: which FROM item and column a name in a query refers to.

A `Scope` is one query level's FROM clause: a list of range items, each with
an alias and named columns, plus the enclosing query's scope for correlated
references. A column's meaning is an expression (usually a ColumnRef to the
item's column identity; for `JOIN … USING` columns of a FULL join it is a
COALESCE of both sides), so later stages never see names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qp.bind import expr as E
from qp.errors import SqlError
from qp.types import record_type


@dataclass
class ScopeColumn:
    name: str
    expr: E.Expr
    hidden: bool = False  # not expanded by `*` (USING duplicates)
    # A function's whole-row name (its alias) standing for its one column: found
    # by an unqualified name only when no column of that name exists.
    whole_row: bool = False
    table_oid: int = 0
    attnum: int = 0


@dataclass
class RangeItem:
    alias: str
    columns: list[ScopeColumn]
    table: object = None  # TableDef for base tables
    # Names hidden from unqualified lookup because JOIN USING merged them.
    merged_away: set[str] = field(default_factory=set)
    nullable: bool = False  # on the null-extended side of an outer join
    # The schema of a relation named without an alias: `schema.name.column` refers to it.
    schema: str | None = None

    def find(self, name: str) -> ScopeColumn | None:
        found = [column for column in self.columns if column.name == name and not column.whole_row]
        if len(found) > 1:  # a subquery or join alias may name two columns alike
            raise SqlError("42702", f'column reference "{name}" is ambiguous')
        return found[0] if found else None

    def find_whole_row(self, name: str) -> ScopeColumn | None:
        for column in self.columns:
            if column.name == name and column.whole_row:
                return column
        return None


@dataclass
class Scope:
    items: list[RangeItem] = field(default_factory=list)
    parent: Scope | None = None
    # Columns introduced by JOIN USING at this level, visible unqualified.
    using_columns: list[ScopeColumn] = field(default_factory=list)
    # Filled in by lookups that fall through to an enclosing scope.
    outer_refs: set[int] = field(default_factory=set)
    # WITH queries defined at this level: name -> (node, column names, parent scope, CTEs it sees)
    ctes: dict = field(default_factory=dict)
    # WITH queries visible from enclosing levels.
    inherited_ctes: dict = field(default_factory=dict)
    # FROM items that exist but may not be referenced from here (a subquery's
    # siblings without LATERAL): only for PostgreSQL's hint when a name misses.
    invisible: list[RangeItem] = field(default_factory=list)
    # The clause being bound at this query level (a QueryLevel): where an
    # aggregate over this level's columns, found in a subquery, is computed.
    level: Any = None
    # Set on the scope a LATERAL item sees of its own query level: an aggregate
    # over those columns would belong to that level but sits in its FROM clause.
    agg_error: str | None = None
    # Where the items of the join being bound begin: an aliased join hides its
    # items' names, so they may repeat one from outside it (x JOIN (y x ...) j).
    names_from: int = 0
    # A SELECT's FROM entries' columns, in order, for `*` (a join's USING columns
    # first, once); None where `*` is made from the items (DML scopes).
    star_columns: list[ScopeColumn] | None = None
    # Aggregates computed at this level (their result identities): their
    # results count as this level's columns when an enclosing aggregate is placed.
    agg_cids: set[int] = field(default_factory=set)

    def chain(self) -> list[Scope]:
        """This scope, then each enclosing one."""
        out: list[Scope] = []
        scope: Scope | None = self
        while scope is not None:
            out.append(scope)
            scope = scope.parent
        return out

    def owns(self, cid: int) -> bool:
        """Whether column identity `cid` is one of this level's own (FROM items, USING, aggregates)."""
        if cid in self.agg_cids:
            return True
        for column in self.using_columns:
            if isinstance(column.expr, E.ColumnRef) and column.expr.cid == cid:
                return True
        for item in self.items:
            for column in item.columns:
                if isinstance(column.expr, E.ColumnRef) and column.expr.cid == cid:
                    return True
        return False

    def all_ctes(self) -> dict:
        return {**self.inherited_ctes, **self.ctes}

    def item_named(self, alias: str, schema: str | None = None, adding: bool = False) -> RangeItem | None:
        """The FROM item named `alias` (in `schema`, for `schema.alias.column`).

        Two tables of one name in different schemas may both be named by it,
        unaliased (PostgreSQL's checkNameSpaceConflicts); only a reference by
        that name alone is then ambiguous."""
        inner = [item for item in self.items[self.names_from:] if item.alias == alias]
        if schema is not None:
            inner = [item for item in inner if item.schema == schema]
        if len(inner) > 1:
            if all(_unaliased_table(item) for item in inner) and len({item.table.oid for item in inner}) == len(inner):
                if adding:
                    return inner[-1]
                raise SqlError("42P09", f'table reference "{alias}" is ambiguous')
            raise SqlError("42712", f'table name "{alias}" specified more than once')
        if inner:
            return inner[0]
        return next((item for item in self.items[: self.names_from] if item.alias == alias), None)

    def star_of(self, alias: str, schema: str | None = None) -> list[tuple[str, E.Expr]] | None:
        """`alias.*` (`schema.alias.*`): the columns of the FROM item named `alias` here or in
        an enclosing query (a LATERAL item's `left.*`), as this scope reads them."""
        scope: Scope | None = self
        depth = 0
        while scope is not None:
            item = scope.item_named(alias, schema)
            if item is not None:
                columns = [(c.name, c.expr) for c in item.columns if not c.hidden]
                return columns if depth == 0 else [(n, _as_outer(e, self, depth)) for n, e in columns]
            scope = scope.parent
            depth += 1
        return None

    def whole_row(self, alias: str) -> E.Expr | None:
        """A FROM item's name alone: its whole row, a record of its columns."""
        scope: Scope | None = self
        item = None
        while scope is not None:
            item = scope.item_named(alias)
            if item is not None:
                break
            scope = scope.parent
        columns = self.star_of(alias)
        if columns is None or item is None:
            return None
        row = E.RowExpr(tuple(e for _, e in columns), record_type([(n, e.type) for n, e in columns]))
        if not item.nullable:
            return row
        # PostgreSQL's whole row of a null-extended row is NULL, not a row of NULLs: a
        # table's row was null-extended exactly when its (never NULL) primary key is NULL.
        table = item.table
        pk = getattr(table, "pk", None)
        names = {c.name for c in item.columns}
        if not pk or len(columns) != len([c for c in item.columns if not c.hidden]) or len(names) != len(item.columns):
            raise SqlError("0A000", f'whole-row reference "{alias}" to the nullable side of an outer join is not '
                                    "supported here")
        keys = {name: e for name, e in columns}
        guard = tuple(keys[c.name] for c in item.columns if c.attnum - 1 in pk)
        return E.Call("whole row", _null_extended(len(guard)), (*guard, row), row.type, strict=False)

    def lookup(self, names: list[str]) -> E.Expr:
        """The expression a (possibly qualified) column name denotes."""
        scope: Scope | None = self
        depth = 0
        while scope is not None:
            found = scope._lookup_here(names)
            if found is not None:
                if depth == 0:
                    return found
                return _as_outer(found, self, depth)
            scope = scope.parent
            depth += 1
        if len(names) >= 2:
            qualifier = names[-2]
            if len(names) == 3 or not self._has_alias_anywhere(qualifier):  # schema.table.column: no such table
                raise self._missing_entry(qualifier)
            raise SqlError("42703", f"column {'.'.join(names[-2:])} does not exist")
        name = names[-1]
        whole_row = self.whole_row(name)
        if whole_row is not None:
            return whole_row
        owner = next((item for item in self._invisible_items() if item.find(name) is not None), None)
        if owner is not None:
            raise SqlError("42703", f'column "{name}" does not exist',
                           hint=f'There is a column named "{name}" in table "{owner.alias}", but it cannot be '
                                "referenced from this part of the query.")
        raise SqlError("42703", f'column "{name}" does not exist')

    def _missing_entry(self, qualifier: str) -> SqlError:
        """PostgreSQL's errorMissingRTE: the hint depends on what the name could have meant."""
        found, visible = None, False
        scope: Scope | None = self
        while scope is not None and found is None:  # innermost level first, as searchRangeTableForRel
            for item, item_visible in [(i, True) for i in scope.items] + [(i, False) for i in scope.invisible]:
                table_name = getattr(item.table, "name", None)
                if item.alias == qualifier or table_name == qualifier:
                    found, visible = item, item_visible
                    break
            scope = scope.parent
        message = f'invalid reference to FROM-clause entry for table "{qualifier}"'
        if found is None:
            return SqlError("42P01", f'missing FROM-clause entry for table "{qualifier}"')
        if visible and found.alias != qualifier:  # SELECT foo.x FROM foo f
            return SqlError("42P01", message, hint=f'Perhaps you meant to reference the table alias "{found.alias}".')
        return SqlError("42P01", message, hint=f'There is an entry for table "{found.alias}", but it cannot be '
                                               "referenced from this part of the query.")

    def _invisible_items(self) -> list[RangeItem]:
        out: list[RangeItem] = []
        scope: Scope | None = self
        while scope is not None:
            out += scope.invisible
            scope = scope.parent
        return out

    def _has_alias_anywhere(self, alias: str) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if any(item.alias == alias for item in scope.items):
                return True
            scope = scope.parent
        return False

    def _lookup_here(self, names: list[str]) -> E.Expr | None:
        if len(names) == 1:
            name = names[0]
            matches = [column for column in self.using_columns if column.name == name]
            for item in self.items:
                if name in item.merged_away:
                    continue
                column = item.find(name)
                if column is not None:
                    matches.append(column)
            if len(matches) > 1:
                raise SqlError("42702", f'column reference "{name}" is ambiguous')
            if not matches:
                matches = [c for item in self.items if (c := item.find_whole_row(name)) is not None]
            return matches[0].expr if matches else None
        if len(names) > 3:
            raise SqlError("42601", f"improper qualified name (too many dotted names): {'.'.join(names)}")
        alias, name = names[-2], names[-1]
        item = self.item_named(alias, names[0] if len(names) == 3 else None)
        if item is None:
            return None
        column = item.find(name)
        if column is None:
            raise SqlError("42703", f"column {alias}.{name} does not exist")
        return column.expr


def _unaliased_table(item: RangeItem) -> bool:
    return item.schema is not None and item.table is not None


def _as_outer(found: E.Expr, inner: Scope, depth: int) -> E.Expr:
    """A column of an enclosing query, seen from `inner` (depth levels down)."""
    if not isinstance(found, E.ColumnRef):
        raise SqlError("0A000", "correlated references to merged JOIN USING columns are not supported")
    scope: Scope | None = inner
    for _ in range(depth):
        assert scope is not None
        scope.outer_refs.add(found.cid)
        scope = scope.parent
    return E.OuterRef(found.cid, found.type, found.name)


def table_scope(table: Any, bc: Any) -> Scope:
    """The scope of one table's live columns, as a constraint or a DDL expression
    sees them (`table`: a catalog TableDef; `bc`: the BindContext that numbers columns)."""
    columns = []
    for i, column in enumerate(table.columns):
        if column.dropped:
            continue
        cid = bc.new_cid(column.name)
        columns.append(ScopeColumn(column.name, E.ColumnRef(cid, column.type, column.name), table_oid=table.oid,
                                   attnum=i + 1))  # fmt: skip
    return Scope(items=[RangeItem(table.name, columns, table)])


def _null_extended(key_count: int):
    """(key..., row) -> NULL when every key column is NULL (the outer join added the row), else the row."""

    def whole_row(*values):
        if all(v is None for v in values[:key_count]):
            return None
        return values[key_count]

    return whole_row
