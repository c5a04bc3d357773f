-- Row constructors and whole-row references: ROW(...) and (a, b) values,
-- their text form, row comparisons (=, <>, <, <=, >, >=, IS [NOT] DISTINCT
-- FROM), IN lists and subqueries of rows, `SELECT t FROM t`, row_to_json(t),
-- to_jsonb(t), whole rows in GROUP BY, ORDER BY and DISTINCT.

CREATE TABLE rw (id int PRIMARY KEY, a int, b text, c numeric, d boolean);
INSERT INTO rw VALUES (1, 1, 'x', 1.5, true), (2, 1, 'y', NULL, false), (3, 2, NULL, 2, NULL), (4, 3, 'a b', -1, true),
    (5, NULL, 'q"uote', 0, false), (6, 2, '', 3, true);
CREATE TABLE rw2 (x int, y text);
INSERT INTO rw2 VALUES (1, 'x'), (2, NULL), (3, 'a b');

-- constructors and their output
SELECT ROW(1, 'a', NULL, 2.5);
SELECT (1, 'a');
SELECT ROW();
SELECT ROW(1, ROW(2, 'b'), ARRAY[1, 2]);
SELECT ROW('', ' ', 'a,b', 'q"', 'back\slash', '(paren)');
SELECT ROW(id, b) FROM rw ORDER BY id;
SELECT ROW(true, 1.0::float8, '2024-01-02'::date, '{"k": 1}'::jsonb);

-- whole-row references
-- (a table's whole row is typed record here, not the table's row type: cast to text to compare)
SELECT rw::text FROM rw ORDER BY id;
SELECT r::text FROM rw AS r ORDER BY r.id;
SELECT rw2::text FROM rw2 ORDER BY x;
SELECT t FROM (SELECT id, b FROM rw WHERE id < 3) AS t ORDER BY t;
SELECT rw2.*, rw2::text FROM rw2 ORDER BY x;
SELECT row_to_json(rw) FROM rw ORDER BY id;
SELECT row_to_json(t) FROM (SELECT id AS "ID", b AS "name" FROM rw WHERE id <= 2) AS t ORDER BY t."ID";
SELECT row_to_json(ROW(1, 'a')), row_to_json(rw2, true) FROM rw2 ORDER BY x;
SELECT to_jsonb(rw2), to_json(rw2) FROM rw2 ORDER BY x;
SELECT json_agg(rw2) FROM rw2;
SELECT count(rw) FROM rw;
SELECT rw2 IS NULL, rw2 IS NOT NULL FROM rw2 ORDER BY x;
SELECT ROW(NULL, NULL) IS NULL, ROW(1, NULL) IS NULL, ROW(1, NULL) IS NOT NULL, ROW(1, 2) IS NOT NULL;

