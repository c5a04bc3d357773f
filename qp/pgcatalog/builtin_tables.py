"""Catalogs of built-in objects: pg_type, pg_proc, pg_operator, pg_am,
pg_opclass, pg_opfamily, pg_collation, pg_language, pg_extension, pg_range,
pg_enum and pg_aggregate. Their rows never change while a process runs
(STATIC lifetime)."""

from __future__ import annotations

from qp.pgcatalog import builtins, oids, routines
from qp.pgcatalog.builtin_data import CASTS
from qp.pgcatalog.privileges import with_type_owner
from qp.pgcatalog.relation import Lifetime, Source, empty, system_relation
from qp.pgcatalog.ruleutils import expression_text
from qp.pgcatalog.search_path import schema_oids

STATIC = Lifetime.STATIC


@system_relation("pg_catalog", "pg_type", 1247, """
    oid:oid typname:name typnamespace:oid typowner:oid typlen:int2 typbyval:bool typtype:char typcategory:char
    typispreferred:bool typisdefined:bool typdelim:char typrelid:oid typsubscript:regproc typelem:oid
    typarray:oid typinput:regproc typoutput:regproc typreceive:regproc typsend:regproc typmodin:regproc
    typmodout:regproc typanalyze:regproc typalign:char typstorage:char typnotnull:bool typbasetype:oid
    typtypmod:int4 typndims:int4 typcollation:oid typdefaultbin:pg_node_tree typdefault:text
    typacl:aclitem[]""", lifetime=Lifetime.CATALOG, relkind="r")
def pg_type(src: Source) -> list[tuple]:
    # CATALOG, not STATIC: user domains are types too.
    def default_text(domain) -> str | None:
        if domain.default_sql is None:
            return None
        return expression_text(None, domain.default_sql, False, src.ctx, target=domain.base_type)

    domains = sorted(src.model.snapshot.domains.values(), key=lambda d: d.oid)
    snapshot = src.model.snapshot
    namespaces = schema_oids(snapshot)
    return builtins.type_rows() + [with_type_owner(row, snapshot)
                                   for row in builtins.domain_type_rows(domains, default_text, namespaces)]  # fmt: skip


@system_relation("pg_catalog", "pg_proc", 1255, """
    oid:oid proname:name pronamespace:oid proowner:oid prolang:oid procost:float4 prorows:float4
    provariadic:oid prosupport:regproc prokind:char prosecdef:bool proleakproof:bool proisstrict:bool
    proretset:bool provolatile:char proparallel:char pronargs:int2 pronargdefaults:int2 prorettype:oid
    proargtypes:oidvector proallargtypes:oid[] proargmodes:char[] proargnames:text[]
    proargdefaults:pg_node_tree protrftypes:oid[] prosrc:text probin:text prosqlbody:pg_node_tree
    proconfig:text[] proacl:aclitem[]""", relkind="r")
def pg_proc(src: Source) -> list[tuple]:
    return builtins.proc_rows() + routines.proc_rows(src.model.snapshot)  # built-ins, then the user's


@system_relation("pg_catalog", "pg_operator", 2617, """
    oid:oid oprname:name oprnamespace:oid oprowner:oid oprkind:char oprcanmerge:bool oprcanhash:bool
    oprleft:oid oprright:oid oprresult:oid oprcom:oid oprnegate:oid oprcode:regproc oprrest:regproc
    oprjoin:regproc""", lifetime=STATIC, relkind="r")
def pg_operator(src: Source) -> list[tuple]:
    return list(builtins.operator_rows())


@system_relation("pg_catalog", "pg_am", 2601, "oid:oid amname:name amhandler:regproc amtype:char",
                 lifetime=STATIC, relkind="r")
def pg_am(src: Source) -> list[tuple]:
    return [(oid, name, 0, amtype) for oid, name, amtype in oids.ACCESS_METHODS]


@system_relation("pg_catalog", "pg_opclass", 2616, """
    oid:oid opcmethod:oid opcname:name opcnamespace:oid opcowner:oid opcfamily:oid opcintype:oid
    opcdefault:bool opckeytype:oid""", lifetime=STATIC, relkind="r")
def pg_opclass(src: Source) -> list[tuple]:
    return builtins.opclass_rows()


@system_relation("pg_catalog", "pg_opfamily", 2753, """
    oid:oid opfmethod:oid opfname:name opfnamespace:oid opfowner:oid""", lifetime=STATIC, relkind="r")
def pg_opfamily(src: Source) -> list[tuple]:
    return builtins.opfamily_rows()


@system_relation("pg_catalog", "pg_collation", 3456, """
    oid:oid collname:name collnamespace:oid collowner:oid collprovider:char collisdeterministic:bool
    collencoding:int4 collcollate:text collctype:text colliculocale:text collicurules:text
    collversion:text""", lifetime=STATIC, relkind="r")
