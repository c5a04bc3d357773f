"""Catalogs of the cluster and the session: namespaces, the database, roles,
tablespaces, settings, activity, prepared statements and cursors.

dsql has one database (`postgres`) and the schemas pg_catalog, public and
information_schema. Roles are the catalog's (qp/bind/ddl/roles.py): `admin` (oid 10,
shown under a trust-mode session's own name when that name is no role), the
created ones, and PostgreSQL's predefined roles. Those rows depend on the
session, so these relations are rebuilt for each scan (they are a few rows each).
"""

from __future__ import annotations

from qp.bind.ddl.roles import session_role, visible_roles
from qp.catalog.temp_keys import TEMP_NAMESPACE_NAMES
from qp.frontend.activity import State
from qp.frontend.planner_settings import planner_facts, planner_setting_value
from qp.frontend.settings import DEFAULTS, READ_ONLY
from qp.pgcatalog import oids
from qp.pgcatalog.privileges import namespace_row
from qp.pgcatalog.relation import Lifetime, Source, empty, system_relation

SESSION = Lifetime.SESSION
STATIC = Lifetime.STATIC


def session_user(src: Source) -> str:
    session = src.session
    return getattr(session, "user", None) or "postgres"


@system_relation("pg_catalog", "pg_namespace", 2615, "oid:oid nspname:name nspowner:oid nspacl:aclitem[]",
                 lifetime=Lifetime.CATALOG, relkind="r")
def pg_namespace(src: Source) -> list[tuple]:
    owner = oids.BOOTSTRAP_SUPERUSER
    snapshot = src.model.snapshot
    return [
        (oids.PG_CATALOG_NAMESPACE, "pg_catalog", owner, None),
        (oids.PG_TOAST_NAMESPACE, "pg_toast", owner, None),
        (oids.PUBLIC_NAMESPACE, "public", *namespace_row(src.model.snapshot, oids.PUBLIC_NAMESPACE)),
        (oids.INFORMATION_SCHEMA_NAMESPACE, "information_schema", owner, None),
        # Every session's temporary schema, under one name: a session sees only its own objects.
        *((oid, name, owner, None) for oid, name in TEMP_NAMESPACE_NAMES.items()),
    ] + [(schema.oid, schema.name, *_created_namespace_row(snapshot, schema))
         for schema in sorted(snapshot.schemas.values(), key=lambda s: s.oid)]


def _created_namespace_row(snapshot, schema) -> tuple[int, list[str] | None]:
    """(nspowner, nspacl) of a CREATE SCHEMA schema: from its privileges once it has any
    (qp/ddl/ownership.py, GRANT, ALTER SCHEMA ... OWNER TO), else its AUTHORIZATION role."""
    if schema.oid in snapshot.privileges.objects:
        return namespace_row(snapshot, schema.oid)
    role = snapshot.roles.get(schema.owner)
    return (role.oid if role is not None else oids.BOOTSTRAP_SUPERUSER), None


@system_relation("pg_catalog", "pg_database", 1262, """
    oid:oid datname:name datdba:oid encoding:int4 datlocprovider:char datistemplate:bool datallowconn:bool
    datconnlimit:int4 datfrozenxid:xid datminmxid:xid dattablespace:oid datcollate:text datctype:text
    daticulocale:text daticurules:text datcollversion:text datacl:aclitem[]""", lifetime=STATIC, relkind="r")
def pg_database(src: Source) -> list[tuple]:
    return [(oids.DATABASE_OID, oids.DATABASE_NAME, oids.BOOTSTRAP_SUPERUSER, oids.ENCODING_UTF8, "c", False, True,
             -1, 0, 1, oids.DEFAULT_TABLESPACE, "C", "C", None, None, None, None)]


@system_relation("pg_catalog", "pg_tablespace", 1213,
                 "oid:oid spcname:name spcowner:oid spcacl:aclitem[] spcoptions:text[]", lifetime=STATIC, relkind="r")
def pg_tablespace(src: Source) -> list[tuple]:
    return [(oids.DEFAULT_TABLESPACE, "pg_default", oids.BOOTSTRAP_SUPERUSER, None, None),
            (oids.GLOBAL_TABLESPACE, "pg_global", oids.BOOTSTRAP_SUPERUSER, None, None)]


