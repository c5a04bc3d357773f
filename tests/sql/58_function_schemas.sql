-- SQL functions in any schema: CREATE qualified or into the search path's creation schema,
-- calls qualified or resolved along the path (an earlier schema's function hides a later
-- one's with the same argument types; pg_catalog keeps its place), DROP / ALTER / COMMENT /
-- GRANT by qualified or path-resolved names, the catalogs that show a function's schema,
-- and DROP SCHEMA with functions in it (qp/bind/ddl/functions.py, qp/bind/routines.py).

CREATE SCHEMA fs_a;
CREATE SCHEMA fs_b;
CREATE FUNCTION fs_a.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
CREATE FUNCTION fs_b.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 100';
CREATE FUNCTION fs_b.g(x text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'b:' || x $$;
CREATE FUNCTION fs_a.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 2';
CREATE OR REPLACE FUNCTION fs_a.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
CREATE FUNCTION fs_nope.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION a.b.c.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
-- dsql keeps its system schemas to itself (PostgreSQL lets a superuser add to pg_catalog).
-- @dsql-error 0A000
CREATE FUNCTION pg_catalog.fs_sys(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
-- @dsql-error 0A000
CREATE FUNCTION information_schema.fs_sys(x int) RETURNS int LANGUAGE sql AS 'SELECT x';

-- Qualified calls.
SELECT fs_a.f(1), fs_b.f(1), fs_b.g('x');
SELECT fs_a.g('x');
SELECT fs_nope.f(1);
SELECT f(1);

-- Unqualified calls go along the path; the first schema's function hides the later one's.
SET search_path = fs_a, fs_b;
SELECT f(1), g('y');
SET search_path = fs_b, fs_a;
SELECT f(1), g('y');
SELECT * FROM f(5);
-- Overloads in different schemas are all candidates.
CREATE FUNCTION fs_a.f(x text) RETURNS text LANGUAGE sql AS $$ SELECT 'a-text:' || x $$;
SELECT f(1), f('t'::text), f(2.0::int);
-- CREATE without a schema puts the function in the first schema of the path.
CREATE FUNCTION h() RETURNS text LANGUAGE sql AS $$ SELECT 'h' $$;
SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname IN ('f', 'g', 'h') ORDER BY 1, 2, p.oid;
SELECT fs_b.h();
SELECT fs_a.h();
-- A built-in keeps its place: before the path unless the path names pg_catalog later.
CREATE FUNCTION fs_a.lower(x text) RETURNS text LANGUAGE sql AS $$ SELECT 'mine' $$;
SET search_path = fs_a;
SELECT lower('ABC'), fs_a.lower('ABC');
SET search_path = fs_a, pg_catalog;
SELECT lower('ABC');
SET search_path = nope_schema;
CREATE FUNCTION nowhere() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT f(1);
RESET search_path;

-- regproc, regprocedure and pg_function_is_visible qualify what the path does not find.
SELECT 'fs_a.f(int)'::regprocedure::text, 'fs_b.f(integer)'::regprocedure::text, 'fs_b.g'::regproc::text;
SELECT 'fs_a.f'::regproc;
SELECT 'fs_nope.f'::regproc;
SELECT 'fs_nope.f(int)'::regprocedure;
SELECT to_regproc('fs_nope.f') IS NULL, to_regprocedure('fs_nope.f(int)') IS NULL, to_regproc('fs_a.nope') IS NULL;
SELECT has_function_privilege('fs_nope.f(int)', 'EXECUTE');
SELECT has_function_privilege('fs_a.nope(int)', 'EXECUTE');
SET search_path = fs_b, fs_a;
SELECT 'f(int)'::regprocedure::text, 'fs_a.f(int)'::regprocedure::text, 'f(text)'::regprocedure::text,
       'g'::regproc::text, 'h'::regproc::text;
SELECT to_regprocedure('f(int)')::text, to_regproc('g')::text, to_regproc('f') IS NULL;
SELECT p.oid::regprocedure::text, pg_function_is_visible(p.oid) FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('fs_a', 'fs_b') ORDER BY 1;
RESET search_path;
SELECT p.oid::regprocedure::text, p.oid::regproc::text, pg_function_is_visible(p.oid) FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('fs_a', 'fs_b') ORDER BY 1;
SELECT pg_get_functiondef('fs_b.g(text)'::regprocedure);
SELECT pg_get_function_identity_arguments('fs_a.f(text)'::regprocedure);

-- information_schema shows the schema.
SELECT routine_schema, routine_name, data_type FROM information_schema.routines
  WHERE routine_schema LIKE 'fs\_%' ORDER BY 1, 2, 3;
SELECT routine_schema, routine_name, grantee, privilege_type FROM information_schema.routine_privileges
  WHERE routine_schema LIKE 'fs\_%' AND grantee = 'PUBLIC' ORDER BY 1, 2;

-- COMMENT, ALTER, RENAME, SET SCHEMA by qualified and path-resolved names.
COMMENT ON FUNCTION fs_b.g(text) IS 'the g of b';
SELECT obj_description('fs_b.g(text)'::regprocedure, 'pg_proc');
COMMENT ON FUNCTION g(text) IS 'not on the path';
SET search_path = fs_b;
COMMENT ON FUNCTION g(text) IS 'found on the path';
SELECT obj_description('fs_b.g(text)'::regprocedure, 'pg_proc');
ALTER FUNCTION g(text) STABLE;
ALTER FUNCTION fs_a.f(int) IMMUTABLE;
SELECT p.oid::regprocedure::text, provolatile FROM pg_proc p WHERE proname IN ('f', 'g') ORDER BY 1;
ALTER FUNCTION fs_a.f(text) RENAME TO f2;
ALTER FUNCTION fs_b.f(int) RENAME TO f;
SELECT fs_a.f2('r');
ALTER FUNCTION fs_b.h() SET SCHEMA fs_a;
ALTER FUNCTION fs_a.f2(text) SET SCHEMA fs_b;
ALTER FUNCTION fs_a.f(int) SET SCHEMA fs_b;
ALTER FUNCTION fs_b.f2(text) SET SCHEMA fs_nope;
ALTER FUNCTION fs_b.f2(text) SET SCHEMA pg_toast;
SELECT f2('moved'), fs_b.f2('q');
SELECT n.nspname, p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname IN ('fs_a', 'fs_b') ORDER BY 1, 2;
RESET search_path;
ALTER FUNCTION fs_nope.f(int) STABLE;
ALTER FUNCTION f(int) STABLE;

-- A body's unqualified names resolve along the caller's path when it runs or is
-- inlined, even in a view (whose own names resolve along its CREATE's path).
CREATE SCHEMA fs_e;
CREATE FUNCTION fs_e.inner1(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 10';
SET search_path = fs_e;
CREATE FUNCTION outer1(x int) RETURNS int LANGUAGE sql AS 'SELECT inner1(x) + 2';
CREATE FUNCTION outer_set(x int) RETURNS TABLE (a int) LANGUAGE sql STABLE AS 'SELECT inner1(x)';
CREATE FUNCTION outer_run(x int) RETURNS int LANGUAGE sql STRICT AS 'SELECT inner1(x) + 3';
CREATE VIEW fs_ev AS SELECT outer1(5) AS v, outer_run(5) AS r;
CREATE VIEW fs_ev2 AS SELECT * FROM outer_set(5);
SELECT * FROM fs_ev, fs_ev2;
RESET search_path;
SELECT * FROM fs_e.fs_ev;
SELECT * FROM fs_e.fs_ev2;
SELECT fs_e.outer_run(1);
SET search_path = fs_e;
SELECT * FROM fs_e.fs_ev, fs_e.fs_ev2;
SELECT outer_run(1);
RESET search_path;
SELECT fs_e.outer_run(1);
DROP SCHEMA fs_e CASCADE;
-- A function in the session's temporary schema would be temporary: dsql has none.
-- @dsql-error 0A000
CREATE FUNCTION pg_temp.fs_tf() RETURNS int LANGUAGE sql AS 'SELECT 1';
SET search_path = pg_temp, public;
-- @dsql-error 0A000
CREATE FUNCTION fs_tf() RETURNS int LANGUAGE sql AS 'SELECT 1';
RESET search_path;

-- Views calling a schema's function; DROP FUNCTION by qualified and path names.
CREATE VIEW fs_v AS SELECT fs_a.f(10) AS v;
SELECT * FROM fs_v;
-- dsql's views name the functions they call: moving or renaming one they call is refused.
-- @dsql-error 0A000
ALTER FUNCTION fs_a.f(int) SET SCHEMA fs_b;
-- @dsql-error 0A000
ALTER FUNCTION fs_a.f(int) RENAME TO f_renamed;
SELECT * FROM fs_v;
SET search_path = fs_a, fs_b;
CREATE FUNCTION fs_b.k() RETURNS int LANGUAGE sql AS 'SELECT 7';
DROP FUNCTION k();
SELECT fs_b.k();
DROP FUNCTION fs_b.k;
DROP FUNCTION IF EXISTS fs_b.k();
DROP FUNCTION IF EXISTS fs_nope.k();
DROP FUNCTION fs_nope.k();
RESET search_path;
DROP FUNCTION f(int);

-- Privileges: USAGE on the schema to call, CREATE to create, GRANT ON ALL FUNCTIONS IN SCHEMA.
CREATE ROLE fs_user;
CREATE SCHEMA fs_c;
CREATE FUNCTION fs_c.c1(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 3';
CREATE FUNCTION fs_c.c2() RETURNS int LANGUAGE sql AS 'SELECT 4';
SET ROLE fs_user;
SELECT fs_c.c1(1);
CREATE FUNCTION fs_c.mine() RETURNS int LANGUAGE sql AS 'SELECT 1';
SET search_path = fs_c, public;
SELECT c2();
RESET ROLE;
GRANT USAGE ON SCHEMA fs_c TO fs_user;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA fs_c FROM PUBLIC;
SET ROLE fs_user;
SELECT fs_c.c1(1);
RESET ROLE;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA fs_c TO fs_user;
REVOKE EXECUTE ON FUNCTION c2() FROM fs_user;
SET ROLE fs_user;
SELECT fs_c.c1(1), c1(2);
SELECT c2();
RESET ROLE;
GRANT CREATE ON SCHEMA fs_c TO fs_user;
SET ROLE fs_user;
CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT n.nspname, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = 'mine';
RESET ROLE;
RESET search_path;
SELECT has_function_privilege('fs_user', 'fs_c.c1(int)', 'EXECUTE'),
       has_function_privilege('fs_user', 'fs_c.c2()', 'EXECUTE');
ALTER FUNCTION fs_c.c2() OWNER TO fs_user;
SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'c2';

-- RENAME needs CREATE on the function's schema, SET SCHEMA on the new one (owners too).
CREATE SCHEMA fs_d;
GRANT USAGE ON SCHEMA fs_d TO fs_user;
SET ROLE fs_user;
ALTER FUNCTION fs_c.c2() SET SCHEMA fs_d;
RESET ROLE;
REVOKE CREATE ON SCHEMA fs_c FROM fs_user;
SET ROLE fs_user;
ALTER FUNCTION fs_c.c2() RENAME TO c3;
ALTER FUNCTION fs_c.c2() STABLE;
RESET ROLE;
GRANT CREATE ON SCHEMA fs_d TO fs_user;
GRANT CREATE ON SCHEMA fs_c TO fs_user;
SET ROLE fs_user;
ALTER FUNCTION fs_c.c2() RENAME TO c3;
ALTER FUNCTION fs_c.c3() SET SCHEMA fs_d;
SELECT fs_d.c3();
RESET ROLE;
DROP SCHEMA fs_d CASCADE;

-- A column default elsewhere that calls a schema's function depends on it: RESTRICT lists
-- it; CASCADE would drop the default, which dsql does not do (0A000).
CREATE SCHEMA fs_f;
CREATE FUNCTION fs_f.seven() RETURNS int LANGUAGE sql AS 'SELECT 7';
CREATE FUNCTION public.seven() RETURNS int LANGUAGE sql AS 'SELECT 8';
CREATE TABLE fs_uses (id int, v int DEFAULT fs_f.seven(), w int DEFAULT public.seven());
INSERT INTO fs_uses (id) VALUES (1);
SELECT * FROM fs_uses;
DROP SCHEMA fs_f;
-- @dsql-error 0A000
DROP SCHEMA fs_f CASCADE;
DROP TABLE fs_uses;
DROP SCHEMA fs_f CASCADE;
DROP FUNCTION public.seven();

-- DROP SCHEMA sees the functions: RESTRICT refuses (2BP01), CASCADE drops them.
DROP SCHEMA fs_c;
DROP SCHEMA fs_c CASCADE;
SELECT count(*) FROM pg_proc WHERE proname IN ('c1', 'c2', 'mine');
ALTER SCHEMA fs_b RENAME TO fs_b2;
SELECT fs_b2.g('renamed');
SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname IN ('fs_a', 'fs_b2') ORDER BY 1, 2;
DROP SCHEMA fs_a;
DROP SCHEMA fs_a CASCADE;
SELECT * FROM fs_v;
DROP SCHEMA fs_b2 CASCADE;
SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE 'fs\_%';
DROP ROLE fs_user;
