-- CREATE FUNCTION ... LANGUAGE sql: scalar and set-returning functions, inlined
-- or run in the caller's transaction; overloading, defaults, named arguments,
-- STRICT, OUT parameters, RETURNS TABLE; DROP and ALTER FUNCTION.

CREATE TABLE fn_t (id int PRIMARY KEY, name text, qty int);
INSERT INTO fn_t VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', NULL);

CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$;
CREATE FUNCTION add_pos(int, int) RETURNS int LANGUAGE sql AS 'SELECT $1 + $2';
CREATE FUNCTION twice(x int) RETURNS int RETURN x * 2;
CREATE FUNCTION qty_of(i int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT qty FROM fn_t WHERE id = i $$;
CREATE FUNCTION names_upto(n int) RETURNS SETOF text LANGUAGE sql AS $$ SELECT name FROM fn_t WHERE id <= n ORDER BY id $$;
CREATE FUNCTION rows_upto(n int) RETURNS TABLE(rid int, rname text) LANGUAGE sql AS $$ SELECT id, name FROM fn_t WHERE id <= n ORDER BY id $$;
CREATE FUNCTION greet(who text, greeting text DEFAULT 'hello') RETURNS text LANGUAGE sql AS $$ SELECT greeting || ', ' || who $$;
CREATE FUNCTION strict_inc(x int) RETURNS int LANGUAGE sql STRICT AS $$ SELECT coalesce(x, 100) + 1 $$;
CREATE FUNCTION lenient_inc(x int) RETURNS int LANGUAGE sql AS $$ SELECT coalesce(x, 100) + 1 $$;
CREATE FUNCTION first_name() RETURNS text LANGUAGE sql AS $$ SELECT name FROM fn_t ORDER BY id $$;
CREATE FUNCTION no_row() RETURNS int LANGUAGE sql AS $$ SELECT qty FROM fn_t WHERE id = -1 $$;
CREATE FUNCTION ovl(x int) RETURNS text LANGUAGE sql AS $$ SELECT 'int' $$;
CREATE FUNCTION ovl(x text) RETURNS text LANGUAGE sql AS $$ SELECT 'text' $$;
CREATE FUNCTION ovl(x numeric) RETURNS text LANGUAGE sql AS $$ SELECT 'numeric' $$;
CREATE FUNCTION two_steps(x int) RETURNS int LANGUAGE sql AS $$ SELECT 1; SELECT x + 10 $$;
CREATE FUNCTION out_pair(x int, OUT doubled int, OUT label text) LANGUAGE sql AS $$ SELECT x * 2, 'n' || x $$;
CREATE FUNCTION fact(n int) RETURNS numeric LANGUAGE sql AS $$ SELECT CASE WHEN n <= 1 THEN 1 ELSE n * fact(n - 1) END $$;
CREATE FUNCTION forever(n int) RETURNS int LANGUAGE sql AS $$ SELECT forever(n + 1) $$;
CREATE FUNCTION divide(a int, b int) RETURNS int LANGUAGE sql AS $$ SELECT a / b $$;

SELECT add_one(1), add_pos(2, 3), twice(21);
SELECT add_one(id), twice(qty) FROM fn_t ORDER BY id;
SELECT id, qty_of(id) FROM fn_t ORDER BY id;
SELECT * FROM fn_t WHERE qty_of(id) > 15;
SELECT names_upto(2);
SELECT * FROM names_upto(3);
SELECT * FROM names_upto(3) AS n(x);
SELECT * FROM rows_upto(2);
SELECT r.rname FROM rows_upto(3) r WHERE r.rid > 1 ORDER BY r.rid;
SELECT * FROM rows_upto(3) WITH ORDINALITY AS o(a, b, ord);
SELECT t.id, u.rname FROM fn_t t, LATERAL rows_upto(t.id) u ORDER BY t.id, u.rid;
SELECT t.id, u.rname FROM fn_t t CROSS JOIN rows_upto(t.id) u ORDER BY 1, 2;
CREATE FUNCTION rows_stable(n int) RETURNS TABLE(rid int, rname text) LANGUAGE sql STABLE AS $$ SELECT id, name FROM fn_t WHERE id <= n AND id IN (SELECT id FROM fn_t WHERE id >= n - 1) $$;
SELECT * FROM rows_stable(2) ORDER BY rid;
SELECT t.id, r.rname FROM fn_t t, rows_stable(t.id) r ORDER BY 1, 2;
SELECT t.id, (SELECT count(*) FROM rows_stable(t.id + 1)) FROM fn_t t ORDER BY 1;
SELECT * FROM rows_stable(3) AS r(a, b) WHERE a > 1 ORDER BY a;
SELECT r.* FROM fn_t t LEFT JOIN LATERAL rows_stable(t.qty / 10) r ON true ORDER BY t.id;
DROP FUNCTION rows_stable(int);
SELECT greet('bob'), greet('amy', 'hi'), greet(greeting => 'yo', who => 'kim'), greet(who := 'zed');
SELECT strict_inc(NULL), lenient_inc(NULL), strict_inc(1);
SELECT first_name(), no_row() IS NULL;
SELECT ovl(1), ovl('x'), ovl(1.5), ovl('x'::text);
SELECT two_steps(5);
SELECT out_pair(4);
SELECT * FROM out_pair(4);
SELECT fact(10);
SELECT forever(1);
SELECT divide(1, 0);
SELECT add_one('7');
SELECT add_one(1, 2);
SELECT greet(nobody => 'x');
SELECT public.add_one(41);
SELECT * FROM qty_of(2);

-- errors at CREATE: unknown relations and columns, return type mismatch, other languages
CREATE FUNCTION bad1() RETURNS int LANGUAGE sql AS $$ SELECT 1 FROM no_such_table $$;
CREATE FUNCTION bad2() RETURNS int LANGUAGE sql AS $$ SELECT no_such_col FROM fn_t $$;
CREATE FUNCTION bad3() RETURNS int LANGUAGE sql AS $$ SELECT 'x'::text $$;
CREATE FUNCTION bad4() RETURNS int LANGUAGE sql AS $$ SELECT 1, 2 $$;
-- @dsql-error 0A000
CREATE FUNCTION bad6() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
-- @dsql-error 0A000
CREATE PROCEDURE bad_proc() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS $$ SELECT x + 2 $$;
CREATE OR REPLACE FUNCTION add_one(x int) RETURNS bigint LANGUAGE sql AS $$ SELECT x + 2 $$;
CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + 2 $$;
SELECT add_one(1);

-- DML in a body writes in the caller's transaction
CREATE FUNCTION add_row(i int, n text) RETURNS int LANGUAGE sql AS $$ INSERT INTO fn_t VALUES (i, n, 0) RETURNING id $$;
CREATE FUNCTION stable_ins(i int) RETURNS int LANGUAGE sql STABLE AS $$ INSERT INTO fn_t VALUES (i, 'x', 0) RETURNING id $$;
SELECT add_row(10, 'ten');
SELECT stable_ins(12);
SELECT * FROM fn_t WHERE id = 10;
BEGIN;
SELECT add_row(11, 'eleven');
SELECT count(*) FROM fn_t;
ROLLBACK;
SELECT count(*) FROM fn_t;

-- catalogs
SELECT proname, pronargs, proretset, provolatile, proisstrict, prokind, proargnames FROM pg_proc
  WHERE proname IN ('add_pos', 'greet', 'rows_upto', 'strict_inc') ORDER BY proname;
SELECT pg_get_function_arguments('greet'::regproc), pg_get_function_result('rows_upto'::regproc),
  pg_get_function_identity_arguments('greet'::regproc);
SELECT 'add_pos'::regproc, 'add_pos'::regproc::oid = (SELECT oid FROM pg_proc WHERE proname = 'add_pos');
SELECT 'ovl'::regproc;

-- calls everywhere a value goes
CREATE FUNCTION sub_q(id int) RETURNS int LANGUAGE sql AS $$ SELECT count(*)::int FROM fn_t t WHERE t.id < sub_q.id AND id > 0 $$;
CREATE FUNCTION shadow(qty int) RETURNS int LANGUAGE sql AS $$ SELECT max(qty) FROM fn_t WHERE qty < shadow.qty $$;
CREATE FUNCTION nested(x int) RETURNS int LANGUAGE sql AS $$ SELECT add_pos(add_one(x), sub_q(x)) $$;
CREATE FUNCTION nothing() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION empty_set() RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 WHERE false $$;
CREATE FUNCTION in_sub(x int) RETURNS bool LANGUAGE sql AS $$ SELECT x IN (SELECT id FROM fn_t WHERE qty IS NOT NULL) $$;
SELECT sub_q(3), shadow(15), nested(2), nothing(), in_sub(1), in_sub(3);
SELECT id, empty_set() FROM fn_t;
SELECT sum(qty_of(id)), max(add_one(id)) FROM fn_t;
SELECT add_one(qty) % 2 AS k, count(*) FROM fn_t GROUP BY add_one(qty) % 2 ORDER BY 1;
SELECT id FROM fn_t ORDER BY twice(id) DESC;
INSERT INTO fn_t VALUES (add_one(20), greet('x'), qty_of(1));
UPDATE fn_t SET qty = add_one(qty) WHERE id = qty_of(1) + 11 RETURNING id, qty;
DELETE FROM fn_t WHERE id = add_pos(10, 11) RETURNING name;
SELECT (SELECT add_one(max(id)) FROM fn_t), EXISTS (SELECT 1 FROM names_upto(1));
CREATE TABLE fn_c (a int CHECK (add_one(a) > 1));
INSERT INTO fn_c VALUES (1);
INSERT INTO fn_c VALUES (0);
DROP TABLE fn_c;
CREATE FUNCTION var_sum(VARIADIC xs int[]) RETURNS int LANGUAGE sql AS $$ SELECT sum(x)::int FROM unnest(xs) x $$;
CREATE FUNCTION var_cat(sep text, VARIADIC parts text[]) RETURNS text LANGUAGE sql AS $$ SELECT array_to_string(parts, sep) $$;
SELECT var_sum(1), var_sum(1, 2, 3), var_cat('-', 'a', 'b', 'c'), var_cat(',', 'x');
SELECT var_sum();
SELECT var_sum(1, 'x');
SELECT pg_get_function_arguments('var_cat'::regproc), provariadic::regtype FROM pg_proc WHERE proname = 'var_cat';
CREATE FUNCTION bad_var(VARIADIC xs int) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
-- @dsql-error 0A000
CREATE FUNCTION poly(x anyelement) RETURNS anyelement LANGUAGE sql AS $$ SELECT x $$;
-- @dsql-error 0A000
CREATE FUNCTION row_of(i int) RETURNS fn_t LANGUAGE sql AS $$ SELECT * FROM fn_t WHERE id = i $$;
CREATE DOMAIN fn_pos AS int CHECK (VALUE > 0);
-- @dsql-error 0A000
CREATE FUNCTION dom_arg(x fn_pos) RETURNS int LANGUAGE sql AS $$ SELECT x $$;
DROP FUNCTION IF EXISTS dom_arg(fn_pos);
DROP DOMAIN fn_pos;
-- @dsql-error 0A000
CREATE FUNCTION makes_table() RETURNS void LANGUAGE sql AS $$ CREATE TABLE fn_never (a int) $$;
DROP FUNCTION var_sum(int[]), var_cat(text, VARIADIC text[]);
DROP FUNCTION IF EXISTS poly(anyelement), row_of(int), makes_table();
ALTER FUNCTION nothing() SET SCHEMA public;
ALTER FUNCTION nothing() OWNER TO no_such_role;
ALTER FUNCTION no_such() STABLE;
DROP FUNCTION sub_q(int), shadow(int), nested(int), nothing(), empty_set(), in_sub(int);

-- comments, definitions, dependencies
COMMENT ON FUNCTION add_pos(int, int) IS 'adds two';
SELECT obj_description('add_pos'::regproc, 'pg_proc');
COMMENT ON FUNCTION add_pos(int, text) IS 'nope';
SELECT pg_get_functiondef('greet'::regproc);
SELECT pg_get_functiondef('strict_inc'::regproc);
CREATE VIEW fn_v AS SELECT id, add_one(id) AS next, qty_of(id) AS q FROM fn_t;
SELECT * FROM fn_v ORDER BY id;
DROP FUNCTION qty_of(int);
CREATE TABLE fn_d (id int PRIMARY KEY, v int DEFAULT add_one(41), w int DEFAULT qty_of(2) + 1);
INSERT INTO fn_d (id) VALUES (1);
SELECT * FROM fn_d;
DROP FUNCTION add_one(int);
DROP TABLE fn_d;
DROP FUNCTION qty_of(int) CASCADE;
SELECT count(*) FROM pg_views WHERE viewname = 'fn_v';

-- ALTER and DROP
ALTER FUNCTION twice(int) RENAME TO double_it;
SELECT double_it(4);
SELECT twice(4);
ALTER FUNCTION double_it(int) STABLE STRICT;
SELECT provolatile, proisstrict FROM pg_proc WHERE proname = 'double_it';
ALTER ROUTINE double_it(int) IMMUTABLE;
DROP FUNCTION ovl;
DROP FUNCTION ovl(bigint);
DROP FUNCTION IF EXISTS ovl(bigint);
DROP FUNCTION ovl(int), ovl(text);
DROP FUNCTION ovl;
DROP ROUTINE double_it(int);
DROP FUNCTION add_one(int), add_pos(int, int), names_upto(int), rows_upto(int), greet(text, text),
  strict_inc(int), lenient_inc(int), first_name(), no_row(), two_steps(int), out_pair(int), fact(int),
  forever(int), divide(int, int), add_row(int, text), stable_ins(int);
SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace;
DROP TABLE fn_t;