# -- roles ------------------------------------------------------------------------------------------


def _roles(src: Source) -> list[tuple]:
    """(oid, name, super, inherit, createrole, createdb, canlogin, replication, bypassrls, connlimit,
    password, valid until) per role: the roles of the catalog (qp/bind/ddl/roles.py) and the predefined ones."""

    catalog, user = src.model.snapshot, session_user(src)
    see_passwords = session_role(catalog, user).superuser  # PostgreSQL keeps pg_authid to superusers
    mine = [(r.oid, r.name, r.superuser, r.inherit, r.createrole, r.createdb, r.login, r.replication, r.bypassrls,
             r.connection_limit, r.password if see_passwords else None, r.valid_until)
            for r in visible_roles(catalog, user)]
    others = [(oid, name, False, True, False, False, False, False, False, -1, None, None)
              for oid, name in oids.PREDEFINED_ROLES]
    return sorted(mine + others)


@system_relation("pg_catalog", "pg_authid", 1260, """
    oid:oid rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool
    rolreplication:bool rolbypassrls:bool rolconnlimit:int4 rolpassword:text rolvaliduntil:timestamptz""",
                 lifetime=SESSION, relkind="r")
def pg_authid(src: Source) -> list[tuple]:
    return _roles(src)


@system_relation("pg_catalog", "pg_roles", 12000, """
    rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool
    rolreplication:bool rolconnlimit:int4 rolpassword:text rolvaliduntil:timestamptz rolbypassrls:bool
    rolconfig:text[] oid:oid""", lifetime=SESSION)
def pg_roles(src: Source) -> list[tuple]:
    return [(name, sup, inherit, createrole, createdb, login, repl, limit, "********", until, bypass, None, oid)
            for oid, name, sup, inherit, createrole, createdb, login, repl, bypass, limit, _, until in _roles(src)]


@system_relation("pg_catalog", "pg_user", 12014, """
    usename:name usesysid:oid usecreatedb:bool usesuper:bool userepl:bool usebypassrls:bool passwd:text
    valuntil:timestamptz useconfig:text[]""", lifetime=SESSION)
def pg_user(src: Source) -> list[tuple]:
    return [(name, oid, createdb, sup, repl, bypass, "********", until, None)
            for oid, name, sup, _, _, createdb, login, repl, bypass, _, _, until in _roles(src) if login]


@system_relation("pg_catalog", "pg_auth_members", 1261, """
    oid:oid roleid:oid member:oid grantor:oid admin_option:bool inherit_option:bool set_option:bool""",
                 lifetime=Lifetime.CATALOG, relkind="r")
def pg_auth_members(src: Source) -> list[tuple]:
    predefined = [(6301 + i, role, member, oids.BOOTSTRAP_SUPERUSER, False, True, True)
                  for i, (member, role) in enumerate(oids.PREDEFINED_MEMBERSHIPS)]
    # GRANT role TO role (qp/ddl/grants.py); a membership has no oid of its own, so one is derived.
    taken: set[int] = set()
    granted = [(oids.derived_oid("membership", m.role, str(m.member), taken), m.role, m.member, m.grantor, m.admin, m.inherit, m.set)
               for m in src.model.snapshot.privileges.memberships]
    return predefined + sorted(granted, key=lambda row: (row[1], row[2]))


# -- the session ------------------------------------------------------------------------------------

