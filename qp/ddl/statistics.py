"""CREATE STATISTICS and DROP STATISTICS: extended statistics objects, kept and shown.

DSQL accepts CREATE/ALTER/DROP STATISTICS. dsql keeps the object (which
columns of which table, which kinds) and shows it in pg_statistic_ext and
psql's \\d; gathering is ANALYZE's business. A statistics object goes with its
table or with any of its columns, as in PostgreSQL: the catalog shows only
those whose table and columns exist (CatalogSnapshot.live_statistics).
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, relation_display, schema_of, search_schema
from qp.bind.ddl.naming import choose_name, name_addition
from qp.catalog.stored import CatalogSnapshot, StatisticsDef
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.errors import SqlError
from qp.parse.parser import string_list

_KINDS = {"ndistinct": "d", "dependencies": "f", "mcv": "m"}


async def create_statistics(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    relations = body.get("relations", ())
    if len(relations) != 1 or "RangeVar" not in relations[0]:
        raise SqlError("0A000", "only a single relation is allowed in CREATE STATISTICS")
    relation = relations[0]["RangeVar"]
    where = search_schema(schema_of(relation), bc, relation["relname"])
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    columns: list[int] = []
    for elem_node in body.get("exprs", ()):
        elem = elem_node["StatsElem"]
        if "expr" in elem:
            raise SqlError("0A000", "statistics on expressions are not supported")
        position = table.column_index(elem["name"])
        if position is None:
            raise SqlError("42703", f'column "{elem["name"]}" does not exist')
        if position in columns:
            raise SqlError("42701", "duplicate column name in statistics definition")
        columns.append(position)
    if len(columns) < 2:
        raise SqlError("42P17", "extended statistics require at least 2 columns")
    kinds = []
    for kind in string_list(body.get("stat_types")):
        if kind not in _KINDS:
            raise SqlError("42601", f'unrecognized statistics kind "{kind}"')
        kinds.append(_KINDS[kind])
    kinds = [k for k in "dfm" if k in kinds] or ["d", "f", "m"]
    live = {(s.schema, s.name) for s, _ in catalog.live_statistics()}
    names = string_list(body.get("defnames"))
    if names:
        name = check_name(names[-1])
        # A statistics object goes in the schema named, else in its table's
        # (PostgreSQL: the table's namespace, whatever the search path).
        schema = search_schema(names[0], bc) if len(names) == 2 else table.schema
        if (schema, name) in live:
            if body.get("if_not_exists"):
                return DdlResult(
                    "CREATE STATISTICS", [f'statistics object "{name}" already exists, skipping']
                )
            raise SqlError("42710", f'statistics object "{name}" already exists')
    else:
        schema = table.schema
        name = choose_name(table.name, name_addition(table.columns[i].name for i in columns), "stat",
                           lambda c: (table.schema, c) in live)  # fmt: skip
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    stale = catalog.statistics.get((schema, name))
    if stale is not None:  # an object left behind by a dropped table or column
        txn.put(stale.descriptor_key, None)
    stats = StatisticsDef(oid, name, table.oid, tuple(columns), tuple(kinds), schema)
    txn.put(stats.descriptor_key, stats.to_record())
    bump_version(txn, version, oid + 1)
    return DdlResult("CREATE STATISTICS")


def _find(names: list[str], catalog: CatalogSnapshot, bc: BindContext | None) -> StatisticsDef | None:
    """The statistics object `[schema.]name` names (along the search path when unqualified)."""
    live = {(s.schema, s.name): s for s, _ in catalog.live_statistics()}
    if len(names) > 2:
        raise SqlError("42601", f"improper qualified name (too many dotted names): {'.'.join(names)}")
    where = search_schema(names[0] if len(names) == 2 else None, bc, names[-1],
                          lambda schema: (schema, names[-1]) in live)  # fmt: skip
    return live.get((where, names[-1])) if where else None


async def alter_statistics(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    """ALTER STATISTICS name RENAME TO new / SET STATISTICS n."""
    rename = "newname" in body
    names = string_list(body["object"]["List"]["items"] if rename else body["defnames"])
    stats = _find(names, catalog, bc)
    if stats is None:
        if body.get("missing_ok"):
            return DdlResult(
                "ALTER STATISTICS", [f'statistics object "{".".join(names)}" does not exist, skipping']
            )
        raise SqlError("42704", f'statistics object "{".".join(names)}" does not exist')
    if rename:
        new_name = check_name(body["newname"])
        if (stats.schema, new_name) in {(s.schema, s.name) for s, _ in catalog.live_statistics()}:
            raise SqlError(
                "42710", f'statistics object "{new_name}" already exists in schema "{stats.schema}"'
            )
        stats = replace(stats, name=new_name)
    else:
        target = body.get("stxstattarget", {}).get("Integer", {}).get("ival", -1)
        if target < -1:
            raise SqlError("22023", f"statistics target {target} is too low")
        stats = replace(stats, target=min(target, 10000))
    version, _ = await catalog_counters(txn)
    txn.put(stats.descriptor_key, stats.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER STATISTICS")


async def drop_statistics(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None) -> DdlResult:
    notices = []
    dropped = []
    for node in body.get("objects", ()):
        names = string_list(node["List"]["items"])
        stats = _find(names, catalog, bc)
        if stats is None:
            if body.get("missing_ok"):
                notices.append(f'statistics object "{".".join(names)}" does not exist, skipping')
                continue
            raise SqlError("42704", f'statistics object "{".".join(names)}" does not exist')
        dropped.append(stats)
    if dropped:
        version, _ = await catalog_counters(txn)
        for stats in dropped:
            txn.put(stats.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP STATISTICS", notices)