def pg_collation(src: Source) -> list[tuple]:
    return [(oid, name, oids.PG_CATALOG_NAMESPACE, oids.BOOTSTRAP_SUPERUSER, provider, True, encoding, collate,
             ctype, None, None, None) for oid, name, provider, encoding, collate, ctype in oids.COLLATIONS]


@system_relation("pg_catalog", "pg_language", 2612, """
    oid:oid lanname:name lanowner:oid lanispl:bool lanpltrusted:bool lanplcallfoid:oid laninline:oid
    lanvalidator:oid lanacl:aclitem[]""", lifetime=STATIC, relkind="r")
def pg_language(src: Source) -> list[tuple]:
    owner = oids.BOOTSTRAP_SUPERUSER
    return [
        (oids.INTERNAL_LANGUAGE, "internal", owner, False, False, 0, 0, 2246, None),
        (oids.C_LANGUAGE, "c", owner, False, False, 0, 0, 2247, None),
        (oids.SQL_LANGUAGE, "sql", owner, False, True, 0, 0, 2248, None),
        (oids.PLPGSQL_LANGUAGE, "plpgsql", owner, True, True, 13560, 13561, 13562, None),
    ]


@system_relation("pg_catalog", "pg_extension", 3079, """
    oid:oid extname:name extowner:oid extnamespace:oid extrelocatable:bool extversion:text extconfig:oid[]
    extcondition:text[]""", lifetime=STATIC, relkind="r")
def pg_extension(src: Source) -> list[tuple]:
    # DSQL lists plpgsql and nothing else (no CREATE EXTENSION).
    return [(oids.PLPGSQL_EXTENSION, "plpgsql", oids.BOOTSTRAP_SUPERUSER, oids.PG_CATALOG_NAMESPACE, False,
             "1.0", None, None)]


@system_relation("pg_catalog", "pg_aggregate", 2600, """
    aggfnoid:regproc aggkind:char aggnumdirectargs:int2 aggtransfn:regproc aggfinalfn:regproc
    aggcombinefn:regproc aggserialfn:regproc aggdeserialfn:regproc aggmtransfn:regproc aggminvtransfn:regproc
    aggmfinalfn:regproc aggfinalextra:bool aggmfinalextra:bool aggfinalmodify:char aggmfinalmodify:char
    aggsortop:oid aggtranstype:oid aggtransspace:int4 aggmtranstype:oid aggmtransspace:int4 agginitval:text
    aggminitval:text""", lifetime=STATIC, relkind="r")
def pg_aggregate(src: Source) -> list[tuple]:
    return [(p.oid, "n", 0, 0, 0, 0, 0, 0, 0, 0, 0, False, False, "r", "r", 0, 0, 0, 0, 0, None, None)
            for p in builtins.procs() if p.kind == "a"]


@system_relation("pg_catalog", "pg_cast", 2605, """
    oid:oid castsource:oid casttarget:oid castfunc:oid castcontext:char castmethod:char""", lifetime=STATIC,
                 relkind="r")
def pg_cast(src: Source) -> list[tuple]:
    """The casts dsql has that PostgreSQL lists (others are I/O conversions, which pg_cast omits)."""

    return sorted((oid, source, target, func, context, method)
                  for (source, target), (oid, func, context, method) in CASTS.items())


# dsql has no range, multirange or enum types (yet).
system_relation("pg_catalog", "pg_range", 3541, """
    rngtypid:oid rngsubtype:oid rngmultitypid:oid rngcollation:oid rngsubopc:oid rngcanonical:regproc
    rngsubdiff:regproc""", lifetime=STATIC, relkind="r")(empty)
system_relation("pg_catalog", "pg_enum", 3501, "oid:oid enumtypid:oid enumsortorder:float4 enumlabel:name",
                lifetime=STATIC, relkind="r")(empty)
# Nor conversions, foreign data wrappers, servers or user mappings.
system_relation("pg_catalog", "pg_conversion", 2607, """
    oid:oid conname:name connamespace:oid conowner:oid conforencoding:int4 contoencoding:int4 conproc:regproc
    condefault:bool""", lifetime=STATIC, relkind="r")(empty)
system_relation("pg_catalog", "pg_foreign_data_wrapper", 2328, """
    oid:oid fdwname:name fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:aclitem[] fdwoptions:text[]""",
                lifetime=STATIC, relkind="r")(empty)
system_relation("pg_catalog", "pg_foreign_server", 1417, """
    oid:oid srvname:name srvowner:oid srvfdw:oid srvtype:text srvversion:text srvacl:aclitem[]
    srvoptions:text[]""", lifetime=STATIC, relkind="r")(empty)
system_relation("pg_catalog", "pg_user_mapping", 1418, "oid:oid umuser:oid umserver:oid umoptions:text[]",
                lifetime=STATIC, relkind="r")(empty)
