-- UPDATE and DELETE: WHERE with subqueries, RETURNING, UPDATE ... FROM,
-- DELETE ... USING, primary-key updates, constraint violations, tables
-- without a primary key.

CREATE TABLE upd_emp (id int PRIMARY KEY, name text NOT NULL, dept text, salary int, boss int);
INSERT INTO upd_emp VALUES
    (1, 'ann', 'eng', 100, NULL),
    (2, 'bob', 'eng', 80, 1),
    (3, 'cat', 'ops', 70, 1),
    (4, 'dan', 'ops', 60, 3),
    (5, 'eve', NULL, 50, 3),
    (6, 'fay', 'sales', 90, 1);
CREATE TABLE upd_dept (name text PRIMARY KEY, budget int);
INSERT INTO upd_dept VALUES ('eng', 1000), ('ops', 500), ('hr', 100);

UPDATE upd_emp SET salary = salary + 5 WHERE dept = 'eng';
UPDATE upd_emp SET salary = salary * 2 WHERE id = 999;
UPDATE upd_emp SET name = upper(name), salary = salary - 1 WHERE dept = 'ops' RETURNING id, name, salary;
UPDATE upd_emp SET dept = 'hr' WHERE dept IS NULL RETURNING *;
UPDATE upd_emp SET salary = (SELECT max(salary) FROM upd_emp) WHERE id = 6 RETURNING salary;
UPDATE upd_emp SET salary = salary + 1 WHERE dept IN (SELECT name FROM upd_dept WHERE budget >= 500) RETURNING id, salary;
UPDATE upd_emp e SET salary = e.salary + d.budget / 100 FROM upd_dept d WHERE d.name = e.dept RETURNING e.id, e.salary;
SELECT id, name, dept, salary FROM upd_emp ORDER BY id;

-- constraint violations leave the rows as they were
UPDATE upd_emp SET name = NULL WHERE id = 5;
UPDATE upd_emp SET id = 2 WHERE id = 1;
UPDATE upd_emp SET nosuch = 1;
UPDATE upd_emp SET salary = 'abc';
UPDATE upd_emp SET salary = salary * 100000000 WHERE id = 1;
UPDATE upd_nosuch SET a = 1;
SELECT id, name, salary FROM upd_emp WHERE id IN (1, 2, 5) ORDER BY id;

-- NULL assignment, primary-key updates, CASE, multiple columns
UPDATE upd_emp SET salary = NULL WHERE id = 5 RETURNING id, salary;
UPDATE upd_emp SET id = id + 10 WHERE id >= 5 RETURNING id;
UPDATE upd_emp SET salary = CASE WHEN salary > 90 THEN salary - 10 ELSE salary + 10 END RETURNING id, salary;
UPDATE upd_emp SET name = 'zed', dept = 'eng' WHERE id = 15 RETURNING *;
UPDATE upd_emp SET salary = salary WHERE salary IS NULL;
SELECT * FROM upd_emp ORDER BY id;

-- a correlated subquery in SET
UPDATE upd_dept d SET budget = (SELECT coalesce(sum(salary), 0) FROM upd_emp e WHERE e.dept = d.name) RETURNING name, budget;
SELECT * FROM upd_dept ORDER BY name;

-- DELETE
DELETE FROM upd_emp WHERE id = 999;
DELETE FROM upd_emp WHERE dept = 'hr' RETURNING id, name;
DELETE FROM upd_emp WHERE boss IN (SELECT id FROM upd_emp WHERE name = 'CAT') RETURNING id;
DELETE FROM upd_emp WHERE NOT EXISTS (SELECT 1 FROM upd_dept d WHERE d.name = upd_emp.dept) RETURNING name;
DELETE FROM upd_emp e USING upd_dept d WHERE e.dept = d.name AND d.budget < 100 RETURNING e.id;
SELECT * FROM upd_emp ORDER BY id;
DELETE FROM upd_emp WHERE salary > (SELECT avg(salary) FROM upd_emp) RETURNING id, salary;
DELETE FROM upd_emp RETURNING id;
SELECT count(*) FROM upd_emp;
DELETE FROM upd_emp;
DELETE FROM upd_nosuch;
DELETE FROM upd_emp WHERE nosuch = 1;

-- rows of a table without a primary key, including identical ones
CREATE TABLE upd_nopk (a int, b int);
INSERT INTO upd_nopk VALUES (1, 1), (1, 1), (2, 2), (3, NULL);
UPDATE upd_nopk SET b = b + 10 WHERE a = 1;
SELECT a, b FROM upd_nopk;
UPDATE upd_nopk SET b = 0 WHERE b IS NULL RETURNING a, b;
DELETE FROM upd_nopk WHERE b = 2 RETURNING *;
DELETE FROM upd_nopk WHERE a = 1;
SELECT a, b FROM upd_nopk;

-- an update that reverses the values of every row at once (no unique index on v:
-- PostgreSQL checks unique indexes row by row, so swapping keys is order-dependent)
CREATE TABLE upd_swap (id int PRIMARY KEY, v int);
INSERT INTO upd_swap VALUES (1, 10), (2, 20), (3, 30);
UPDATE upd_swap SET v = 40 - v RETURNING id, v;
UPDATE upd_swap SET id = id + 100 WHERE id = 2 RETURNING id, v;
SELECT * FROM upd_swap ORDER BY id;

DROP TABLE upd_emp;
DROP TABLE upd_dept;
DROP TABLE upd_nopk;
DROP TABLE upd_swap;
