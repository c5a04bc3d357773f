"""pg_class, pg_attribute, pg_attrdef, pg_index, pg_constraint, pg_depend and
pg_description: the catalogs that describe relations, from the model.

Values follow what PostgreSQL 16 stores for the same objects: tables are
heap relations (relam 2) with replica identity 'd', indexes are btree
(relam 403) with one pg_index row each (the primary key's too), a
constraint-backed index has a pg_constraint row ('p' or 'u') whose conindid
points back at it, a CHECK is a 'c' constraint, and `adbin`/`conbin` hold
dsql's stored parse trees (which pg_get_expr reads; PostgreSQL's own node
text is internal to it and never interpreted by clients).
"""

from __future__ import annotations

import json

from qp.catalog.stored import IndexState
from qp.catalog.temp_keys import is_temp_oid
from qp.pgcatalog import oids
from qp.pgcatalog.builtins import OPCLASS_FOR_TYPE, type_collation, type_facts
from qp.pgcatalog.model import RelationInfo
from qp.pgcatalog.privileges import with_owner
from qp.pgcatalog.relation import Lifetime, Source, empty, system_relation
from qp.pgcatalog.search_path import schema_oids
from qp.pgcatalog.statistics import reltuples_by_oid

PG_CLASS_OID = 1259
PG_PROC_OID = 1255
PG_NAMESPACE_OID = 2615
PG_CONSTRAINT_OID = 2606
PG_ATTRDEF_OID = 2604
PG_PROC_OID = 1255
PG_TYPE_OID = 1247
PG_DATABASE_OID = 1262

_SHARED = {"pg_database", "pg_authid", "pg_auth_members", "pg_tablespace", "pg_shdescription",
           "pg_db_role_setting", "pg_shdepend"}


def default_tree(attnum: int, sql: str) -> str:
    """adbin: the default's parse tree and the column it belongs to (pg_get_expr
    needs the column's type to print the coercion PostgreSQL stores)."""
    return json.dumps({"dsql_default": attnum, "tree": json.loads(sql)})


def check_tree(sql: str) -> str:
    return json.dumps({"dsql_check": True, "tree": json.loads(sql)})


@system_relation("pg_catalog", "pg_class", PG_CLASS_OID, """
    oid:oid relname:name relnamespace:oid reltype:oid reloftype:oid relowner:oid relam:oid relfilenode:oid
    reltablespace:oid relpages:int4 reltuples:float4 relallvisible:int4 reltoastrelid:oid relhasindex:bool
    relisshared:bool relpersistence:char relkind:char relnatts:int2 relchecks:int2 relhasrules:bool
    relhastriggers:bool relhassubclass:bool relrowsecurity:bool relforcerowsecurity:bool relispopulated:bool
    relreplident:char relispartition:bool relrewrite:oid relfrozenxid:xid relminmxid:xid relacl:aclitem[]
    reloptions:text[] relpartbound:pg_node_tree""", relkind="r", lifetime=Lifetime.SESSION)
def pg_class(src: Source) -> list[tuple]:
    # Built once per catalog version; reltuples comes from ANALYZE, which does
    # not change the catalog version, so it is patched in at each scan.
    base = src.model.rows.get(_PG_CLASS_BASE)
    if base is None:
        referenced = {c.referenced.oid for c in src.model.constraints if c.referenced is not None}
        snapshot = src.model.snapshot
        base = src.model.rows[_PG_CLASS_BASE] = [with_owner(_class_row(r, referenced), snapshot, r)
                                                 for r in src.model.relations]  # fmt: skip
    reltuples = reltuples_by_oid(src)
    if not reltuples:
        return base
    return [row[:_RELTUPLES] + (reltuples[row[0]],) + row[_RELTUPLES + 1 :] if row[0] in reltuples else row
            for row in base]


_PG_CLASS_BASE = ("dsql", "pg_class without reltuples")
_RELTUPLES = 10  # reltuples' position in a pg_class row


