-- information_schema.routines, routine_privileges and usage_privileges (qp/pgcatalog/routine_views.py):
-- what each lists of the user's functions, domains and sequences, their grants, and what
-- another role may see of them. Runs as the bootstrap superuser, switching with SET ROLE.
CREATE ROLE rv_owner;
CREATE ROLE rv_user;
GRANT CREATE ON SCHEMA public TO rv_owner;
SET ROLE rv_owner;
CREATE FUNCTION rv_add1(x int) RETURNS int LANGUAGE sql IMMUTABLE STRICT AS 'SELECT x + 1';
CREATE FUNCTION rv_nums(n int) RETURNS SETOF int LANGUAGE sql AS 'SELECT generate_series(1, n)';
CREATE FUNCTION rv_arr() RETURNS int[] LANGUAGE sql STABLE AS 'SELECT ARRAY[1]';
CREATE FUNCTION rv_text(t text, n int DEFAULT 1) RETURNS text LANGUAGE sql SECURITY DEFINER
    RETURN repeat(t, n);
CREATE DOMAIN rv_posint AS int CHECK (VALUE > 0);
CREATE SEQUENCE rv_seq CACHE 1;
GRANT EXECUTE ON FUNCTION rv_add1(int) TO rv_user WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION rv_nums(int) FROM PUBLIC;
GRANT USAGE ON SEQUENCE rv_seq TO rv_user;
GRANT USAGE ON DOMAIN rv_posint TO rv_user;
RESET ROLE;
SELECT routine_catalog, routine_schema, routine_name, routine_type, data_type, type_udt_catalog,
       type_udt_schema, type_udt_name, dtd_identifier, routine_body, routine_definition, external_name,
       external_language, parameter_style, is_deterministic, sql_data_access, is_null_call, sql_path,
       schema_level_routine, max_dynamic_result_sets, security_type, as_locator, is_udt_dependent,
       specific_catalog, specific_schema, specific_name = routine_name || '_' || p.oid
FROM information_schema.routines r JOIN pg_proc p ON p.proname = r.routine_name
WHERE routine_schema = 'public' AND routine_name LIKE 'rv_%' ORDER BY routine_name;
SELECT count(*) FROM information_schema.routines WHERE routine_name LIKE 'rv_%' AND module_name IS NULL
    AND udt_name IS NULL AND character_maximum_length IS NULL AND created IS NULL
    AND result_cast_from_data_type IS NULL AND result_cast_dtd_identifier IS NULL;
SELECT grantor, grantee, routine_schema, routine_name, privilege_type, is_grantable
FROM information_schema.routine_privileges WHERE routine_name LIKE 'rv_%' ORDER BY routine_name, grantee;
SELECT grantor, grantee, object_catalog, object_schema, object_name, object_type, privilege_type, is_grantable
FROM information_schema.usage_privileges WHERE object_name LIKE 'rv_%' ORDER BY object_name, grantee;
SELECT object_schema, object_name, grantee, is_grantable FROM information_schema.usage_privileges
WHERE object_type = 'COLLATION' AND object_name IN ('C', 'POSIX', 'default') ORDER BY object_name;
SELECT routine_name, data_type, type_udt_name, external_language FROM information_schema.routines
WHERE routine_schema = 'pg_catalog' AND routine_name IN ('now', 'char_length', 'md5') ORDER BY 1, 2, 3;
-- Another role sees what it may execute or owns, and the grants it is party to (or PUBLIC's).
SET ROLE rv_user;
SELECT routine_name, routine_definition FROM information_schema.routines
WHERE routine_schema = 'public' AND routine_name LIKE 'rv_%' ORDER BY routine_name;
SELECT grantor, grantee, routine_name, is_grantable FROM information_schema.routine_privileges
WHERE routine_name LIKE 'rv_%' ORDER BY routine_name, grantee;
SELECT grantor, grantee, object_name, object_type FROM information_schema.usage_privileges
WHERE object_name LIKE 'rv_%' ORDER BY object_name, grantee;
RESET ROLE;
SET ROLE rv_owner;
DROP FUNCTION rv_add1(int);
DROP FUNCTION rv_nums(int);
DROP FUNCTION rv_arr();
DROP FUNCTION rv_text(text, int);
DROP DOMAIN rv_posint;
DROP SEQUENCE rv_seq;
RESET ROLE;
SELECT count(*) FROM information_schema.routines WHERE routine_name LIKE 'rv_%';
REVOKE CREATE ON SCHEMA public FROM rv_owner;
DROP ROLE rv_owner;
DROP ROLE rv_user;
