-- Multi-way joins whose order the planner chooses by cost (qp/plan/joins.py):
-- 3 to 10 tables, comma joins and JOIN … ON, predicates in ON and WHERE,
-- inner joins nested inside and around outer joins, join columns with and
-- without indexes, before and after ANALYZE. Results must not depend on the
-- order chosen.

CREATE TABLE jo_region (id int PRIMARY KEY, name text);
CREATE TABLE jo_nation (id int PRIMARY KEY, region_id int, name text);
CREATE TABLE jo_customer (id int PRIMARY KEY, nation_id int, segment text);
CREATE TABLE jo_orders (id int PRIMARY KEY, customer_id int, status text, total int);
CREATE TABLE jo_item (order_id int, line int, part_id int, qty int, PRIMARY KEY (order_id, line));
CREATE TABLE jo_part (id int PRIMARY KEY, supplier_id int, kind text);
CREATE TABLE jo_supplier (id int PRIMARY KEY, nation_id int, name text);
CREATE TABLE jo_note (id int, customer_id int, body text);
CREATE TABLE jo_tag (part_id int, tag text);
CREATE TABLE jo_tiny (k int);
INSERT INTO jo_region VALUES (1, 'east'), (2, 'west'), (3, 'none');
INSERT INTO jo_nation SELECT g, g % 3 + 1, 'nation' || g FROM generate_series(1, 12) g;
INSERT INTO jo_customer SELECT g, g % 12 + 1, CASE WHEN g % 4 = 0 THEN 'auto' ELSE 'home' END FROM generate_series(1, 120) g;
INSERT INTO jo_customer VALUES (121, NULL, 'auto');
INSERT INTO jo_orders SELECT g, g % 121 + 1, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'done' END, g % 50 FROM generate_series(1, 600) g;
INSERT INTO jo_part SELECT g, g % 20 + 1, 'kind' || (g % 5) FROM generate_series(1, 80) g;
INSERT INTO jo_item SELECT o, l, (o * 7 + l) % 81 + 1, l FROM generate_series(1, 600) o, generate_series(1, 3) l;
INSERT INTO jo_supplier SELECT g, g % 12 + 1, 'sup' || g FROM generate_series(1, 20) g;
INSERT INTO jo_note SELECT g, g % 130 + 1, 'note' || g FROM generate_series(1, 90) g;
INSERT INTO jo_tag SELECT g % 80 + 1, 'tag' || (g % 4) FROM generate_series(1, 50) g;
INSERT INTO jo_tiny VALUES (1), (2);
CREATE INDEX jo_orders_customer ON jo_orders (customer_id);
CREATE INDEX jo_item_part ON jo_item (part_id);

-- three and four tables, written in an order that would cross-join first
SELECT count(*) FROM jo_region r, jo_customer c, jo_nation n WHERE c.nation_id = n.id AND n.region_id = r.id;
SELECT r.name, count(*) FROM jo_region r, jo_orders o, jo_customer c, jo_nation n
  WHERE o.customer_id = c.id AND c.nation_id = n.id AND n.region_id = r.id AND o.status = 'open' GROUP BY r.name;
SELECT c.id, o.id FROM jo_customer c JOIN jo_orders o ON o.customer_id = c.id JOIN jo_tiny t ON t.k = c.id % 10 WHERE o.total > 40;
-- join columns with (jo_orders.customer_id, jo_item.part_id) and without (jo_note.customer_id) indexes
SELECT c.id, count(n.id), count(o.id) FROM jo_note n JOIN jo_customer c ON c.id = n.customer_id JOIN jo_orders o ON o.customer_id = c.id
  WHERE n.id < 20 GROUP BY c.id;
SELECT p.kind, sum(i.qty) FROM jo_part p JOIN jo_item i ON i.part_id = p.id JOIN jo_tag g ON g.part_id = p.id WHERE g.tag = 'tag1' GROUP BY p.kind;
-- predicates over three relations and non-equality joins
SELECT count(*) FROM jo_customer c, jo_orders o, jo_nation n WHERE o.customer_id = c.id AND c.nation_id = n.id AND o.total + n.id > c.id % 40;
SELECT count(*) FROM jo_tiny t, jo_region r, jo_nation n WHERE n.region_id = r.id AND n.id < t.k * 3;
SELECT count(*) FROM jo_tiny a, jo_tiny b, jo_region r WHERE r.id = a.k;
-- outer joins keep their order; inner joins around and inside them are reordered
SELECT c.id, o.id, n.name FROM jo_customer c LEFT JOIN jo_orders o ON o.customer_id = c.id AND o.total = 7 JOIN jo_nation n ON n.id = c.nation_id WHERE c.id < 30;
SELECT count(*), count(o.id) FROM jo_nation n JOIN jo_customer c ON c.nation_id = n.id LEFT JOIN (jo_orders o JOIN jo_item i ON i.order_id = o.id AND i.line = 2) ON o.customer_id = c.id;
SELECT count(*), count(n.id) FROM jo_note n RIGHT JOIN jo_customer c ON c.id = n.customer_id JOIN jo_nation x ON x.id = c.nation_id JOIN jo_region r ON r.id = x.region_id;
SELECT count(*), count(c.id), count(n.id) FROM jo_note n FULL JOIN jo_customer c ON c.id = n.customer_id JOIN jo_region r ON r.id = 1;
SELECT c.id FROM jo_customer c LEFT JOIN jo_nation n ON n.id = c.nation_id WHERE n.id IS NULL;
-- six to ten tables
SELECT count(*), sum(i.qty) FROM jo_region r, jo_nation n, jo_customer c, jo_orders o, jo_item i, jo_part p
  WHERE n.region_id = r.id AND c.nation_id = n.id AND o.customer_id = c.id AND i.order_id = o.id AND p.id = i.part_id AND r.name = 'east';
