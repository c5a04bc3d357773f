-- Owners, GRANT/REVOKE with enforcement, role membership, SET ROLE and ALTER DEFAULT
-- PRIVILEGES (qp/catalog/acl.py, qp/bind/ddl/grants.py, qp/bind/privileges.py). The script runs
-- as the bootstrap superuser and switches identity with SET ROLE; it shows created roles'
-- names only (the bootstrap user is "postgres" on one side and "admin" on the other).
CREATE ROLE pv_alice;
CREATE ROLE pv_bob;
CREATE ROLE pv_carol;
CREATE ROLE pv_team;

-- PostgreSQL 15+: PUBLIC may not create in public; the owner of the database may.
SET ROLE pv_alice;
SELECT current_user, current_role, session_user = current_user AS same;
CREATE TABLE pv_t (a int PRIMARY KEY, b text);
RESET ROLE;
SELECT current_user = session_user AS back;
GRANT CREATE ON SCHEMA public TO pv_alice, pv_bob;
SELECT nspname, pg_get_userbyid(nspowner), nspacl::text[] FROM pg_namespace WHERE nspname = 'public';
SELECT has_schema_privilege('pv_alice', 'public', 'CREATE'), has_schema_privilege('pv_carol', 'public', 'CREATE'),
       has_schema_privilege('pv_carol', 'public', 'USAGE');

-- Owners: whoever creates, an index its table's.
SET ROLE pv_alice;
CREATE TABLE pv_t (a int PRIMARY KEY, b text);
INSERT INTO pv_t VALUES (1, 'x'), (2, 'y'), (3, 'z');
CREATE VIEW pv_v AS SELECT a FROM pv_t WHERE a > 1;
CREATE SEQUENCE pv_s CACHE 1;
SELECT relname, pg_get_userbyid(relowner), relacl::text[] FROM pg_class WHERE relname LIKE 'pv_%' ORDER BY relname;
SELECT has_table_privilege('pv_t', 'SELECT'), has_table_privilege('pv_bob', 'pv_t', 'SELECT');

-- The owner grants; the grants show as aclitems.
GRANT SELECT ON pv_t TO pv_bob WITH GRANT OPTION;
GRANT INSERT, UPDATE ON TABLE pv_t TO pv_bob;
GRANT SELECT ON pv_v TO pv_team;
GRANT USAGE ON SEQUENCE pv_s TO pv_bob;
SELECT relname, relacl::text[] FROM pg_class WHERE relname LIKE 'pv_%' ORDER BY relname;
SELECT grantor, grantee, table_name, privilege_type, is_grantable, with_hierarchy
  FROM information_schema.table_privileges WHERE table_name LIKE 'pv_%' ORDER BY 1, 2, 3, 4;
SELECT pg_get_userbyid(a.grantor), pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable
  FROM pg_class c, aclexplode(c.relacl) a WHERE c.relname = 'pv_t' ORDER BY 2, 3;
GRANT USAGE ON pv_t TO pv_bob;
GRANT SELECT ON SEQUENCE pv_t TO pv_bob;
GRANT SELECT ON pv_nothing TO pv_bob;
GRANT SELECT ON pv_t TO pv_nobody;
GRANT SELECT ON pv_t TO PUBLIC WITH GRANT OPTION;

-- Enforcement: what pv_bob may do, and PostgreSQL's 42501 for the rest.
SET ROLE pv_bob;
SELECT * FROM pv_t ORDER BY a;
SELECT * FROM pv_v;
UPDATE pv_t SET b = 'w';
UPDATE pv_t SET b = 'v' WHERE a = 1;
INSERT INTO pv_t VALUES (4, 'q');
INSERT INTO pv_t VALUES (5, 'q') RETURNING a;
INSERT INTO pv_t VALUES (4, 'r') ON CONFLICT (a) DO UPDATE SET b = excluded.b;
INSERT INTO pv_t VALUES (4, 'r') ON CONFLICT DO NOTHING;
DELETE FROM pv_t WHERE a = 4;
DELETE FROM pv_t;
TRUNCATE pv_t;
SELECT nextval('pv_s');
SELECT currval('pv_s');
SELECT setval('pv_s', 10);
-- Only the owner alters, drops, comments on, indexes.
ALTER TABLE pv_t ADD COLUMN c int;
COMMENT ON TABLE pv_t IS 'mine';
CREATE INDEX pv_i ON pv_t (b);
DROP TABLE pv_t;
DROP VIEW pv_v;
DROP SEQUENCE pv_s;
ALTER TABLE pv_t RENAME TO pv_t2;
ALTER TABLE pv_t OWNER TO pv_bob;
-- A foreign key needs REFERENCES on the table it references.
CREATE TABLE pv_child (id int PRIMARY KEY, a int REFERENCES pv_t (a));
-- USAGE on the schema: without it an unqualified name is not found, a qualified one is refused.
RESET ROLE;
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
SET ROLE pv_bob;
SELECT count(*) FROM pv_t;
SELECT count(*) FROM public.pv_t;
INSERT INTO public.pv_t VALUES (6, 's');
RESET ROLE;
GRANT USAGE ON SCHEMA public TO PUBLIC;
SELECT nspacl::text[] FROM pg_namespace WHERE nspname = 'public';
SET ROLE pv_bob;
SELECT count(*) FROM public.pv_t;