def _class_row(r: RelationInfo, referenced: set[int]) -> tuple:
    table, kind = r.table, r.relkind
    has_storage = kind in ("r", "i", "m", "S") and r.system is None
    relam = oids.BTREE_AM if kind == "i" else oids.HEAP_AM if kind in ("r", "m") else 0
    is_table = table is not None and kind == "r"
    has_index = bool(table.indexes) if is_table else False
    checks = len(table.checks) if is_table else 0
    # PostgreSQL implements foreign keys with triggers on both tables, and
    # views with a rewrite rule; psql looks for them only when these are set.
    triggers = is_table and (bool(table.foreign_keys) or r.oid in referenced)
    rules = kind == "v" and r.system is None
    shared = r.system is not None and r.name in _SHARED
    return (
        r.oid, r.name, r.namespace, 0, 0, oids.BOOTSTRAP_SUPERUSER, relam, r.oid if has_storage else 0,
        0, 0, -1.0, 0, 0, has_index,
        shared, "t" if is_temp_oid(r.oid) else "p", kind, len(r.attributes), checks, rules,
        triggers, False, False, False, True,
        "d" if kind == "r" else "n", False, 0, 0, 0, None,
        None, None,
    )


@system_relation("pg_catalog", "pg_attribute", 1249, """
    attrelid:oid attname:name atttypid:oid attstattarget:int4 attlen:int2 attnum:int2 attndims:int4
    attcacheoff:int4 atttypmod:int4 attbyval:bool attalign:char attstorage:char attcompression:char
    attnotnull:bool atthasdef:bool atthasmissing:bool attidentity:char attgenerated:char attisdropped:bool
    attislocal:bool attinhcount:int2 attcollation:oid attacl:aclitem[] attoptions:text[] attfdwoptions:text[]
    attmissingval:anyarray""", relkind="r")
def pg_attribute(src: Source) -> list[tuple]:
    out = []
    for r in src.model.relations:
        for a in r.attributes:
            t = a.type
            facts = type_facts(t.oid)
            if a.dropped:
                name, type_oid, collation = f"........pg.dropped.{a.attnum}........", 0, 0
            else:
                name, type_oid, collation = a.name, a.domain_oid or t.oid, type_collation(t.oid)
                if r.system is not None and r.relkind == "r" and collation == oids.DEFAULT_COLLATION:
                    # PostgreSQL's catalogs collate their text columns as "C"; aclitem has no collation.
                    collation = 0 if a.name in r.system.stand_ins else oids.C_COLLATION
            out.append((
                r.oid, name, type_oid, -1, t.typlen, a.attnum, 1 if t.is_array else 0,
                -1, -1 if a.domain_oid else t.typmod, facts.byval, facts.align, facts.storage, "",
                a.not_null, a.default_sql is not None, a.has_missing, a.identity, a.generated, a.dropped,
                True, 0, collation, None, None, None,
                None,
            ))
    return out


@system_relation("pg_catalog", "pg_attrdef", PG_ATTRDEF_OID, "oid:oid adrelid:oid adnum:int2 adbin:pg_node_tree",
                 relkind="r")
def pg_attrdef(src: Source) -> list[tuple]:
    return [(d.oid, d.table.oid, d.attnum, default_tree(d.attnum, d.sql)) for d in src.model.defaults]


@system_relation("pg_catalog", "pg_index", 2610, """
    indexrelid:oid indrelid:oid indnatts:int2 indnkeyatts:int2 indisunique:bool indnullsnotdistinct:bool
    indisprimary:bool indisexclusion:bool indimmediate:bool indisclustered:bool indisvalid:bool
    indcheckxmin:bool indisready:bool indislive:bool indisreplident:bool indkey:int2vector
    indcollation:oidvector indclass:oidvector indoption:int2vector indexprs:pg_node_tree indpred:pg_node_tree""",
                 relkind="r")
