"""The planner's stages (qp/plan/logical.py, rules.py, planner.py), without a server.

A query is parsed and bound against a small catalog; its FROM and WHERE become
a logical plan as written, each rewrite rule changes it in the way its
docstring says (and nothing when switched off), and physical planning turns the
result into operators. Whole answers with each rule switched off are compared
with PostgreSQL in tests/test_differential.py.
"""

from __future__ import annotations

import pytest

from qp.bind import expr as E
from qp.bind.context import BindContext
from qp.bind.query import QueryBinder
from qp.catalog.stored import CatalogSnapshot, ColumnDef, TableDef
from qp.errors import SqlError
from qp.frontend.settings import normalize
from qp.parse.parser import parse
from qp.plan import logical
from qp.plan.logical import Filter, Join, JoinGraph, Scan, describe, logical_from
from qp.plan.planner import DEFAULT_RULES, Planner
from qp.plan.rules import ALL_RULES, RewriteContext, rewrite
from qp.types import INT4, TEXT
from qp.types.context import EvalContext


def _table(oid: int, name: str) -> TableDef:
    return TableDef(
        oid=oid,
        name=name,
        columns=(ColumnDef("id", INT4), ColumnDef("k", INT4), ColumnDef("v", TEXT)),
        pk=(0,),
        key_id=oid,
    )


CATALOG = CatalogSnapshot(
    version=1, tables={("public", name): _table(16400 + i, name) for i, name in enumerate(["a", "b", "c"])}
)


def _bind(sql: str):
    ctx = EvalContext()
    ctx.catalog = CATALOG
    return QueryBinder(BindContext(CATALOG, ctx, [])).bind_query(parse(sql)[0].node)


def _logical(sql: str, rules: frozenset[str]) -> tuple[logical.Node, object]:
    query = _bind(sql)
    node = logical_from(query.from_, E.conjuncts(query.where))
    context = RewriteContext(frozenset(), frozenset(logical.referenced_cids(query)))
    return rewrite(node, rules, context), query


def _scans(node: logical.Node) -> dict[str, Scan]:
    out: dict[str, Scan] = {}
    if isinstance(node, Scan):
        alias = getattr(node.item, "alias", None) or getattr(getattr(node.item, "table", None), "name", "?")
        out[alias] = node
    elif isinstance(node, Join):
        out |= _scans(node.left) | _scans(node.right)
    elif isinstance(node, JoinGraph):
        for leaf in node.leaves:
            out |= _scans(leaf)
    else:
        out |= _scans(node.input)
    return out


THREE_WAY = "SELECT a.v FROM a JOIN b ON b.k = a.id JOIN c ON c.k = b.id WHERE a.k = 1 AND c.v = 'x'"


def test_the_logical_plan_is_the_query_as_written_before_any_rule():
    node, _ = _logical(THREE_WAY, frozenset())
    assert isinstance(node, Filter) and len(node.predicates) == 2
    assert isinstance(node.input, Join) and isinstance(node.input.left, Join)
    assert all(not scan.filters for scan in _scans(node).values())


def test_join_order_makes_a_graph_of_inner_joins():
    node, _ = _logical(THREE_WAY, frozenset({"join_order"}))
    assert isinstance(node, Filter) and isinstance(node.input, JoinGraph)
    assert len(node.input.leaves) == 3 and len(node.input.predicates) == 2  # the two ON conditions


def test_pushdown_moves_each_conjunct_to_the_relation_it_reads():
    node, _ = _logical(THREE_WAY, frozenset({"join_order", "pushdown"}))
    assert isinstance(node, JoinGraph), describe(node)
    scans = {name: len(scan.filters) for name, scan in _scans(node).items()}
    assert scans == {"a": 1, "b": 0, "c": 1}
    assert len(node.predicates) == 2


def test_pushdown_never_filters_the_null_extended_side_of_an_outer_join():
    node, _ = _logical(
        "SELECT 1 FROM a LEFT JOIN b ON b.k = a.id AND b.v = 'y' WHERE b.v IS NULL AND a.k = 2",
        frozenset(ALL_RULES),
    )
    # b.v IS NULL must stay above the join (it keeps the null-extended rows);
    # the ON condition on b alone filters b; a.k = 2 filters a.
    assert isinstance(node, Filter) and len(node.predicates) == 1
    join = node.input
    assert isinstance(join, Join) and join.kind == "left"
    assert len(join.left.filters) == 1 and len(join.right.filters) == 1
    assert len(join.conditions) == 1


def test_lateral_items_stay_in_written_order():
    node, _ = _logical(
        "SELECT 1 FROM a, LATERAL (SELECT b.v FROM b WHERE b.k = a.k) s WHERE a.id = 3", frozenset(ALL_RULES)
    )
    assert isinstance(node, Join), describe(node)
    assert len(node.left.filters) == 1


def test_prune_outputs_replaces_unread_subquery_outputs_with_nulls():
    sql = "SELECT s.x FROM (SELECT a.id AS x, 1 / a.k AS y FROM a) s"
    pruned, _ = _logical(sql, frozenset({"prune_outputs"}))
    kept, _ = _logical(sql, frozenset())
    assert isinstance(pruned.subquery.targets[1], E.Const) and pruned.subquery.targets[1].value is None
    assert not isinstance(kept.subquery.targets[1], E.Const)


def test_pushdown_enters_a_plain_subquery_but_not_one_with_a_limit():
    plain, _ = _logical("SELECT * FROM (SELECT a.id AS x FROM a) s WHERE s.x = 1", frozenset({"pushdown"}))
    assert isinstance(plain, Scan) and plain.subquery.where is not None
    limited, _ = _logical(
        "SELECT * FROM (SELECT a.id AS x FROM a LIMIT 5) s WHERE s.x = 1", frozenset({"pushdown"})
    )
    assert isinstance(limited, Filter) and limited.input.subquery.where is None


@pytest.mark.parametrize("off", sorted(ALL_RULES))
def test_every_rule_can_be_switched_off_and_the_plan_still_builds(off):
    query = _bind(THREE_WAY)
    plan = Planner(rules=DEFAULT_RULES - {off}).plan_query(query)
    assert plan.cids  # an operator tree with the select list's column


def test_the_rules_off_setting_names_only_known_rules():
    assert normalize("dsql.planner_rules_off", "pushdown, join_order,pushdown") == "pushdown,join_order"
    assert normalize("dsql.planner_rules_off", "") == ""
    with pytest.raises(SqlError) as err:
        normalize("dsql.planner_rules_off", "pushdown,nosuch")
    assert err.value.sqlstate == "22023"
