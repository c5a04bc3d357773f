-- SQL functions under privileges: EXECUTE (PUBLIC's by default), GRANT/REVOKE ON FUNCTION,
-- owners that alter, drop and give away their functions (qp/ddl/grants.py, qp/ddl/ownership.py,
-- qp/bind/privileges.py's note_execute). Runs as the bootstrap superuser, switching with SET ROLE.
CREATE ROLE fp_owner;
CREATE ROLE fp_user;
GRANT CREATE ON SCHEMA public TO fp_owner;
SET ROLE fp_owner;
CREATE FUNCTION fp_add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;
CREATE FUNCTION fp_twice(x int) RETURNS int LANGUAGE sql AS 'SELECT 2 * x';
SELECT proname, pg_get_userbyid(proowner), proacl::text[] FROM pg_proc WHERE proname LIKE 'fp_%' ORDER BY 1;
RESET ROLE;
-- PUBLIC may execute a new function.
SET ROLE fp_user;
SELECT fp_add(1, 2), fp_twice(4);
RESET ROLE;
-- The owner takes EXECUTE away from PUBLIC, then gives it to one role.
SET ROLE fp_owner;
REVOKE EXECUTE ON FUNCTION fp_add(int, int) FROM PUBLIC;
SELECT proname, proacl::text[] FROM pg_proc WHERE proname = 'fp_add';
RESET ROLE;
SELECT has_function_privilege('fp_user', 'fp_add(integer, integer)', 'EXECUTE'),
       has_function_privilege('fp_user', 'fp_twice(int)', 'execute'),
       has_function_privilege('fp_owner', 'public.fp_add(int,int)', 'EXECUTE WITH GRANT OPTION'),
       has_function_privilege('fp_user', (SELECT oid FROM pg_proc WHERE proname = 'fp_add'), 'EXECUTE'),
       has_function_privilege('fp_user', 'lower(text)', 'EXECUTE'),
       has_function_privilege('pg_catalog.upper(text)', 'EXECUTE');
SELECT has_function_privilege('no_such_function(int)', 'EXECUTE');
SELECT has_function_privilege('fp_user', 'fp_add(text)', 'EXECUTE');
SELECT has_function_privilege('fp_user', 'fp_add(integer, integer)', 'SELECT');
SET ROLE fp_user;
SELECT fp_add(1, 2);
SELECT fp_twice(5);
SELECT x FROM (VALUES (1)) v(x) WHERE fp_add(x, 1) = 2;
RESET ROLE;
SET ROLE fp_owner;
GRANT EXECUTE ON FUNCTION fp_add TO fp_user;
SELECT proname, proacl::text[] FROM pg_proc WHERE proname = 'fp_add';
RESET ROLE;
SET ROLE fp_user;
SELECT fp_add(10, 20);
-- Only the owner alters, comments on or drops a function.
ALTER FUNCTION fp_twice(int) RENAME TO fp_double;
COMMENT ON FUNCTION fp_twice(int) IS 'not mine';
DROP FUNCTION fp_twice(int);
GRANT EXECUTE ON FUNCTION fp_twice(int) TO PUBLIC;
RESET ROLE;
-- Giving a function away moves its grants to the new owner.
SET ROLE fp_owner;
ALTER FUNCTION fp_add(int, int) OWNER TO fp_user;
RESET ROLE;
GRANT fp_user TO fp_owner;
SET ROLE fp_owner;
ALTER FUNCTION fp_add(int, int) OWNER TO fp_user;
RESET ROLE;
SELECT proname, pg_get_userbyid(proowner), proacl::text[] FROM pg_proc WHERE proname LIKE 'fp_%' ORDER BY 1;
REVOKE fp_user FROM fp_owner;
-- Procedures do not exist; GRANT on one says so as PostgreSQL does when it is missing.
-- @dsql-error 0A000
GRANT EXECUTE ON PROCEDURE fp_nothing() TO fp_user;
-- ALL FUNCTIONS IN SCHEMA
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
SELECT proname, proacl::text[] FROM pg_proc WHERE proname LIKE 'fp_%' ORDER BY 1;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
SELECT proname, proacl::text[] FROM pg_proc WHERE proname LIKE 'fp_%' ORDER BY 1;
DROP FUNCTION fp_add(int, int);
DROP FUNCTION fp_twice(int);
REVOKE CREATE ON SCHEMA public FROM fp_owner;
DROP ROLE fp_owner;
DROP ROLE fp_user;