-- Grant options: pv_bob passes SELECT on; what it does not hold it cannot grant.
GRANT SELECT ON pv_t TO pv_carol;
GRANT SELECT, DELETE ON pv_t TO pv_carol;
GRANT DELETE ON pv_t TO pv_carol;
GRANT SELECT ON pv_v TO pv_carol;
SET ROLE pv_carol;
SELECT count(*) FROM pv_t;
SELECT count(*) FROM pv_v;
RESET ROLE;
SELECT relacl::text[] FROM pg_class WHERE relname = 'pv_t';
SET ROLE pv_alice;
REVOKE GRANT OPTION FOR SELECT ON pv_t FROM pv_bob;
REVOKE SELECT ON pv_t FROM pv_bob;
REVOKE GRANT OPTION FOR SELECT ON pv_t FROM pv_bob CASCADE;
SELECT relacl::text[] FROM pg_class WHERE relname = 'pv_t';
SELECT has_table_privilege('pv_bob', 'pv_t', 'SELECT'), has_table_privilege('pv_bob', 'pv_t', 'SELECT WITH GRANT OPTION'),
       has_table_privilege('pv_carol', 'pv_t', 'select'), has_table_privilege('pv_bob', 'pv_t', 'insert, delete');
SELECT has_table_privilege('pv_bob', 'pv_t', 'frob');
SELECT has_column_privilege('pv_bob', 'pv_t', 'b', 'UPDATE'), has_any_column_privilege('pv_carol', 'pv_t', 'UPDATE');
SELECT has_sequence_privilege('pv_bob', 'pv_s', 'USAGE'), has_sequence_privilege('pv_carol', 'pv_s', 'USAGE');
GRANT REFERENCES ON pv_t TO pv_bob;
SET ROLE pv_bob;
CREATE TABLE pv_child (id int PRIMARY KEY, a int REFERENCES pv_t (a));
SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE 'pv_child%' ORDER BY relname;
DROP TABLE pv_child;

-- Views read their tables with their owner's rights.
SET ROLE pv_alice;
REVOKE SELECT ON pv_v FROM pv_carol;
CREATE VIEW pv_v2 AS SELECT count(*) AS n FROM pv_t;
GRANT SELECT ON pv_v2 TO pv_carol;
SET ROLE pv_carol;
SELECT n FROM pv_v2;
SELECT count(*) FROM pv_t;
RESET ROLE;

-- Roles: membership with INHERIT passes privileges on; SET ROLE needs membership.
GRANT pv_team TO pv_bob;
GRANT pv_team TO pv_carol WITH ADMIN OPTION;
SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option FROM pg_auth_members
 WHERE pg_get_userbyid(roleid) LIKE 'pv_%' ORDER BY 1, 2;
SELECT pg_has_role('pv_bob', 'pv_team', 'MEMBER'), pg_has_role('pv_alice', 'pv_team', 'USAGE'),
       pg_has_role('pv_carol', 'pv_team', 'USAGE WITH ADMIN OPTION'), pg_has_role('pv_bob', 'pv_team', 'MEMBER WITH ADMIN OPTION');
SET ROLE pv_bob;
SELECT count(*) FROM pv_v;
SET ROLE pv_team;
SELECT current_user;
SET ROLE pv_alice;
RESET ROLE;
SET ROLE pv_carol;
GRANT pv_team TO pv_alice;
REVOKE pv_team FROM pv_alice;
GRANT pv_bob TO pv_alice;
RESET ROLE;
GRANT pv_bob TO pv_team;
GRANT pv_team TO pv_team;
REVOKE pv_team FROM pv_bob;
SET ROLE pv_bob;
SELECT count(*) FROM pv_v;
SET ROLE pv_nobody;
RESET ROLE;

