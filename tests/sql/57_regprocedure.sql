-- regprocedure: input by exact argument types (user functions and built-ins), output as
-- name(type,type) qualified only off the search path, to_regprocedure, errors as PostgreSQL 15's
-- (qp/pgcatalog/names.py).
CREATE FUNCTION rp_f(a int, b text) RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION rp_f(a int) RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION rp_g(x varchar, y numeric(10,2), z int[]) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT 'rp_f(int, text)'::regprocedure, 'rp_f(integer)'::regprocedure, 'public.rp_f(int4,text)'::regprocedure;
SELECT 'rp_g(character varying, numeric(10,2), integer[])'::regprocedure;
SELECT 'rp_f(int, text)'::regprocedure::oid = (SELECT oid FROM pg_proc WHERE proname = 'rp_f' AND pronargs = 2);
SELECT 'lower(text)'::regprocedure, 'pg_catalog.substr(text, int, int)'::regprocedure, 'now()'::regprocedure;
SELECT oid::regprocedure FROM pg_proc WHERE proname LIKE 'rp_%' ORDER BY oid::regprocedure::text;
SELECT 'rp_f(text)'::regprocedure;
SELECT 'nosuch(int)'::regprocedure;
SELECT 'rp_f'::regprocedure;
SELECT 'rp_f(nosuchtype)'::regprocedure;
SELECT to_regprocedure('rp_f(int)') IS NOT NULL, to_regprocedure('rp_f(text)'), to_regprocedure('rp_f(nosuchtype)');
SELECT pg_typeof('lower(text)'::regprocedure), 'rp_g(varchar, numeric, int[])'::regprocedure::regproc;
SET search_path = pg_catalog;
SELECT 'public.rp_f(int)'::regprocedure;
RESET search_path;
SELECT ARRAY['rp_f(int)'::regprocedure, 'md5(text)'::regprocedure];
DROP FUNCTION rp_f(int, text);
DROP FUNCTION rp_f(int);
DROP FUNCTION rp_g(varchar, numeric, int[]);