def pg_index(src: Source) -> list[tuple]:
    out = []
    for r in src.model.relations:
        index, table = r.index, r.table
        if index is None or table is None:
            continue
        keys = len(index.columns)
        types = [index.key_type(table, k) for k in range(keys)]
        n = keys + len(index.include)
        expressions = [e for e in index.expressions if e is not None]
        # indexprs/indpred: dsql's trees (as adbin's), readable by pg_get_expr.
        indexprs = json.dumps({"dsql_index_exprs": True, "trees": [json.loads(e[0]) for e in expressions]})
        indpred = check_tree(index.predicate) if index.predicate is not None else None
        out.append((
            r.oid, table.oid, n, keys, index.unique, index.nulls_not_distinct,
            index.primary, False, True, False, index.state == IndexState.PUBLIC,
            False, True, True, False, [p + 1 for p in (*index.columns, *index.include)],
            [type_collation(t.oid) for t in types], [OPCLASS_FOR_TYPE.get(t.oid, 0) for t in types], [0] * keys,
            indexprs if expressions else None, indpred,
        ))
    return out


@system_relation("pg_catalog", "pg_constraint", PG_CONSTRAINT_OID, """
    oid:oid conname:name connamespace:oid contype:char condeferrable:bool condeferred:bool convalidated:bool
    conrelid:oid contypid:oid conindid:oid conparentid:oid confrelid:oid confupdtype:char confdeltype:char
    confmatchtype:char conislocal:bool coninhcount:int2 connoinherit:bool conkey:int2[] confkey:int2[]
    conpfeqop:oid[] conppeqop:oid[] conffeqop:oid[] confdelsetcols:int2[] conexclop:oid[]
    conbin:pg_node_tree""", relkind="r")
def pg_constraint(src: Source) -> list[tuple]:
    out = []
    for c in src.model.constraints:
        namespace = schema_oids(src.model.snapshot).get(c.table.schema, oids.PUBLIC_NAMESPACE)
        conbin = check_tree(c.check.sql) if c.check is not None else None
        fk = c.foreign_key
        if fk is not None:
            confrelid, confkey = fk.ref_oid, list(c.ref_attnums)
            upd, dele, match = fk.on_update, fk.on_delete, "f" if fk.match_full else "s"
        else:
            confrelid, confkey, upd, dele, match = 0, None, " ", " ", " "
        out.append((
            c.oid, c.name, namespace, c.contype, False, False, c.validated,
            c.table.oid, 0, c.index.oid if c.index is not None else 0, 0, confrelid, upd, dele,
            match, True, 0, c.contype != "c", list(c.attnums), confkey,
            None, None, None, None, None,
            conbin,
        ))
    for c in src.model.domain_constraints:
        assert c.domain is not None and c.check is not None
        namespace = schema_oids(src.model.snapshot).get(c.domain.schema, oids.PUBLIC_NAMESPACE)
        out.append((
            c.oid, c.name, namespace, "c", False, False, c.validated,
            0, c.domain.oid, 0, 0, 0, " ", " ",
            " ", True, 0, False, None, None,
            None, None, None, None, None,
            check_tree(c.check.sql),
        ))
    return out


@system_relation("pg_catalog", "pg_depend", 2608, """
    classid:oid objid:oid objsubid:int4 refclassid:oid refobjid:oid refobjsubid:int4 deptype:char""", relkind="r")