-- SET ROLE and SET SESSION AUTHORIZATION roll back with their transaction.
BEGIN;
SET ROLE pv_bob;
SELECT current_user;
ROLLBACK;
SELECT current_user = session_user AS back;
SET SESSION AUTHORIZATION pv_alice;
SELECT current_user, session_user;
SET ROLE pv_bob;
SET SESSION AUTHORIZATION pv_bob;
RESET SESSION AUTHORIZATION;
SELECT current_user = session_user AS back;

-- ALTER ... OWNER TO: the new owner takes the old owner's grants.
ALTER TABLE pv_t OWNER TO pv_carol;
SELECT pg_get_userbyid(relowner), relacl::text[] FROM pg_class WHERE relname = 'pv_t';
ALTER TABLE pv_t OWNER TO pv_nobody;
SET ROLE pv_alice;
ALTER TABLE pv_t OWNER TO pv_alice;
ALTER VIEW pv_v OWNER TO pv_bob;
ALTER SEQUENCE pv_s OWNER TO pv_bob;
RESET ROLE;
ALTER TABLE pv_t OWNER TO pv_alice;

-- A superuser gives objects away; the owner's grants go with them.
ALTER VIEW pv_v OWNER TO pv_bob;
ALTER SEQUENCE pv_s OWNER TO pv_bob;
SELECT relname, pg_get_userbyid(relowner), relacl::text[] FROM pg_class WHERE relname IN ('pv_v', 'pv_s') ORDER BY 1;
ALTER VIEW pv_v OWNER TO pv_alice;
ALTER SEQUENCE pv_s OWNER TO pv_alice;
SELECT acldefault('r', oid)::text[], acldefault('s', oid)::text[], acldefault('n', oid)::text[] FROM pg_roles
 WHERE rolname = 'pv_alice';
SET ROLE pv_alice;
SELECT grantor, grantee, table_name, privilege_type, is_grantable
  FROM information_schema.role_table_grants WHERE table_name LIKE 'pv_%' ORDER BY 1, 2, 3, 4;
SET ROLE pv_carol;
SELECT grantor, grantee, table_name, privilege_type FROM information_schema.role_table_grants
 WHERE table_name LIKE 'pv_%' ORDER BY 1, 2, 3, 4;
RESET ROLE;
GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO pv_carol;
SELECT relname, relacl::text[] FROM pg_class WHERE relname = 'pv_s';
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM pv_carol;

-- ALL TABLES IN SCHEMA, and PUBLIC.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
SELECT relname, relacl::text[] FROM pg_class WHERE relname LIKE 'pv_%' AND relkind IN ('r', 'v') ORDER BY relname;
SET ROLE pv_carol;
SELECT count(*) FROM pv_t;
RESET ROLE;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
SELECT relname, relacl::text[] FROM pg_class WHERE relname LIKE 'pv_%' AND relkind IN ('r', 'v') ORDER BY relname;

-- ALTER DEFAULT PRIVILEGES: applied to what the role creates afterwards.
SET ROLE pv_alice;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO pv_bob;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT ON TABLES TO pv_team;
ALTER DEFAULT PRIVILEGES REVOKE USAGE ON SEQUENCES FROM pv_alice;
SELECT pg_get_userbyid(defaclrole), defaclnamespace = 'public'::regnamespace AS in_public, defaclobjtype, defaclacl::text[]
  FROM pg_default_acl ORDER BY defaclobjtype, in_public;
CREATE TABLE pv_u (a int);
CREATE SEQUENCE pv_s2 CACHE 1;
SELECT relname, relacl::text[] FROM pg_class WHERE relname IN ('pv_u', 'pv_s2') ORDER BY relname;
ALTER DEFAULT PRIVILEGES FOR ROLE pv_bob GRANT SELECT ON TABLES TO pv_alice;
ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM pv_bob;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE INSERT ON TABLES FROM pv_team;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON SEQUENCES TO pv_alice;
SELECT count(*) FROM pg_default_acl;
DROP SEQUENCE pv_s2;
DROP TABLE pv_u;
DROP VIEW pv_v2;
DROP VIEW pv_v;
DROP SEQUENCE pv_s;
DROP TABLE pv_t;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM pv_alice, pv_bob;
SELECT nspname, pg_get_userbyid(nspowner), nspacl::text[] FROM pg_namespace WHERE nspname = 'public';
DROP ROLE pv_alice;
DROP ROLE pv_bob;
DROP ROLE pv_carol;
DROP ROLE pv_team;

