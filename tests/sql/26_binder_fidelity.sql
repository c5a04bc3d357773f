-- Binder and planner fidelity: statements where dsql gave another answer than
-- PostgreSQL, an internal error (XX000), or accepted what PostgreSQL refuses.
-- Exact SQLSTATEs and messages of the errors are checked in
-- tests/test_binder_fidelity.py (the runner compares most codes by class only).

CREATE TABLE bf_t (x int, y int, a int, b int);
INSERT INTO bf_t VALUES (1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12);
CREATE TABLE bf_u (k int, s text);
INSERT INTO bf_u (k, s) VALUES (1, 'b'), (1, 'a'), (2, 'B'), (3, NULL);

-- 1. An aggregate over outer columns only belongs to the outer query
-- (PostgreSQL's agglevelsup): one row, the outer query's aggregate.
SELECT (SELECT max(o.x)) FROM bf_t o;
SELECT (SELECT max(o.x) + i.y FROM bf_t i WHERE i.x = 1) FROM bf_t o;
SELECT (SELECT max(o.x) FROM bf_t i) FROM bf_t o;
SELECT o.y, (SELECT max(o.x)) FROM bf_t o GROUP BY o.y ORDER BY o.y;
SELECT 1 AS one FROM bf_t o HAVING (SELECT max(o.x)) > 2;
SELECT (SELECT count(*) FROM bf_t i WHERE i.x > max(o.x) - 9) FROM bf_t o;
SELECT (SELECT sum(o.x + i.x) FROM bf_t i) FROM bf_t o ORDER BY 1;
SELECT (SELECT count(*)) FROM bf_t o;
SELECT (SELECT s.m FROM (SELECT max(o.a) AS m) s) FROM bf_t o;
SELECT (SELECT 1 FROM bf_t i LIMIT max(o.x)) FROM bf_t o;
SELECT (SELECT i.x FROM bf_t i ORDER BY max(o.x) - i.x LIMIT 1) FROM bf_t o;
SELECT (VALUES (max(o.b))) FROM bf_t o;
SELECT (SELECT max(o.x) FILTER (WHERE o.y > 2)) FROM bf_t o;
SELECT * FROM bf_t o WHERE (SELECT max(o.x)) > 1;
SELECT * FROM bf_t o JOIN bf_t i ON (SELECT max(o.a)) > 0;
SELECT * FROM bf_t o GROUP BY (SELECT max(o.a));
SELECT * FROM bf_t o, LATERAL (SELECT max(o.a)) s;
SELECT * FROM bf_t o, generate_series(1, (SELECT max(o.a))) g;
SELECT max((SELECT max(o.a))) FROM bf_t o;
SELECT (SELECT max(max(o.a)) FROM bf_t i) FROM bf_t o;
SELECT (SELECT max(o.a + max(i.b)) FROM bf_t i) FROM bf_t o;
SELECT max(max(a)) FROM bf_t;
SELECT count(*) FILTER (WHERE max(x) > 1) FROM bf_t;
UPDATE bf_t SET a = (SELECT max(bf_t.b));
DELETE FROM bf_t WHERE (SELECT max(bf_t.b)) > 1;
DELETE FROM bf_t RETURNING (SELECT max(bf_t.a));
SELECT count() FROM bf_t;
SELECT count() OVER () FROM bf_t;
SELECT x, (WITH c AS (SELECT 1 AS z) SELECT count((SELECT o.x FROM c))) FROM bf_t o;

-- 2. A WITH query referenced more than once (or MATERIALIZED, or volatile) is
-- evaluated once: every reference sees the same rows.
WITH r AS (SELECT random() AS v) SELECT a.v = b.v FROM r a, r b;
WITH r AS MATERIALIZED (SELECT random() AS v) SELECT a.v = b.v FROM r a, r b;
WITH r AS NOT MATERIALIZED (SELECT random() AS v) SELECT a.v = b.v FROM r a, r b;
WITH r AS (SELECT random() AS v) SELECT (SELECT v FROM r) = (SELECT v FROM r);
WITH r AS (SELECT g, random() AS v FROM generate_series(1, 5) g) SELECT count(*) FROM r a JOIN r b ON a.v = b.v;
WITH r AS (SELECT g, random() AS v FROM generate_series(1, 5) g) SELECT count(*) FROM r WHERE v IN (SELECT v FROM r);
WITH r AS (SELECT random() AS v) SELECT count(DISTINCT (SELECT v FROM r WHERE g = g)) FROM generate_series(1, 5) g;
WITH r AS (SELECT random() AS v) SELECT a.same FROM (SELECT v FROM r) s, LATERAL (SELECT v = s.v AS same FROM r) a;
SELECT count(DISTINCT v) FROM (SELECT (WITH r AS (SELECT random() AS v) SELECT v FROM r WHERE t.x = t.x) AS v
                               FROM bf_t t) s;
SELECT count(DISTINCT v) FROM (SELECT (WITH r AS (SELECT random() + t.x * 0 AS v) SELECT a.v FROM r a, r b
                                       WHERE a.v = b.v) AS v FROM bf_t t) s;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT count(*), sum(a.i * b.i) FROM n a, n b;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n WHERE i IN (SELECT i + 1 FROM n) ORDER BY i;
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM a, b, a a2;
WITH x AS (SELECT 1 / 0) SELECT 1 AS one;
WITH x AS MATERIALIZED (SELECT 1 / 0 AS z) SELECT 1 FROM bf_t WHERE false AND EXISTS (SELECT z FROM x);
CREATE SEQUENCE bf_seq CACHE 1;
WITH s AS (SELECT nextval('bf_seq') AS n) SELECT a.n = b.n FROM s a, s b;
DROP SEQUENCE bf_seq;
-- A WITH query inside a recursive term is computed again for each iteration.
WITH RECURSIVE
  tab(id_key, link) AS (VALUES (1, 17), (2, 17), (3, 17), (4, 17), (6, 17), (5, 17)),
  iter (id_key, row_type, link) AS (
      SELECT 0, 'base', 17
    UNION ALL (
      WITH remaining(id_key, row_type, link, min) AS (
        SELECT tab.id_key, 'true'::text, iter.link, MIN(tab.id_key) OVER ()
        FROM tab INNER JOIN iter USING (link)
        WHERE tab.id_key > iter.id_key
      ),
      first_remaining AS (SELECT id_key, row_type, link FROM remaining WHERE id_key = min),
      effect AS (
        SELECT tab.id_key, 'new'::text, tab.link
        FROM first_remaining e INNER JOIN tab ON e.id_key = tab.id_key
        WHERE e.row_type = 'false'
      )
      SELECT * FROM first_remaining
      UNION ALL SELECT * FROM effect
    )
  )
SELECT * FROM iter ORDER BY id_key;

-- 3. Internal errors, now answered. Outer columns in LATERAL VALUES, LIMIT, and
-- WITH queries inside correlated subqueries:
SELECT * FROM bf_t, LATERAL (VALUES (bf_t.a, bf_t.b)) v(p, q) ORDER BY x;
SELECT * FROM bf_t o, LATERAL (VALUES (o.x), (o.y)) v(p) ORDER BY x, p;
SELECT * FROM bf_t o, LATERAL (VALUES ((SELECT o.x)), (o.y)) v(p) ORDER BY x, p;
SELECT * FROM (VALUES ((SELECT 1)), (2)) v(a);
SELECT (SELECT 1 FROM bf_t i LIMIT o.x - 1) FROM bf_t o ORDER BY 1;
SELECT (SELECT i.x FROM bf_t i ORDER BY i.x LIMIT 1 OFFSET o.x / 4) FROM bf_t o ORDER BY 1;
SELECT (WITH c AS (SELECT o.x + 1 AS z) SELECT z FROM c) FROM bf_t o ORDER BY 1;
SELECT (WITH c AS (SELECT o.x + 1 AS z) SELECT (SELECT z FROM c)) FROM bf_t o ORDER BY 1;
SELECT (WITH c AS (SELECT o.x + i.y AS z FROM bf_t i) SELECT sum(z) FROM c) FROM bf_t o ORDER BY 1;
SELECT (WITH c AS (SELECT o.x AS z) SELECT count(*) FROM c a, c b) FROM bf_t o;
SELECT * FROM bf_t o, LATERAL (WITH c AS (SELECT o.x * 10 AS z) SELECT z FROM c) s ORDER BY x;
SELECT (SELECT count(*) FROM (WITH c AS (SELECT o.x AS z) SELECT * FROM c) s) FROM bf_t o;
SELECT exists (WITH c AS (SELECT o.y WHERE o.x > 1) SELECT * FROM c) FROM bf_t o ORDER BY 1;
SELECT (WITH c AS (SELECT o.x AS z) SELECT (SELECT (SELECT z FROM c))) FROM bf_t o ORDER BY 1;
SELECT (WITH cte(foo) AS (VALUES (x)) VALUES ((SELECT foo FROM cte))) FROM bf_t ORDER BY 1;
SELECT * FROM bf_t WHERE (CASE WHEN x IN (SELECT a FROM bf_t) THEN x END) IN (SELECT y - 1 FROM bf_t);
-- COLLATE: the collations of a C-locale, UTF-8 database, all sorting as C.
SELECT s FROM bf_u ORDER BY s COLLATE "C";
SELECT s FROM bf_u ORDER BY s COLLATE "POSIX" DESC;
SELECT s COLLATE "default" AS s FROM bf_u WHERE s COLLATE ucs_basic > 'B' ORDER BY 1;
SELECT 'a' COLLATE "C" < 'B', 'a' COLLATE pg_catalog."POSIX" > 'B', 'é' COLLATE "C.utf8" > 'z';
SELECT lower(s COLLATE "C") AS l, count(*) FROM bf_u GROUP BY 1 ORDER BY 1;
SELECT 'a' COLLATE "nosuch";
SELECT 'a' COLLATE c;
SELECT 'a' COLLATE public."C";
SELECT 1 COLLATE "C";
SELECT x FROM bf_t ORDER BY x COLLATE "C";
SELECT '{"a": 1}'::jsonb COLLATE "C";
SELECT 'a' COLLATE "C" = 'b' COLLATE "POSIX";
SELECT 'a' COLLATE "default" || 'b' COLLATE "C";
SELECT coalesce('a' COLLATE "C", 'b' COLLATE "POSIX");
SELECT CASE WHEN true THEN 'a' COLLATE "C" ELSE 'b' COLLATE "POSIX" END;
SELECT CASE 'a' COLLATE "C" WHEN 'b' COLLATE "POSIX" THEN 1 END AS c;
SELECT length('a' COLLATE "C") + length('b' COLLATE "POSIX") AS n;
SELECT lower('a' COLLATE "C") = 'b' COLLATE "POSIX";
SELECT 'a' COLLATE "C" UNION SELECT 'b' COLLATE "POSIX";
SELECT * FROM (VALUES ('a' COLLATE "C"), ('b' COLLATE "POSIX")) v(c);
SELECT ('a' COLLATE "C") COLLATE "POSIX" = 'b' AS f;
CREATE TABLE bf_coll (a text COLLATE "C", b varchar(3) COLLATE "default", c text COLLATE pg_catalog."C");
CREATE TABLE bf_coll_bad (a int COLLATE "C");
CREATE TABLE bf_coll_bad (a text COLLATE "nope");
ALTER TABLE bf_coll ADD COLUMN d int COLLATE "C";
CREATE INDEX ON bf_coll (a COLLATE "POSIX");
CREATE INDEX bf_coll_bad_idx ON bf_t (x COLLATE "C");
-- dsql keeps no collation per column: other column collations are refused.
-- @dsql-error 0A000
CREATE TABLE bf_coll_posix (a text COLLATE "POSIX");
-- ICU collations exist in the reference server but dsql cannot sort by them.
-- @dsql-error 0A000
SELECT 'a' COLLATE "en-US-x-icu" < 'B';
DROP TABLE bf_coll;
-- Arrays as DISTINCT, GROUP BY, UNION, IN and join keys.
SELECT array_agg(DISTINCT arr ORDER BY arr) FROM (VALUES (array[1, 2]), (array[1, 2]), (array[3, 4])) s(arr);
SELECT count(DISTINCT arr) FROM (VALUES (array[1, 2]), (array[1, 2]), (array[3, 4]), (NULL)) s(arr);
SELECT array_agg(DISTINCT x) FROM (VALUES ('{1,2}'::int[]), ('{1,2}'), (NULL)) v(x);
SELECT string_agg(DISTINCT arr::text, ';' ORDER BY arr::text) FROM (VALUES (array['a']), (array['a']), (array['b'])) s(arr);
SELECT count(DISTINCT x) FROM (VALUES (1.0), (1.00), ('NaN'::numeric), ('NaN')) v(x);
SELECT count(DISTINCT x) FROM (VALUES ('0'::float8), ('-0'), ('NaN'), ('NaN')) v(x);
SELECT DISTINCT arr FROM (VALUES (array[1, 2]), (array[1, 2]), (array[3, 4])) s(arr) ORDER BY 1;
SELECT arr, count(*) FROM (VALUES (array[1, 2]), (array[1, 2]), (array[3, 4])) s(arr) GROUP BY arr ORDER BY 1;
SELECT array[1, 2] AS a UNION SELECT array[1, 2];
SELECT array[1, 2] IN (array[1, 2], array[3]) AS found;
SELECT * FROM (VALUES (array[1, 2])) a(p) JOIN (VALUES (array[1, 2])) b(q) ON p = q;

-- 4. Statements PostgreSQL rejects.
INSERT INTO bf_t (x, y, a) VALUES (1, 2);
INSERT INTO bf_t (x) VALUES (1, 2);
INSERT INTO bf_t (x, y, a) SELECT 1, 2;
INSERT INTO bf_t (x) SELECT 1, 2;
INSERT INTO bf_t (x, y) VALUES (1), (2, 3);
INSERT INTO bf_t (x, y) VALUES (1, 2), (3);
INSERT INTO bf_t VALUES (1, 2, 3, 4, 5);
INSERT INTO bf_t VALUES (100);
INSERT INTO bf_t (x, y) VALUES ((SELECT 101), 1), ((SELECT 102), (SELECT max(b) FROM bf_t));
SELECT * FROM bf_t WHERE x > 99 ORDER BY x;
DELETE FROM bf_t WHERE x > 99;
SELECT * FROM bf_t AS z(p, q, r, s, extra);
SELECT * FROM (SELECT 1, 2) AS z(a, b, c);
SELECT * FROM generate_series(1, 2) AS z(a, b);
SELECT * FROM generate_series(1, 2) WITH ORDINALITY AS z(a, b, c);
SELECT * FROM (VALUES (1, 2)) AS z(a, b, c);
WITH w AS (SELECT 1 AS a) SELECT * FROM w AS z(b, c);
SELECT * FROM pg_am AS p(a, b, c, d, e);
SELECT * FROM (bf_t t1 JOIN bf_t t2 USING (x)) AS j(p, q, r, s, t, u, v, w);
SELECT * FROM bf_t t1 JOIN bf_t t2 USING (x) AS t1;
SELECT * FROM bf_t z, bf_t z;
SELECT * FROM bf_t, bf_t;
SELECT * FROM bf_t j, (bf_t a JOIN bf_t b ON true) AS j;
SELECT * FROM (SELECT 1) s, (SELECT 2) s;
SELECT string_agg(DISTINCT x::text, ',' ORDER BY y) FROM bf_t;
SELECT array_agg(DISTINCT x ORDER BY x + 1) FROM bf_t;
SELECT string_agg(DISTINCT x::text, ',' ORDER BY x::text DESC), array_agg(DISTINCT x ORDER BY x) FROM bf_t;
SELECT string_agg(DISTINCT s, ',' ORDER BY s) FROM bf_u;
CREATE TABLE bf_sys (xmin int);
CREATE TABLE bf_sys (a int, ctid text);
CREATE TABLE bf_sys (a int, a int, xmax int);
CREATE TABLE bf_sys (a int, b int);
ALTER TABLE bf_sys ADD COLUMN tableoid int;
ALTER TABLE bf_sys ADD COLUMN IF NOT EXISTS cmin int;
ALTER TABLE bf_sys RENAME COLUMN a TO cmax;
ALTER TABLE bf_sys RENAME COLUMN xmin TO c;
ALTER TABLE bf_sys DROP COLUMN xmin;
ALTER TABLE bf_sys RENAME COLUMN a TO xmin_not;
SELECT * FROM bf_sys;
DROP TABLE bf_sys;
SELECT DISTINCT ON (x) x, y FROM bf_t ORDER BY y;
SELECT DISTINCT ON (x, y) x, y FROM bf_t ORDER BY y, a, x;
SELECT DISTINCT ON (x) x, y FROM bf_t ORDER BY x, b DESC;
SELECT DISTINCT x FROM bf_t ORDER BY y;
SELECT * FROM (SELECT 1);
SELECT * FROM (VALUES (1));
SELECT * FROM bf_t, LATERAL (SELECT x);

-- 5. From PostgreSQL's regression tests (join, with, subselect, aggregates,
-- select_distinct_on, select_having, window).
SELECT * FROM bf_t a JOIN bf_t b USING (x) JOIN bf_t c USING (x) ORDER BY x;
SELECT * FROM bf_t a NATURAL JOIN bf_t b NATURAL JOIN bf_t c ORDER BY x;
SELECT * FROM bf_t a FULL JOIN bf_t b USING (x) JOIN bf_t c USING (x) ORDER BY x;
SELECT x FROM bf_t a JOIN bf_t b USING (x), bf_t c;
SELECT j.x, a.y FROM bf_t a JOIN bf_t b USING (x) AS j ORDER BY 1;
SELECT j.* FROM bf_t a JOIN bf_t b USING (x) AS j ORDER BY 1;
SELECT j.y FROM bf_t a JOIN bf_t b USING (x) AS j;
SELECT j.x FROM bf_t a FULL JOIN bf_t b USING (x) AS j ORDER BY 1;
SELECT p, r FROM (bf_t a JOIN bf_t b USING (x)) AS j(p, q, r) ORDER BY 1;
SELECT * FROM bf_t x JOIN (bf_u x CROSS JOIN bf_u y) j ON x.x = k;
SELECT * FROM bf_t x JOIN (bf_u x CROSS JOIN bf_u y(kk)) j ON x.x = k ORDER BY 1, 5, 6, 7, 8;
SELECT * FROM bf_t x JOIN (bf_u x CROSS JOIN bf_u y) j ON x.x = y.k;
SELECT * FROM bf_t a JOIN bf_t b USING (x) AS j FOR UPDATE OF j;
SELECT * FROM bf_t a, LATERAL (SELECT a.* FROM bf_u LIMIT 1) s ORDER BY 1;
SELECT a FROM (SELECT 1 AS a, 2 AS a) s;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n IN (SELECT * FROM x)) SELECT * FROM x;
WITH RECURSIVE x(id) AS (VALUES (1) UNION ALL SELECT (SELECT * FROM x) FROM x WHERE id < 5) SELECT * FROM x;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM bf_t LEFT JOIN x ON true WHERE n < 3) SELECT * FROM x;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x f1, x f2 WHERE f1.n < 5) SELECT * FROM x;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL (SELECT n + 1 FROM x EXCEPT SELECT 3)) SELECT * FROM x;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x ORDER BY 1) SELECT * FROM x;
WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x LIMIT 3) SELECT * FROM x;
WITH RECURSIVE x (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM y WHERE id < 5),
               y (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM x WHERE id < 5) SELECT * FROM x;
WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1 AS v) SELECT * FROM a;
WITH RECURSIVE f(i) AS (SELECT 1 UNION ALL SELECT (i + 1)::numeric(10, 0) FROM f WHERE i < 10) SELECT * FROM f;
WITH RECURSIVE f(i) AS (SELECT 1::numeric(3, 0) UNION ALL SELECT (i + 1)::numeric(10, 0) FROM f WHERE i < 10) SELECT * FROM f;
WITH RECURSIVE f(i) AS (SELECT 1::bigint UNION ALL SELECT i + 1 FROM f WHERE i < 3) SELECT * FROM f ORDER BY i;
WITH RECURSIVE w1(c1) AS (WITH w2(c2) AS (WITH RECURSIVE w6(c6) AS (WITH w6(c6) AS (SELECT 1) SELECT * FROM w6)
                          SELECT * FROM w6) SELECT * FROM w2) SELECT * FROM w1;
WITH RECURSIVE t(j) AS (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3)
                        SELECT i FROM s UNION ALL SELECT j + 1 FROM t WHERE j < 5) SELECT count(*), sum(j) FROM t;
WITH x AS (SELECT 1), x AS (SELECT 2) SELECT 1;
WITH bf_t AS (SELECT 42) INSERT INTO bf_t (x) SELECT 200 FROM bf_t;
SELECT x FROM bf_t WHERE x = 200;
DELETE FROM bf_t WHERE x = 200;
-- Unread subquery outputs are never computed (PostgreSQL's remove_unused_subquery_outputs).
-- @needs-rule prune_outputs
SELECT q1 FROM (SELECT x AS q1, (SELECT y FROM bf_t) AS many FROM bf_t) ss ORDER BY 1;
-- @needs-rule prune_outputs
SELECT q1 FROM (SELECT x AS q1, 1 / (x - 1) AS z FROM bf_t) ss ORDER BY 1;
SELECT z FROM (SELECT x AS q1, 1 / (x - 1) AS z FROM bf_t) ss;
SELECT sum(1 / (x - 1)) FILTER (WHERE x > 1) FROM bf_t;
SELECT array_agg(1 / (x - 1) ORDER BY 1 / (x - 1)) FILTER (WHERE x > 1) FROM bf_t;
SELECT 1 AS one FROM bf_t WHERE 1 / (x - 1) = 1 HAVING 1 < 2;
-- WHERE conditions on a FROM subquery filter its rows before its select list is computed.
-- @needs-rule pushdown
SELECT * FROM (SELECT x, 1 / (x - 1) AS r FROM bf_t) s WHERE x <> 1 ORDER BY x;
-- @needs-rule pushdown
SELECT * FROM bf_t a JOIN LATERAL (SELECT a.x + b.x AS w, 1 / (b.x - 1) AS z FROM bf_t b) s ON true
WHERE s.w > 12 ORDER BY 1, 5;
-- RETURNING * is every FROM entry; s.* is s's.
CREATE TABLE bf_r (id int PRIMARY KEY, v int);
CREATE TABLE bf_r2 (id int, w int);
INSERT INTO bf_r VALUES (1, 10), (2, 20);
INSERT INTO bf_r2 VALUES (1, 100), (2, 200);
UPDATE bf_r SET v = bf_r2.w FROM bf_r2 WHERE bf_r.id = bf_r2.id RETURNING *;
UPDATE bf_r SET v = s.w + 1 FROM bf_r2 s WHERE bf_r.id = s.id RETURNING s.*, bf_r.v;
DELETE FROM bf_r USING bf_r2 s WHERE bf_r.id = s.id AND s.id = 1 RETURNING s.*;
DROP TABLE bf_r2;
DROP TABLE bf_r;
SELECT ARRAY[]::integer[] AS e, array_length(ARRAY[]::text[], 1) AS n;
SELECT (SELECT 1 AS a)::text, (VALUES (1)), (SELECT v FROM (VALUES (2)) w(v));
SELECT rank() OVER (ORDER BY 1), count(*) FROM bf_t GROUP BY 1;
-- Whole-row references and WITHIN GROUP aggregates (tests/sql/32_*, 33_*).
SELECT s FROM (SELECT * FROM bf_t) s;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM bf_t;

DROP TABLE bf_u;
DROP TABLE bf_t;