def pg_depend(src: Source) -> list[tuple]:
    """The dependencies PostgreSQL records between dsql's objects: an index on
    its table's columns ('a'), or on its constraint ('i'); a constraint and a
    default on the columns they use ('a')."""
    out = []
    by_index = {c.index.oid: c for c in src.model.constraints if c.index is not None and c.contype != "f"}
    for r in src.model.relations:
        if r.system is None and r.relkind in ("r", "v", "S", "m"):
            out.append((PG_CLASS_OID, r.oid, 0, PG_NAMESPACE_OID, r.namespace, 0, "n"))
        if r.index is None or r.table is None:
            continue
        constraint = by_index.get(r.oid)
        if constraint is not None:
            out.append((PG_CLASS_OID, r.oid, 0, PG_CONSTRAINT_OID, constraint.oid, 0, "i"))
        else:
            out += [(PG_CLASS_OID, r.oid, 0, PG_CLASS_OID, r.table.oid, p + 1, "a") for p in r.index.columns]
    for c in src.model.constraints:
        out += [(PG_CONSTRAINT_OID, c.oid, 0, PG_CLASS_OID, c.table.oid, attnum, "a") for attnum in c.attnums]
        if c.referenced is not None:
            # A foreign key also depends on the key it references: its index and columns.
            if c.index is not None:
                out.append((PG_CONSTRAINT_OID, c.oid, 0, PG_CLASS_OID, c.index.oid, 0, "n"))
            out += [(PG_CONSTRAINT_OID, c.oid, 0, PG_CLASS_OID, c.referenced.oid, attnum, "n")
                    for attnum in c.ref_attnums]
    for d in src.model.defaults:
        out.append((PG_ATTRDEF_OID, d.oid, 0, PG_CLASS_OID, d.table.oid, d.attnum, "a"))
    for r in src.model.relations:
        sequence = r.sequence
        if sequence is not None and sequence.owned_by is not None:
            table_oid, position = sequence.owned_by
            owner = src.model.relation(table_oid)
            identity = owner is not None and owner.attributes[position].identity
            out.append((PG_CLASS_OID, r.oid, 0, PG_CLASS_OID, table_oid, position + 1, "i" if identity else "a"))
    return out


@system_relation("pg_catalog", "pg_sequence", 2224, """
    seqrelid:oid seqtypid:oid seqstart:int8 seqincrement:int8 seqmax:int8 seqmin:int8 seqcache:int8
    seqcycle:bool""", relkind="r")
def pg_sequence(src: Source) -> list[tuple]:
    return [(q.oid, q.type_oid, q.start, q.increment, q.max_value, q.min_value, q.cache, q.cycle)
            for q in (r.sequence for r in src.model.relations) if q is not None]


# Descriptions of built-in objects that clients show (\dn+ prints public's).
DESCRIPTIONS = (
    (oids.PG_CATALOG_NAMESPACE, PG_NAMESPACE_OID, 0, "system catalog schema"),
    (oids.PG_TOAST_NAMESPACE, PG_NAMESPACE_OID, 0, "reserved schema for TOAST tables"),
    (oids.PUBLIC_NAMESPACE, PG_NAMESPACE_OID, 0, "standard public schema"),
    (oids.PLPGSQL_EXTENSION, 3079, 0, "PL/pgSQL procedural language"),
    (oids.PLPGSQL_LANGUAGE, 2612, 0, "PL/pgSQL procedural language"),
)
SHARED_DESCRIPTIONS = (
    (oids.DATABASE_OID, PG_DATABASE_OID, "default administrative connection database"),
    (oids.DEFAULT_TABLESPACE, 1213, None),
)


@system_relation("pg_catalog", "pg_description", 2609, "objoid:oid classoid:oid objsubid:int4 description:text",
                 relkind="r")
def pg_description(src: Source) -> list[tuple]:
    return list(DESCRIPTIONS) + user_descriptions(src.model)


def user_descriptions(model) -> list[tuple]:
    """COMMENT ON's comments (pg_class objects and their columns), for objects that exist."""
    out = []
    schemas = {s.oid for s in model.snapshot.schemas.values()}
    for (oid, subid), text in model.snapshot.comments.items():
        if oid in schemas:  # COMMENT ON SCHEMA
            out.append((oid, PG_NAMESPACE_OID, 0, text))
            continue
        if oid in model.snapshot.functions:  # COMMENT ON FUNCTION
            out.append((oid, PG_PROC_OID, 0, text))
            continue
        relation = model.relation(oid)
        if relation is None:
            continue
        if subid and (subid > len(relation.attributes) or relation.attributes[subid - 1].dropped):
            continue
        out.append((oid, PG_CLASS_OID, subid, text))
    return out


@system_relation("pg_catalog", "pg_shdescription", 2396, "objoid:oid classoid:oid description:text", relkind="r")
def pg_shdescription(src: Source) -> list[tuple]:
    return [row for row in SHARED_DESCRIPTIONS if row[2] is not None]