-- Domains: USAGE to use one in a column, owners and ACLs in pg_type.
CREATE ROLE pv_d1;
CREATE ROLE pv_d2;
GRANT CREATE ON SCHEMA public TO pv_d1, pv_d2;
SET ROLE pv_d1;
CREATE DOMAIN pv_pos AS int CHECK (VALUE > 0);
SELECT typname, pg_get_userbyid(typowner), typacl::text[] FROM pg_type WHERE typname = 'pv_pos';
REVOKE USAGE ON DOMAIN pv_pos FROM PUBLIC;
SELECT typname, pg_get_userbyid(typowner), typacl::text[] FROM pg_type WHERE typname = 'pv_pos';
SET ROLE pv_d2;
CREATE TABLE pv_dt (a pv_pos);
DROP DOMAIN pv_pos;
SET ROLE pv_d1;
GRANT USAGE ON TYPE pv_pos TO pv_d2;
GRANT USAGE ON DOMAIN pv_pos TO pv_d2;
SET ROLE pv_d2;
CREATE TABLE pv_dt (a pv_pos);
DROP TABLE pv_dt;
SET ROLE pv_d1;
DROP DOMAIN pv_pos;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM pv_d1, pv_d2;
DROP ROLE pv_d1;
DROP ROLE pv_d2;

-- SELECT is needed only when a statement reads the target's columns.
CREATE ROLE pv_w;
CREATE TABLE pv_wt (a int PRIMARY KEY, b text);
GRANT INSERT, UPDATE, DELETE ON pv_wt TO pv_w;
SET ROLE pv_w;
UPDATE pv_wt SET b = 'x';
UPDATE pv_wt SET b = b;
INSERT INTO pv_wt VALUES (1, 'a') ON CONFLICT DO NOTHING;
INSERT INTO pv_wt VALUES (1, 'a') ON CONFLICT (a) DO NOTHING;
INSERT INTO pv_wt VALUES (1, 'a') ON CONFLICT (a) DO UPDATE SET b = 'c';
INSERT INTO pv_wt SELECT 2, 'b';
DELETE FROM pv_wt;
DELETE FROM pv_wt WHERE true;
UPDATE pv_wt SET b = 'x' WHERE false;
RESET ROLE;
DROP TABLE pv_wt;
DROP ROLE pv_w;

-- A serial column's default needs USAGE on its sequence; an identity column's does not.
CREATE ROLE pv_q;
CREATE TABLE pv_qs (id serial PRIMARY KEY, b text);
CREATE TABLE pv_qi (id int GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, b text);
ALTER SEQUENCE pv_qs_id_seq CACHE 1;
GRANT INSERT ON pv_qs, pv_qi TO pv_q;
SET ROLE pv_q;
INSERT INTO pv_qs (b) VALUES ('x');
INSERT INTO pv_qi (b) VALUES ('x');
RESET ROLE;
GRANT USAGE ON SEQUENCE pv_qs_id_seq TO pv_q;
SET ROLE pv_q;
INSERT INTO pv_qs (b) VALUES ('x');
RESET ROLE;
DROP TABLE pv_qs, pv_qi;
DROP ROLE pv_q;

-- CREATE ROLE's IN ROLE, ROLE and ADMIN are memberships like GRANT's.
CREATE ROLE pv_r1;
CREATE ROLE pv_r2 IN ROLE pv_r1;
CREATE ROLE pv_r3 ROLE pv_r2 ADMIN pv_r1;
CREATE ROLE pv_r4 IN ROLE pv_nobody;
SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option FROM pg_auth_members
 WHERE pg_get_userbyid(roleid) LIKE 'pv_r%' ORDER BY 1, 2;
SELECT pg_has_role('pv_r2', 'pv_r1', 'USAGE'), pg_has_role('pv_r1', 'pv_r3', 'USAGE WITH ADMIN OPTION');
DROP ROLE pv_r3;
DROP ROLE pv_r2;
DROP ROLE pv_r1;

-- GRANT ON [TABLE] a sequence keeps the sequence's privileges, with a warning.
CREATE ROLE pv_g;
CREATE SEQUENCE pv_gs CACHE 1;
CREATE TABLE pv_gt (a int);
GRANT INSERT ON pv_gs TO pv_g;
GRANT INSERT, SELECT ON pv_gs TO pv_g;
GRANT ALL ON pv_gs TO pv_g;
GRANT INSERT ON SEQUENCE pv_gs TO pv_g;
GRANT USAGE ON pv_gt TO pv_g;
GRANT ALL ON SEQUENCE pv_gs TO pv_g;
SELECT relname, array_length(relacl, 1) FROM pg_class WHERE relname IN ('pv_gs', 'pv_gt') ORDER BY 1;
SELECT has_sequence_privilege('pv_g', 'pv_gs', 'USAGE'), has_table_privilege('pv_g', 'pv_gt', 'INSERT');
REVOKE ALL ON pv_gs FROM pv_g;
GRANT SELECT ON pv_gs, pv_gt TO pv_g;
REVOKE ALL ON pv_gs, pv_gt FROM pv_g;
DROP SEQUENCE pv_gs;
DROP TABLE pv_gt;
DROP ROLE pv_g;