# pg_settings facts for the settings dsql has: name -> (category, short_desc, vartype, unit).
_SETTING_FACTS = {
    "application_name": ("Reporting and Logging / What to Log", "Sets the application name to be reported in "
                         "statistics and logs.", "string", None),
    "client_encoding": ("Client Connection Defaults / Locale and Formatting",
                        "Sets the client's character set encoding.", "string", None),
    "DateStyle": ("Client Connection Defaults / Locale and Formatting",
                  "Sets the display format for date and time values.", "string", None),
    "IntervalStyle": ("Client Connection Defaults / Locale and Formatting",
                      "Sets the display format for interval values.", "enum", None),
    "TimeZone": ("Client Connection Defaults / Locale and Formatting",
                 "Sets the time zone for displaying and interpreting time stamps.", "string", None),
    "search_path": ("Client Connection Defaults / Statement Behavior",
                    "Sets the schema search order for names that are not schema-qualified.", "string", None),
    "statement_timeout": ("Client Connection Defaults / Statement Behavior",
                          "Sets the maximum allowed duration of any statement.", "integer", "ms"),
    "lock_timeout": ("Client Connection Defaults / Statement Behavior",
                     "Sets the maximum allowed duration of any wait for a lock.", "integer", "ms"),
    "idle_in_transaction_session_timeout": ("Client Connection Defaults / Statement Behavior",
                                            "Sets the maximum allowed idle time between queries, when in a "
                                            "transaction.", "integer", "ms"),
    "extra_float_digits": ("Client Connection Defaults / Locale and Formatting",
                           "Sets the number of digits displayed for floating-point values.", "integer", None),
    "work_mem": ("Resource Usage / Memory", "Sets the maximum memory to be used for query workspaces.",
                 "integer", "kB"),
    "block_size": ("Preset Options", "Shows the size of a disk block.", "integer", None),
    "max_identifier_length": ("Preset Options", "Shows the maximum identifier length.", "integer", None),
    "max_connections": ("Connections and Authentication / Connection Settings",
                        "Sets the maximum number of concurrent connections.", "integer", None),
}


def _setting_value(name: str, value: str) -> str:
    """pg_settings.setting is in the setting's base unit (work_mem '4MB' -> '4096')."""
    if name == "work_mem" and value.upper().endswith("MB") and value[:-2].isdigit():
        return str(int(value[:-2]) * 1024)
    return value


@system_relation("pg_catalog", "pg_settings", 12104, """
    name:text setting:text unit:text category:text short_desc:text extra_desc:text context:text vartype:text
    source:text min_val:text max_val:text enumvals:text[] boot_val:text reset_val:text sourcefile:text
    sourceline:int4 pending_restart:bool""", lifetime=SESSION)
def pg_settings(src: Source) -> list[tuple]:
    settings = dict(DEFAULTS)
    settings.update(getattr(src.session, "settings", {}) or {})
    out = []
    for name in sorted(settings, key=str.lower):
        value = settings[name]
        default = DEFAULTS.get(name)
        planner = planner_facts(name)
        if planner is not None:
            category, vartype, unit = planner
            description = None
        else:
            category, description, vartype, unit = _SETTING_FACTS.get(name, ("Ungrouped", None, _vartype(value), None))
        context = "internal" if name in READ_ONLY else "user"
        source = "default" if value == default else "session"
        boot = planner_setting_value(name, default) if default is not None else None
        setting = planner_setting_value(name, _setting_value(name, value))
        out.append((name, setting, unit, category, description, None, context, vartype, source,
                    None, None, None, boot, boot, None, None, False))
    return out


def _vartype(value: str) -> str:
    if value in ("on", "off"):
        return "bool"
    if value.lstrip("-").isdigit():
        return "integer"
    return "string"


@system_relation("pg_catalog", "pg_stat_activity", 12222, """
    datid:oid datname:name pid:int4 leader_pid:int4 usesysid:oid usename:name application_name:text
    client_addr:inet client_hostname:text client_port:int4 backend_start:timestamptz xact_start:timestamptz
    query_start:timestamptz state_change:timestamptz wait_event_type:text wait_event:text state:text
    backend_xid:xid backend_xmin:xid query_id:int8 query:text backend_type:text""", lifetime=SESSION)
