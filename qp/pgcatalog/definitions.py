"""The text of definitions: pg_get_indexdef, pg_get_constraintdef, pg_get_expr.

The output is PostgreSQL's, byte for byte where dsql has the same object:
`CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)` (the table left
unqualified in pretty mode when it is visible), `PRIMARY KEY (a, b)`,
`UNIQUE (a)`, `CHECK (a > 0)` (see `ruleutils` for the expression rules).
"""

from __future__ import annotations

import json
import re
from typing import Any

from qp.catalog.stored import key_text
from qp.functions.strings import quote_ident
from qp.pgcatalog.model import DOMAIN_VALUE_NAME, CatalogModel, ConstraintInfo, RelationInfo, search_path_of
from qp.pgcatalog.names import regclass_name as name_of
from qp.pgcatalog.ruleutils import expression_text, view_query_text
from qp.pgcatalog.search_path import SearchPath, definition_path


def index_definition(model: CatalogModel, relation: RelationInfo, column: int, pretty: bool,
                     search_path: SearchPath | None, ctx: Any = None) -> str:
    """pg_get_indexdef(index, column, pretty): the whole CREATE INDEX for column
    0, else that key column's name ('' past the last one)."""
    index, table = relation.index, relation.table
    assert index is not None and table is not None
    # An expression key is parenthesized unless it reads as a function call.
    names = [
        quote_ident(table.columns[p].name) if (expression := _expression(index, k)) is None
        else key_text(expression[0], expression_text(table, expression[0], pretty, ctx))
        for k, p in enumerate(index.columns)
    ]  # fmt: skip
    included = [quote_ident(table.columns[p].name) for p in index.include]
    if column > 0:
        every = names + included
        return every[column - 1] if column <= len(every) else ""
    table_relation = model.relation(table.oid)
    table_name = quote_ident(table.name)
    if not (pretty and search_path is not None and table_relation is not None
            and model.is_visible(table_relation, search_path)):
        table_name = f"{quote_ident(table.schema)}.{table_name}"
    unique = "UNIQUE " if index.unique else ""
    text = f"CREATE {unique}INDEX {quote_ident(index.name)} ON {table_name} USING btree ({', '.join(names)})"
    if included:
        text += f" INCLUDE ({', '.join(included)})"
    if index.nulls_not_distinct:
        text += " NULLS NOT DISTINCT"
    if index.predicate is not None:
        text += f" WHERE {expression_text(table, index.predicate, pretty, ctx)}"
    return text


def _expression(index, k: int):
    return index.expressions[k] if k < len(index.expressions) else None


_FK_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def constraint_definition(model: CatalogModel, constraint: ConstraintInfo, pretty: bool, ctx: Any) -> str:
    table = constraint.table
    columns = ", ".join(quote_ident(table.columns[a - 1].name) for a in constraint.attnums)
    if constraint.contype in ("p", "u"):
        index = constraint.index
        kind = "PRIMARY KEY" if constraint.contype == "p" else "UNIQUE"
        if index is not None and index.nulls_not_distinct:
            kind += " NULLS NOT DISTINCT"
        text = f"{kind} ({columns})"
        if index is not None and index.include:
            text += f" INCLUDE ({', '.join(quote_ident(table.columns[p].name) for p in index.include)})"
        return text
    if constraint.contype == "f":
        fk, referenced = constraint.foreign_key, constraint.referenced
        assert fk is not None
        if referenced is not None:
            ref_name = regclass_name(model, referenced.oid, search_path_of(ctx))
            ref_columns = ", ".join(quote_ident(referenced.columns[a - 1].name) for a in constraint.ref_attnums)
        else:
            ref_name, ref_columns = str(fk.ref_oid), ""
        text = f"FOREIGN KEY ({columns}) REFERENCES {ref_name}({ref_columns})"
        if fk.match_full:
            text += " MATCH FULL"
        if fk.on_update in _FK_ACTIONS:
            text += f" ON UPDATE {_FK_ACTIONS[fk.on_update]}"
        if fk.on_delete in _FK_ACTIONS:
            text += f" ON DELETE {_FK_ACTIONS[fk.on_delete]}"
    else:
        assert constraint.check is not None
        text = f"CHECK ({expression_text(table, constraint.check.sql, pretty, ctx)})"
        if constraint.domain is not None:
            text = text.replace(DOMAIN_VALUE_NAME, "VALUE")
    if not constraint.validated:
        text += " NOT VALID"
    return text


def regclass_name(model: CatalogModel, oid: int, search_path: SearchPath) -> str:
    return name_of(model, oid, search_path)


def stored_expression(model: CatalogModel, tree: str, relation_oid: int, pretty: bool, ctx: Any) -> str | None:
    """pg_get_expr(tree, relation): `tree` is what pg_attrdef.adbin or
    pg_constraint.conbin hold (see objects.py); anything else gives NULL."""
    try:
        stored = json.loads(tree)
    except ValueError:
        return None
    if not isinstance(stored, dict) or "tree" not in stored:
        return None
    relation = model.relation(relation_oid)
    table = relation.table if relation is not None else None
    raw = json.dumps(stored["tree"])
    attnum = stored.get("dsql_default")
    if attnum is not None:
        if table is None or not 1 <= attnum <= len(table.columns):
            return None
        return expression_text(table, raw, pretty, ctx, target=table.columns[attnum - 1].type)
    return expression_text(table, raw, pretty, ctx)


def view_definition(model: CatalogModel, relation: RelationInfo, ctx: Any, pretty: bool = False) -> str | None:
    """pg_get_viewdef: PostgreSQL's layout for simple views, else the query as written."""
    view = relation.view
    if view is None:
        return None
    path = search_path_of(ctx)
    # The query's names mean what they meant at CREATE VIEW (along its path); one the
    # reader's path would not find is printed qualified, as ruleutils.c's
    # generate_relation_name does.
    defined = definition_path(view.search_path, model.snapshot)
    query = json.loads(view.query)
    for range_var in _range_vars(query):
        if range_var.get("schemaname") is None:
            found = model.lookup(range_var["relname"], None, defined)
            if found is not None and model.lookup(found.name, None, path) is not found:
                range_var["schemaname"] = found.schema

    def columns_of(schema: str | None, name: str):
        found = model.lookup(name, schema, defined)
        if found is None:
            return None
        return {a.name: a.type for a in found.attributes if not a.dropped}

    text = view_query_text(json.dumps(query), columns_of, [a.name for a in relation.attributes], ctx, pretty)
    return text if text is not None else " " + _query_part(view.sql).rstrip().rstrip(";") + ";"


def _range_vars(node: Any) -> list[dict]:
    """The RangeVars of a query's FROM clauses (where a relation is named)."""
    found: list[dict] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "RangeVar":
                found.append(value)
            else:
                found += _range_vars(value)
    elif isinstance(node, list):
        for value in node:
            found += _range_vars(value)
    return found


_VIEW_HEAD = re.compile(
    r"""\s*create\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?(?:recursive\s+)?view\s+
        (?:"(?:[^"]|"")*"|[^\s.(]+)(?:\s*\.\s*(?:"(?:[^"]|"")*"|[^\s.(]+))?   # the name
        \s*(?:\((?:[^()"]|"(?:[^"]|"")*")*\))?                                # column names
        \s*(?:with\s*\((?:[^()]|\([^()]*\))*\))?                              # options
        \s*as\s+""", re.IGNORECASE | re.VERBOSE)


def _query_part(sql: str) -> str:
    """The query of a CREATE VIEW statement (everything after its AS)."""
    match = _VIEW_HEAD.match(sql)
    return sql[match.end():] if match else sql