SELECT s.name, count(*) FROM jo_item i, jo_orders o, jo_part p, jo_supplier s, jo_nation sn, jo_customer c, jo_nation cn
  WHERE i.order_id = o.id AND p.id = i.part_id AND s.id = p.supplier_id AND sn.id = s.nation_id AND c.id = o.customer_id
    AND cn.id = c.nation_id AND sn.region_id = cn.region_id GROUP BY s.name ORDER BY s.name;
SELECT count(*) FROM jo_tiny t JOIN jo_region r ON r.id = t.k JOIN jo_nation n ON n.region_id = r.id JOIN jo_customer c ON c.nation_id = n.id
  JOIN jo_orders o ON o.customer_id = c.id JOIN jo_item i ON i.order_id = o.id JOIN jo_part p ON p.id = i.part_id
  JOIN jo_supplier s ON s.id = p.supplier_id JOIN jo_tag g ON g.part_id = p.id LEFT JOIN jo_note x ON x.customer_id = c.id;
SELECT o.id, i.line FROM jo_orders o JOIN jo_item i ON i.order_id = o.id JOIN jo_part p ON p.id = i.part_id JOIN jo_customer c ON c.id = o.customer_id
  WHERE c.segment = 'auto' AND p.kind = 'kind3' AND o.total < 10 ORDER BY o.id, i.line;
-- twelve relations: above the DP's limit, ordered greedily
SELECT count(*), sum(i2.qty) FROM jo_item i2, jo_nation n2, jo_orders o, jo_region r2, jo_part p, jo_customer c, jo_tiny t,
  jo_supplier s, jo_nation n, jo_region r, jo_orders o2, jo_tag g
  WHERE o.customer_id = c.id AND c.nation_id = n.id AND n.region_id = r.id AND r.id = t.k AND o2.id = o.id
    AND i2.order_id = o2.id AND p.id = i2.part_id AND s.id = p.supplier_id AND n2.id = s.nation_id AND r2.id = n2.region_id
    AND g.part_id = p.id AND g.tag = 'tag2';
-- the same after ANALYZE (estimates change, results must not)
ANALYZE;
ANALYZE jo_orders (customer_id, status);
-- what ANALYZE measured (every row is sampled below 30,000 rows, so the figures are exact)
SELECT relname, reltuples FROM pg_class WHERE relname IN ('jo_region', 'jo_customer', 'jo_orders', 'jo_tiny');
SELECT attname, null_frac, avg_width, n_distinct, most_common_vals IS NULL FROM pg_stats WHERE tablename = 'jo_region';
SELECT attname, null_frac, avg_width, n_distinct FROM pg_stats WHERE tablename = 'jo_customer';
SELECT r.name, count(*) FROM jo_region r, jo_orders o, jo_customer c, jo_nation n
  WHERE o.customer_id = c.id AND c.nation_id = n.id AND n.region_id = r.id AND o.status = 'open' GROUP BY r.name;
SELECT count(*), sum(i.qty) FROM jo_region r, jo_nation n, jo_customer c, jo_orders o, jo_item i, jo_part p
  WHERE n.region_id = r.id AND c.nation_id = n.id AND o.customer_id = c.id AND i.order_id = o.id AND p.id = i.part_id AND r.name = 'east';
SELECT count(*) FROM jo_tiny t JOIN jo_region r ON r.id = t.k JOIN jo_nation n ON n.region_id = r.id JOIN jo_customer c ON c.nation_id = n.id
  JOIN jo_orders o ON o.customer_id = c.id JOIN jo_item i ON i.order_id = o.id JOIN jo_part p ON p.id = i.part_id
  JOIN jo_supplier s ON s.id = p.supplier_id JOIN jo_tag g ON g.part_id = p.id LEFT JOIN jo_note x ON x.customer_id = c.id;
SELECT c.id, count(n.id), count(o.id) FROM jo_note n JOIN jo_customer c ON c.id = n.customer_id JOIN jo_orders o ON o.customer_id = c.id
  WHERE n.id < 20 GROUP BY c.id;