-- comparisons
SELECT (1, 2) = (1, 2), (1, 2) = (1, 3), (1, 2) <> (1, 3), (1, NULL) = (1, 2), (1, NULL) = (2, 2);
SELECT (1, 2) < (1, 3), (1, 2) < (0, 9), (1, 2) <= (1, 2), (2, 'a') > (1, 'z'), (1, 2) >= (1, 3);
SELECT (1, NULL) < (2, 0), (1, NULL) < (1, 0), ROW(1, 2, 3) < ROW(1, 2, 4);
SELECT (1, NULL) IS DISTINCT FROM (1, NULL), (1, 2) IS NOT DISTINCT FROM (1, 2), (1, NULL) IS DISTINCT FROM (1, 3);
SELECT id FROM rw WHERE (a, b) = (1, 'y');
SELECT id FROM rw WHERE (a, b) <> (1, 'y') ORDER BY id;
SELECT id FROM rw WHERE (a, id) > (1, 1) ORDER BY id;
SELECT id FROM rw WHERE (a, id) <= (2, 3) ORDER BY id;
SELECT id FROM rw WHERE (a, b) IN ((1, 'x'), (2, NULL), (3, 'a b')) ORDER BY id;
SELECT id FROM rw WHERE (a, b) NOT IN ((1, 'x'), (3, 'a b')) ORDER BY id;
SELECT id FROM rw WHERE (a, b) IN (SELECT x, y FROM rw2) ORDER BY id;
SELECT id FROM rw WHERE (a, b) NOT IN (SELECT x, y FROM rw2 WHERE y IS NOT NULL) ORDER BY id;
SELECT id FROM rw WHERE (a, b) = ANY (SELECT x, y FROM rw2) ORDER BY id;
SELECT id FROM rw WHERE (a, b) = (SELECT x, y FROM rw2 WHERE x = 1) ORDER BY id;
SELECT (1, 'x') = (SELECT x, y FROM rw2 WHERE false), (1, 'x') <> (SELECT x, y FROM rw2 WHERE x = 1);
SELECT (1, 'y') < (SELECT x, y FROM rw2 WHERE x = 1), (2, 'a') >= (SELECT x, y FROM rw2 WHERE x = 1);
SELECT (1, 'x') = (SELECT x, y FROM rw2);
SELECT (1, 2) = (SELECT 1);
SELECT (1, 2) = (SELECT 1, 2, 3);
SELECT x, (SELECT row_to_json(o) FROM rw AS i WHERE i.id = o.x) FROM rw2 AS o ORDER BY x;
SELECT rw2::text, rw::text FROM rw2 JOIN rw ON rw.id = rw2.x ORDER BY x;
-- the whole row of a null-extended side is NULL, not a row of NULLs
CREATE TABLE rw3 (k text, n int, PRIMARY KEY (n));
INSERT INTO rw3 VALUES (NULL, 1), ('b', 3);
SELECT rw.id, rw3::text, rw3 IS NULL, row_to_json(rw3) FROM rw LEFT JOIN rw3 ON rw3.n = rw.id ORDER BY rw.id;
SELECT rw3.n, rw::text FROM rw RIGHT JOIN rw3 ON rw3.n = rw.id + 10 ORDER BY rw3.n;
SELECT coalesce(rw.id, -1), rw3::text FROM rw FULL JOIN rw3 ON rw3.n = rw.id AND rw.id > 1 ORDER BY 1, 2;
DROP TABLE rw3;
-- a table without a primary key cannot tell a row of NULLs from a missing row
-- @dsql-error 0A000
SELECT rw2::text FROM rw LEFT JOIN rw2 ON rw2.x = rw.id;
SELECT id FROM rw WHERE EXISTS (SELECT 1 FROM rw2 WHERE (rw2.x, rw2.y) = (rw.a, rw.b)) ORDER BY id;
SELECT id, (a, c) = (1, 1.5) FROM rw ORDER BY id;

SELECT a.x, b.x, a < b, a = b, a >= b, a <> b FROM rw2 AS a, rw2 AS b ORDER BY 1, 2;
SELECT rw2::text FROM rw2 WHERE rw2 = ROW(1, 'x'::text);
SELECT rw2 = ROW(1) FROM rw2;
SELECT t = t, t < t FROM (SELECT 1 AS x, 'a' AS y) AS t;

-- whole rows in grouping, ordering and DISTINCT
SELECT DISTINCT (a, d) FROM rw ORDER BY 1;
SELECT ROW(a, d), count(*) FROM rw GROUP BY ROW(a, d) ORDER BY 1;
SELECT rw2::text FROM rw2 ORDER BY rw2 DESC;
SELECT (a, b) FROM rw ORDER BY (a, b) NULLS FIRST;
SELECT rw2.*::text, row_to_json(rw2.*) FROM rw2 ORDER BY x;
SELECT ROW(1, 2) UNION SELECT ROW(1, 3) ORDER BY 1;
SELECT ARRAY(SELECT ROW(x, y) FROM rw2 ORDER BY x);
SELECT count(*) FILTER (WHERE rw2 IS NOT NULL), count(*) FILTER (WHERE rw2 IS NULL) FROM rw2;
SELECT x FROM rw2 WHERE ROW(x, y) = ANY (ARRAY[ROW(1, 'x'::text), ROW(3, 'a b'::text)]) ORDER BY x;

-- field selection
SELECT (rw2).x, (rw2).y FROM rw2 ORDER BY 1;
SELECT (r).b FROM rw AS r ORDER BY r.id;

-- errors
SELECT (1, 2) = (1, 2, 3);
SELECT (1, 2) < (1, 'a');
SELECT (1, 2) IN ((1, 2, 3));
SELECT id FROM rw WHERE (a, b) IN (SELECT x FROM rw2);
SELECT ROW(1, 2) + 1;
SELECT nosuch FROM rw;

DROP TABLE rw;
DROP TABLE rw2;
