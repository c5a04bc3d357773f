-- Joins: inner and left (also right, full and cross) joins with ON and USING,
-- comma joins, three-table joins, self-joins, join conditions involving NULL,
-- and aggregates over joins.

CREATE TABLE join_c (id int PRIMARY KEY, name text NOT NULL, city text);
CREATE TABLE join_o (id int PRIMARY KEY, customer_id int, amount int, status text);
CREATE TABLE join_l (order_id int, line int, item text, qty int, PRIMARY KEY (order_id, line));
INSERT INTO join_c VALUES (1, 'ada', 'paris'), (2, 'bo', 'oslo'), (3, 'cy', NULL), (4, 'di', 'paris');
INSERT INTO join_o VALUES
    (10, 1, 100, 'paid'), (11, 1, 50, 'open'), (12, 2, 75, 'paid'),
    (13, NULL, 20, 'open'), (14, 9, 5, 'void');
INSERT INTO join_l VALUES (10, 1, 'pen', 2), (10, 2, 'ink', 1), (11, 1, 'pad', 5), (12, 1, 'pen', 1), (99, 1, 'ghost', 1);

-- inner joins
SELECT c.name, o.id, o.amount FROM join_c c JOIN join_o o ON o.customer_id = c.id;
SELECT c.name, o.id FROM join_c c INNER JOIN join_o o ON o.customer_id = c.id AND o.status = 'paid';
SELECT c.name, o.id FROM join_c AS c, join_o AS o WHERE o.customer_id = c.id AND o.amount > 60;
SELECT c.name, o.id, l.item FROM join_c c JOIN join_o o ON o.customer_id = c.id JOIN join_l l ON l.order_id = o.id;
SELECT c.name, o.id, l.item FROM join_c c JOIN join_o o ON o.customer_id = c.id JOIN join_l l ON l.order_id = o.id ORDER BY c.name, o.id, l.line;
SELECT o.id, l.line FROM join_o o JOIN join_l l ON l.order_id = o.id WHERE l.qty > 1;
SELECT count(*) FROM join_c c JOIN join_o o ON true;
SELECT c.id, o.id FROM join_c c JOIN join_o o ON c.id < 3 AND o.id < 12;

-- left joins: unmatched rows get NULLs
SELECT c.name, o.id FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id;
SELECT c.name, o.id FROM join_c c LEFT OUTER JOIN join_o o ON o.customer_id = c.id ORDER BY c.name, o.id NULLS FIRST;
SELECT c.name FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id WHERE o.id IS NULL;
SELECT c.name, o.id FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id AND o.status = 'paid';
SELECT c.name, o.id FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id WHERE o.status = 'paid';
SELECT o.id, c.name, l.item FROM join_o o LEFT JOIN join_c c ON c.id = o.customer_id LEFT JOIN join_l l ON l.order_id = o.id;
SELECT c.name, count(o.id), coalesce(sum(o.amount), 0) FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id GROUP BY c.name;
SELECT c.name, count(*) FROM join_c c LEFT JOIN join_o o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name;

-- right, full and cross joins
SELECT c.name, o.id FROM join_c c RIGHT JOIN join_o o ON o.customer_id = c.id;
SELECT c.name, o.id FROM join_c c FULL JOIN join_o o ON o.customer_id = c.id;
SELECT c.name, o.id FROM join_c c CROSS JOIN join_o o WHERE c.id = 2;
SELECT count(*) FROM join_c CROSS JOIN join_l;

-- USING and NATURAL
CREATE TABLE join_a (k int, v text);
CREATE TABLE join_b (k int, w text);
INSERT INTO join_a VALUES (1, 'a1'), (2, 'a2'), (2, 'a2b'), (NULL, 'anull');
INSERT INTO join_b VALUES (2, 'b2'), (3, 'b3'), (NULL, 'bnull');
SELECT k, v, w FROM join_a JOIN join_b USING (k);
SELECT * FROM join_a JOIN join_b USING (k);
SELECT k, v, w FROM join_a LEFT JOIN join_b USING (k);
SELECT k, v, w FROM join_a FULL JOIN join_b USING (k);
SELECT * FROM join_a NATURAL JOIN join_b;
SELECT join_a.k, join_b.k FROM join_a JOIN join_b ON join_a.k = join_b.k;
SELECT a.v, b.w FROM join_a a JOIN join_b b ON a.k IS NOT DISTINCT FROM b.k;
SELECT a.v, b.w FROM join_a a JOIN join_b b ON a.k = b.k OR (a.k IS NULL AND b.k IS NULL);

-- self-joins
CREATE TABLE join_emp (id int PRIMARY KEY, name text, boss int);
INSERT INTO join_emp VALUES (1, 'root', NULL), (2, 'left', 1), (3, 'right', 1), (4, 'leaf', 2);
SELECT e.name, b.name AS boss FROM join_emp e JOIN join_emp b ON e.boss = b.id;
SELECT e.name, b.name AS boss FROM join_emp e LEFT JOIN join_emp b ON e.boss = b.id ORDER BY e.id;
SELECT e.name, g.name AS grandboss FROM join_emp e JOIN join_emp b ON e.boss = b.id JOIN join_emp g ON b.boss = g.id;
SELECT b.name, count(e.id) AS reports FROM join_emp b LEFT JOIN join_emp e ON e.boss = b.id GROUP BY b.id, b.name ORDER BY b.id;
SELECT x.id, y.id FROM join_emp x JOIN join_emp y ON x.id < y.id WHERE x.boss IS NOT DISTINCT FROM y.boss;

-- joins against derived tables and VALUES
SELECT c.name, t.total FROM join_c c JOIN (SELECT customer_id, sum(amount) AS total FROM join_o GROUP BY customer_id) t ON t.customer_id = c.id;
SELECT v.code, c.name FROM (VALUES (1, 'x'), (3, 'y'), (5, 'z')) AS v(id, code) LEFT JOIN join_c c ON c.id = v.id;

-- errors
SELECT id FROM join_c JOIN join_o ON join_o.customer_id = join_c.id;
SELECT * FROM join_c c JOIN join_o o ON o.nosuch = c.id;
SELECT * FROM join_c c JOIN join_o o USING (nosuch);
SELECT * FROM join_c c JOIN join_o o;
SELECT * FROM join_c c JOIN join_o o ON o.customer_id = c.name;

DROP TABLE join_c;
DROP TABLE join_o;
DROP TABLE join_l;
DROP TABLE join_a;
DROP TABLE join_b;
DROP TABLE join_emp;