SELECT count(*) FROM jo_customer c, jo_orders o, jo_nation n WHERE o.customer_id = c.id AND c.nation_id = n.id AND o.total + n.id > c.id % 40;
SELECT o.id, i.line FROM jo_orders o JOIN jo_item i ON i.order_id = o.id JOIN jo_part p ON p.id = i.part_id JOIN jo_customer c ON c.id = o.customer_id
  WHERE c.segment = 'auto' AND p.kind = 'kind3' AND o.total < 10 ORDER BY o.id, i.line;
SELECT c.id, o.id, n.name FROM jo_customer c LEFT JOIN jo_orders o ON o.customer_id = c.id AND o.total = 7 JOIN jo_nation n ON n.id = c.nation_id WHERE c.id < 30;
-- a subquery in FROM and a correlated subquery among the joined relations
SELECT count(*) FROM (SELECT customer_id, count(*) AS n FROM jo_orders GROUP BY customer_id) s JOIN jo_customer c ON c.id = s.customer_id
  JOIN jo_nation n ON n.id = c.nation_id WHERE s.n > 4;
SELECT c.id FROM jo_customer c JOIN jo_nation n ON n.id = c.nation_id JOIN jo_region r ON r.id = n.region_id
  WHERE c.id < 40 AND EXISTS (SELECT 1 FROM jo_orders o WHERE o.customer_id = c.id AND o.total > 45);
-- batched index nested-loop joins (a small outer side looks its keys up):
-- a secondary index with many rows per key, a primary-key prefix, a full
-- composite key, NULL keys, expression keys, a residual condition, int8 and
-- text keys, duplicate outer keys, and the transaction's own writes
CREATE TABLE jo_wide (id bigint PRIMARY KEY, customer_id bigint, note text);
CREATE TABLE jo_code (code text PRIMARY KEY, label text);
INSERT INTO jo_wide SELECT g, g % 121 + 1, 'w' || g FROM generate_series(1, 300) g;
INSERT INTO jo_code VALUES ('auto', 'cars'), ('home', 'houses'), ('boat', 'ships');
CREATE INDEX jo_wide_customer ON jo_wide (customer_id);
SELECT c.id, o.id, o.total FROM jo_customer c JOIN jo_orders o ON o.customer_id = c.id WHERE c.id IN (1, 2, 3, 121);
SELECT o.id, i.line, i.qty FROM jo_orders o JOIN jo_item i ON i.order_id = o.id WHERE o.id < 5;
SELECT o.id, i.line FROM jo_orders o JOIN jo_item i ON i.order_id = o.id AND i.line = o.total % 3 + 1 WHERE o.id BETWEEN 10 AND 20;
SELECT o.id, i.line, i.qty FROM jo_orders o JOIN jo_item i ON i.order_id = o.id WHERE o.id IN (1, 2, 3, 599);
SELECT o.id, i.line FROM jo_orders o JOIN jo_item i ON i.order_id = o.id AND i.line = o.total % 3 + 1 WHERE o.id IN (10, 11, 12, 13);
SELECT c.id, n.name FROM jo_customer c JOIN jo_nation n ON n.id = c.nation_id WHERE c.id > 115;
SELECT c.id, n.name FROM jo_customer c JOIN jo_nation n ON n.id = c.id % 12 + 1 AND n.name <> 'nation3' WHERE c.id < 8;
SELECT c.id, w.id, w.note FROM jo_customer c JOIN jo_wide w ON w.id = c.id WHERE c.id < 6;
SELECT c.id, w.id FROM jo_customer c JOIN jo_wide w ON w.customer_id = c.id WHERE c.segment = 'auto' AND c.id < 20;
SELECT c.id, k.label FROM jo_customer c JOIN jo_code k ON k.code = c.segment WHERE c.id < 10;
SELECT count(*), count(DISTINCT n.id) FROM jo_customer c JOIN jo_nation n ON n.id = c.nation_id JOIN jo_region r ON r.id = n.region_id;
SELECT t.k, o.id FROM jo_tiny t JOIN jo_orders o ON o.id = t.k * 100 JOIN jo_item i ON i.order_id = o.id AND i.line = t.k;
BEGIN;
INSERT INTO jo_orders VALUES (1001, 3, 'open', 1);
DELETE FROM jo_orders WHERE id = 3;
SELECT c.id, o.id FROM jo_customer c JOIN jo_orders o ON o.customer_id = c.id WHERE c.id IN (3, 4);
SELECT o.id, c.id FROM jo_tiny t JOIN jo_orders o ON o.id IN (1001, 3) AND o.id % 2 = t.k % 2 JOIN jo_customer c ON c.id = o.customer_id;
ROLLBACK;
DROP TABLE jo_wide;
DROP TABLE jo_code;
-- errors and ANALYZE's arguments
ANALYZE jo_nosuch;
ANALYZE jo_region (nosuch);
DROP TABLE jo_region;
DROP TABLE jo_nation;
DROP TABLE jo_customer;
DROP TABLE jo_orders;
DROP TABLE jo_item;
DROP TABLE jo_part;
DROP TABLE jo_supplier;
DROP TABLE jo_note;
DROP TABLE jo_tag;
DROP TABLE jo_tiny;
