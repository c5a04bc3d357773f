-- Errors by SQLSTATE: syntax errors (42601), undefined table (42P01) and
-- column (42703), ambiguous column (42702), type mismatches (42804/42883),
-- value too long (22001), invalid input (22P02), numeric out of range
-- (22003), division by zero (22012), and that the session keeps working
-- after each of them.

SELECT;
SELEC 1;
SELECT 1 +;
SELECT * FROM;
SELECT (1;
SELECT 1 FROM FROM;
INSERT INTO VALUES (1);
CREATE TABLE (a int);
SELECT 1 1;
SELECT * FROM err_nosuch;
SELECT nosuch;
SELECT 1 AS a WHERE a = 1;

CREATE TABLE err_t (id int PRIMARY KEY, name varchar(3) NOT NULL, n int CHECK (n >= 0), d date);
INSERT INTO err_t VALUES (1, 'abc', 1, '2024-01-01');
SELECT * FROM err_t WHERE id = 'x';
SELECT * FROM err_t WHERE id = 1.5;
SELECT * FROM err_t WHERE name = 1;
SELECT * FROM err_t WHERE d = 1;
SELECT * FROM err_t WHERE d > 'soon';
SELECT id + name FROM err_t;
SELECT id FROM err_t WHERE name;
SELECT id FROM err_t WHERE n;
SELECT -name FROM err_t;
SELECT id, nosuch FROM err_t;
SELECT err_t.id, other.id FROM err_t;
SELECT id FROM err_t e1, err_t e2;
INSERT INTO err_t VALUES (2, 'abcd', 1, NULL);
INSERT INTO err_t VALUES (2, 'ab', -1, NULL);
INSERT INTO err_t VALUES (2, NULL, 1, NULL);
INSERT INTO err_t VALUES ('two', 'ab', 1, NULL);
INSERT INTO err_t VALUES (2, 'ab', 99999999999, NULL);
INSERT INTO err_t VALUES (2, 'ab', 1, '2024-02-31');
INSERT INTO err_t VALUES (1, 'ab', 1, NULL);
INSERT INTO err_t (id, name, n) VALUES (2, 'ab', 1 / 0);
INSERT INTO err_t (id, name, d) VALUES (2, 'ab', true);
UPDATE err_t SET name = 'long name' WHERE id = 1;
UPDATE err_t SET n = n - 5 WHERE id = 1;
UPDATE err_t SET id = NULL;
SELECT CAST('2024-01-01' AS int);
SELECT CAST(1 AS date);
SELECT '1 day'::interval + 1;
SELECT 'abc' + 1;
SELECT 1 + 'abc';
SELECT 1 = 'a';
SELECT 'a' = 1;
SELECT * FROM err_t LIMIT 'x';
SELECT * FROM err_t ORDER BY 0;
SELECT count(*) FROM err_t GROUP BY nosuch;
SELECT abs('x');
SELECT abs();
SELECT upper(1);
SELECT lower(1, 2);
SELECT ''::int;
SELECT ' '::bool;

-- the session is healthy after all of that, and the data unchanged
SELECT * FROM err_t;
SELECT 42;

DROP TABLE err_t;
DROP TABLE err_t;