# -- relations dsql has nothing to put in (yet), present because clients read them -----------------

system_relation("pg_catalog", "pg_inherits", 2611,
                "inhrelid:oid inhparent:oid inhseqno:int4 inhdetachpending:bool", relkind="r")(empty)
system_relation("pg_catalog", "pg_partitioned_table", 3350, """
    partrelid:oid partstrat:char partnatts:int2 partdefid:oid partattrs:int2vector partclass:oidvector
    partcollation:oidvector partexprs:pg_node_tree""", relkind="r")(empty)
system_relation("pg_catalog", "pg_policy", 3256, """
    oid:oid polname:name polrelid:oid polcmd:char polpermissive:bool polroles:oid[] polqual:pg_node_tree
    polwithcheck:pg_node_tree""", relkind="r")(empty)
system_relation("pg_catalog", "pg_rewrite", 2618, """
    oid:oid rulename:name ev_class:oid ev_type:char ev_enabled:char is_instead:bool ev_qual:pg_node_tree
    ev_action:pg_node_tree""", relkind="r")(empty)
system_relation("pg_catalog", "pg_trigger", 2620, """
    oid:oid tgrelid:oid tgparentid:oid tgname:name tgfoid:oid tgtype:int2 tgenabled:char tgisinternal:bool
    tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:bool tginitdeferred:bool tgnargs:int2
    tgattr:int2vector tgargs:bytea tgqual:pg_node_tree tgoldtable:name tgnewtable:name""", relkind="r")(empty)
@system_relation("pg_catalog", "pg_statistic_ext", 3381, """
    oid:oid stxrelid:oid stxname:name stxnamespace:oid stxowner:oid stxstattarget:int4 stxkeys:int2vector
    stxkind:char[] stxexprs:pg_node_tree""", relkind="r")
def pg_statistic_ext(src: Source) -> list[tuple]:
    return [
        (s.oid, table.oid, s.name, schema_oids(src.model.snapshot).get(s.schema, oids.PUBLIC_NAMESPACE),
         oids.BOOTSTRAP_SUPERUSER,
         s.target, [p + 1 for p in s.columns], list(s.kinds), None)
        for s, table in sorted(src.model.snapshot.live_statistics(), key=lambda st: st[0].oid)
    ]  # fmt: skip
system_relation("pg_catalog", "pg_publication", 6104, """
    oid:oid pubname:name pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool pubdelete:bool
    pubtruncate:bool pubviaroot:bool""", relkind="r")(empty)
system_relation("pg_catalog", "pg_publication_rel", 6106,
                "oid:oid prpubid:oid prrelid:oid prqual:pg_node_tree prattrs:int2vector", relkind="r")(empty)
system_relation("pg_catalog", "pg_publication_namespace", 6237, "oid:oid pnpubid:oid pnnspid:oid",
                relkind="r")(empty)
system_relation("pg_catalog", "pg_foreign_table", 3118, "ftrelid:oid ftserver:oid ftoptions:text[]",
                relkind="r")(empty)
system_relation("pg_catalog", "pg_event_trigger", 3466, """
    oid:oid evtname:name evtevent:name evtowner:oid evtfoid:oid evtenabled:char evttags:text[]""",
                relkind="r")(empty)
system_relation("pg_catalog", "pg_init_privs", 3394, """
    objoid:oid classoid:oid objsubid:int4 privtype:char initprivs:aclitem[]""", relkind="r")(empty)
system_relation("pg_catalog", "pg_seclabel", 3596, """
    objoid:oid classoid:oid objsubid:int4 provider:text label:text""", relkind="r")(empty)
system_relation("pg_catalog", "pg_db_role_setting", 2964, "setdatabase:oid setrole:oid setconfig:text[]",
                relkind="r")(empty)
system_relation("pg_catalog", "pg_parameter_acl", 6243, "oid:oid parname:text paracl:aclitem[]",
                relkind="r")(empty)