-- SELECT ... FOR UPDATE/SHARE needs UPDATE on the tables it locks.
CREATE ROLE pv_l;
CREATE TABLE pv_lt (a int PRIMARY KEY);
CREATE TABLE pv_lu (a int PRIMARY KEY);
GRANT SELECT ON pv_lt, pv_lu TO pv_l;
SET ROLE pv_l;
SELECT * FROM pv_lt FOR UPDATE;
SELECT * FROM pv_lt FOR KEY SHARE;
RESET ROLE;
GRANT DELETE ON pv_lt TO pv_l;
SET ROLE pv_l;
SELECT * FROM pv_lt FOR UPDATE;
RESET ROLE;
GRANT UPDATE ON pv_lt TO pv_l;
SET ROLE pv_l;
SELECT * FROM pv_lt FOR UPDATE;
SELECT * FROM pv_lt, pv_lu FOR UPDATE OF pv_lt;
SELECT * FROM pv_lt, pv_lu FOR UPDATE;
SELECT * FROM pv_lt WHERE a IN (SELECT a FROM pv_lu) FOR UPDATE;
RESET ROLE;
DROP TABLE pv_lt, pv_lu;
DROP ROLE pv_l;

-- TRUNCATE ... CASCADE needs TRUNCATE on the tables it cascades to.
CREATE ROLE pv_tr;
CREATE TABLE pv_p (a int PRIMARY KEY);
CREATE TABLE pv_c (a int REFERENCES pv_p (a));
GRANT TRUNCATE ON pv_p TO pv_tr;
SET ROLE pv_tr;
TRUNCATE pv_p CASCADE;
BEGIN;
TRUNCATE pv_p CASCADE;
ROLLBACK;
RESET ROLE;
GRANT TRUNCATE ON pv_c TO pv_tr;
SET ROLE pv_tr;
TRUNCATE pv_p CASCADE;
RESET ROLE;
DROP TABLE pv_c, pv_p;
DROP ROLE pv_tr;

-- Default privileges for functions, types and schemas; entries back at the defaults go away.
CREATE ROLE pv_t1;
GRANT CREATE ON SCHEMA public TO pv_t1;
SET ROLE pv_t1;
ALTER DEFAULT PRIVILEGES REVOKE USAGE ON TYPES FROM PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO pv_t1;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SCHEMAS TO PUBLIC;
SELECT defaclobjtype, defaclacl::text[] FROM pg_default_acl ORDER BY 1;
CREATE DOMAIN pv_t1d AS int;
SELECT typacl::text[] FROM pg_type WHERE typname = 'pv_t1d';
DROP DOMAIN pv_t1d;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON TYPES TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE USAGE ON SCHEMAS FROM PUBLIC;
SELECT count(*) FROM pg_default_acl;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM pv_t1;
DROP ROLE pv_t1;

-- ALTER DOMAIN / TYPE / SCHEMA ... OWNER TO.
CREATE ROLE pv_o1;
CREATE ROLE pv_o2;
GRANT CREATE ON SCHEMA public TO pv_o1;
SET ROLE pv_o1;
CREATE DOMAIN pv_od AS text;
ALTER DOMAIN pv_od OWNER TO pv_o2;
RESET ROLE;
GRANT pv_o2 TO pv_o1;
SET ROLE pv_o1;
ALTER DOMAIN pv_od OWNER TO pv_o2;
RESET ROLE;
GRANT CREATE ON SCHEMA public TO pv_o2;
SET ROLE pv_o1;
ALTER DOMAIN pv_od OWNER TO pv_o2;
SELECT pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'pv_od';
ALTER TYPE pv_od OWNER TO pv_o1;
ALTER DOMAIN pv_nod OWNER TO pv_o1;
RESET ROLE;
ALTER SCHEMA public OWNER TO pv_o1;
SELECT pg_get_userbyid(nspowner), nspacl::text[] FROM pg_namespace WHERE nspname = 'public';
ALTER SCHEMA public OWNER TO pg_database_owner;
SELECT pg_get_userbyid(nspowner), nspacl::text[] FROM pg_namespace WHERE nspname = 'public';
DROP DOMAIN pv_od;
REVOKE CREATE ON SCHEMA public FROM pv_o1, pv_o2;
DROP ROLE pv_o1;
DROP ROLE pv_o2;
