-- Set operations (UNION [ALL], INTERSECT, EXCEPT [ALL]) with NULLs and
-- duplicates, ORDER BY/LIMIT over a set operation, VALUES as a query, and
-- non-recursive common table expressions.

CREATE TABLE so_a (x int, s text);
CREATE TABLE so_b (x int, s text);
INSERT INTO so_a VALUES (1, 'a'), (2, 'b'), (2, 'b'), (3, NULL), (NULL, NULL);
INSERT INTO so_b VALUES (2, 'b'), (3, NULL), (4, 'd'), (NULL, NULL), (NULL, NULL);

SELECT x, s FROM so_a UNION SELECT x, s FROM so_b;
SELECT x, s FROM so_a UNION ALL SELECT x, s FROM so_b;
SELECT x, s FROM so_a INTERSECT SELECT x, s FROM so_b;
SELECT x, s FROM so_a INTERSECT ALL SELECT x, s FROM so_b;
SELECT x, s FROM so_a EXCEPT SELECT x, s FROM so_b;
SELECT x, s FROM so_a EXCEPT ALL SELECT x, s FROM so_b;
SELECT x FROM so_b EXCEPT ALL SELECT x FROM so_a;
SELECT x FROM so_a UNION SELECT x FROM so_b ORDER BY x;
SELECT x FROM so_a UNION SELECT x FROM so_b ORDER BY x DESC NULLS LAST LIMIT 3;
SELECT x FROM so_a UNION ALL SELECT x FROM so_b ORDER BY 1 NULLS FIRST;
SELECT x, 'a' AS src FROM so_a WHERE x > 1 UNION ALL SELECT x, 'b' FROM so_b WHERE x > 1 ORDER BY x, src;
SELECT 1 UNION SELECT 2 INTERSECT SELECT 2;
(SELECT 1 UNION SELECT 2) INTERSECT SELECT 2;
SELECT 1 AS n UNION SELECT 1.5;
SELECT 'a' UNION SELECT 1;
SELECT 1, 2 UNION SELECT 1;
SELECT count(*) FROM (SELECT x FROM so_a UNION SELECT x FROM so_b) AS u;
SELECT * FROM (VALUES (1, 'one'), (2, 'two'), (3, NULL)) AS v(n, word) WHERE n > 1;
VALUES (1, 'x'), (2, 'y');
VALUES (3), (1), (2) ORDER BY 1;

-- common table expressions
WITH big AS (SELECT x FROM so_a WHERE x >= 2) SELECT count(*) FROM big;
WITH t(n) AS (VALUES (1), (2), (3)) SELECT n * 10 FROM t ORDER BY n;
WITH a AS (SELECT x FROM so_a), b AS (SELECT x FROM so_b) SELECT a.x FROM a JOIN b ON a.x = b.x;
WITH counts AS (SELECT s, count(*) AS c FROM so_a GROUP BY s) SELECT s, c FROM counts WHERE c > 1;
WITH one AS (SELECT 1 AS v) SELECT v FROM one, one AS again;
WITH t AS (SELECT x FROM so_a) SELECT max(x) FROM t WHERE x NOT IN (SELECT x FROM t WHERE x > 2);
WITH ins AS (SELECT x + 100 AS x, s FROM so_b WHERE x IS NOT NULL) INSERT INTO so_a SELECT x, s FROM ins;
SELECT x, s FROM so_a WHERE x > 100;
DELETE FROM so_a WHERE x IN (WITH big AS (SELECT x FROM so_a WHERE x > 100) SELECT x FROM big);
SELECT count(*) FROM so_a;
WITH t AS (SELECT 1) SELECT * FROM nosuch_cte;

DROP TABLE so_a;
DROP TABLE so_b;