def pg_stat_activity(src: Source) -> list[tuple]:
    """The client sessions of this process, from each one's `Activity` (qp/frontend/activity.py).

    dsql does not gather activity across processes, runs no background
    processes PostgreSQL would list, and has no transaction ids or query ids
    (backend_xid, backend_xmin, query_id are NULL). As in PostgreSQL, a role
    sees the details of its own sessions, a superuser those of every session;
    for the others only who and where, with query `<insufficient privilege>`.
    """
    me = src.session
    qp = getattr(me, "qp", None)
    sessions = list(getattr(qp, "sessions", {}).values()) if qp is not None else [me]
    catalog, viewer = src.model.snapshot, session_user(src)
    sees_all = session_role(catalog, viewer).superuser
    out = []
    for session in sorted(sessions, key=lambda s: s.process_id):
        user = getattr(session, "user", None) or "postgres"
        settings = getattr(session, "settings", {}) or {}
        who = (oids.DATABASE_OID, oids.DATABASE_NAME, session.process_id, None, session_role(catalog, user).oid,
               user, settings.get("application_name", ""))
        activity = getattr(session, "activity", None)
        if activity is None or not (sees_all or user == viewer):
            out.append((*who, None, None, None, None, None, None, None, None, None, None, None, None, None,
                        "<insufficient privilege>", None))
            continue
        client = activity.client
        waiting = activity.state is not State.ACTIVE  # an idle backend waits to read from its client
        out.append((
            *who, client.host if client else None, None, client.port if client else None,
            activity.backend_start_us, activity.xact_start_us, activity.query_start_us, activity.state_change_us,
            "Client" if waiting else None, "ClientRead" if waiting else None, activity.state.value,
            None, None, None, activity.query, "client backend",
        ))  # fmt: skip
    return out


@system_relation("pg_catalog", "pg_stat_database", 12266, """
    datid:oid datname:name numbackends:int4 xact_commit:int8 xact_rollback:int8 blks_read:int8 blks_hit:int8
    tup_returned:int8 tup_fetched:int8 tup_inserted:int8 tup_updated:int8 tup_deleted:int8 conflicts:int8
    temp_files:int8 temp_bytes:int8 deadlocks:int8 checksum_failures:int8 checksum_last_failure:timestamptz
    blk_read_time:float8 blk_write_time:float8 session_time:float8 active_time:float8
    idle_in_transaction_time:float8 sessions:int8 sessions_abandoned:int8 sessions_fatal:int8
    sessions_killed:int8 stats_reset:timestamptz""", lifetime=SESSION)
def pg_stat_database(src: Source) -> list[tuple]:
    """PostgreSQL's columns, one row for shared objects (datid 0) and one for the database.

    numbackends counts this process's client sessions (as pg_stat_activity lists
    them); dsql keeps no cumulative statistics, so the counters and times read 0,
    as right after pg_stat_reset(); there are no data checksums (NULL, as with
    checksums disabled) and no reset time.
    """
    qp = getattr(src.session, "qp", None)
    backends = len(getattr(qp, "sessions", {})) if qp is not None else 1
    counters = (0,) * 13 + (None, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, None)
    return [(0, None, 0, *counters), (oids.DATABASE_OID, oids.DATABASE_NAME, backends, *counters)]


@system_relation("pg_catalog", "pg_prepared_statements", 12095, """
    name:text statement:text prepare_time:timestamptz parameter_types:regtype[] result_types:regtype[]
    from_sql:bool generic_plans:int8 custom_plans:int8""", lifetime=SESSION)
def pg_prepared_statements(src: Source) -> list[tuple]:
    out = []
    for name, prepared in sorted((getattr(src.session, "statements", {}) or {}).items()):
        if not name:
            continue  # the unnamed statement is not listed
        statement = prepared.statement
        columns = prepared.columns
        out.append((name, statement.text if statement is not None else "", None, prepared.param_oids,
                    [c.type_oid for c in columns] if columns is not None else None, False, 0, 0))
    return out


@system_relation("pg_catalog", "pg_cursors", 12077, """
    name:text statement:text is_holdable:bool is_binary:bool is_scrollable:bool
    creation_time:timestamptz""", lifetime=SESSION)
def pg_cursors(src: Source) -> list[tuple]:
    """The session's DECLAREd cursors (`Session.cursors`, qp/frontend/cursors.py)."""
    cursors = getattr(src.session, "cursors", None)
    return sorted(cursors.pg_cursors_rows()) if cursors is not None else []


system_relation("pg_catalog", "pg_locks", 12073, """
    locktype:text database:oid relation:oid page:int4 tuple:int2 virtualxid:text transactionid:xid classid:oid
    objid:oid objsubid:int2 virtualtransaction:text pid:int4 mode:text granted:bool fastpath:bool
    waitstart:timestamptz""", lifetime=STATIC)(empty)
