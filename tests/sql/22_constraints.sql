-- Foreign keys (actions, MATCH FULL, self references, composite keys,
-- dependencies), ALTER TABLE ADD/DROP/VALIDATE CONSTRAINT on tables with
-- rows, and ADD PRIMARY KEY to a table created without one.

CREATE TABLE fk_parent (id int PRIMARY KEY, code text UNIQUE, name text);
CREATE TABLE fk_child (id int PRIMARY KEY, pid int REFERENCES fk_parent, note text);
CREATE TABLE fk_cascade (id int PRIMARY KEY, pid int REFERENCES fk_parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE fk_setnull (id int PRIMARY KEY, pcode text REFERENCES fk_parent (code) ON DELETE SET NULL);
INSERT INTO fk_parent VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', 'three');
INSERT INTO fk_child VALUES (10, 1, 'x'), (11, 1, 'y'), (12, NULL, 'orphan ok');
INSERT INTO fk_child VALUES (13, 9, 'bad');
INSERT INTO fk_cascade VALUES (20, 2), (21, 2), (22, 3);
INSERT INTO fk_setnull VALUES (30, 'c'), (31, 'a');
DELETE FROM fk_parent WHERE id = 1;
UPDATE fk_parent SET name = 'uno' WHERE id = 1;
DELETE FROM fk_parent WHERE id = 2;
SELECT * FROM fk_cascade ORDER BY id;
UPDATE fk_parent SET id = 33 WHERE id = 3;
SELECT * FROM fk_cascade ORDER BY id;
DELETE FROM fk_parent WHERE code = 'c';
SELECT * FROM fk_cascade ORDER BY id;
SELECT * FROM fk_setnull ORDER BY id;
UPDATE fk_child SET pid = 5 WHERE id = 10;
UPDATE fk_child SET pid = NULL WHERE id = 10;
DELETE FROM fk_child;
DELETE FROM fk_parent WHERE id = 1;
SELECT * FROM fk_setnull ORDER BY id;
INSERT INTO fk_setnull VALUES (32, 'zz');
DROP TABLE fk_parent;
TRUNCATE fk_parent;
TRUNCATE fk_parent CASCADE;
SELECT (SELECT count(*) FROM fk_parent), (SELECT count(*) FROM fk_child), (SELECT count(*) FROM fk_setnull);

CREATE TABLE fk_tree (id int PRIMARY KEY, parent int REFERENCES fk_tree ON DELETE CASCADE);
INSERT INTO fk_tree VALUES (1, NULL), (2, 1), (3, 1), (4, 2), (5, 4);
INSERT INTO fk_tree VALUES (6, 99);
DELETE FROM fk_tree WHERE id = 2;
SELECT id FROM fk_tree ORDER BY id;

CREATE TABLE fk_pair (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE fk_pair_ref (id int PRIMARY KEY, a int, b int, FOREIGN KEY (a, b) REFERENCES fk_pair MATCH FULL);
INSERT INTO fk_pair VALUES (1, 1), (1, 2);
INSERT INTO fk_pair_ref VALUES (1, 1, 2), (2, NULL, NULL);
INSERT INTO fk_pair_ref VALUES (3, 1, NULL);
INSERT INTO fk_pair_ref VALUES (4, 2, 2);
CREATE TABLE fk_bad (id int PRIMARY KEY, x int REFERENCES fk_parent (name));
CREATE TABLE fk_bad2 (id int PRIMARY KEY, x text REFERENCES fk_parent (id));
CREATE TABLE fk_bad3 (id int PRIMARY KEY, x int REFERENCES no_such_table);

CREATE TABLE ac_acc (aid int NOT NULL, bid int, bal int);
CREATE TABLE ac_br (bid int NOT NULL, total int);
INSERT INTO ac_acc SELECT g, (g - 1) / 10 + 1, g % 7 FROM generate_series(1, 40) AS g;
INSERT INTO ac_br SELECT g, 0 FROM generate_series(1, 4) AS g;
ALTER TABLE ac_br ADD PRIMARY KEY (bid);
ALTER TABLE ac_acc ADD PRIMARY KEY (aid);
ALTER TABLE ac_acc ADD PRIMARY KEY (bid);
ALTER TABLE ac_acc ADD CONSTRAINT ac_acc_bid_fkey FOREIGN KEY (bid) REFERENCES ac_br;
ALTER TABLE ac_acc ADD CONSTRAINT bal_ok CHECK (bal >= 0);
ALTER TABLE ac_acc ADD CONSTRAINT bal_pos CHECK (bal > 0);
ALTER TABLE ac_acc ADD CONSTRAINT bal_pos CHECK (bal > 0) NOT VALID;
ALTER TABLE ac_acc VALIDATE CONSTRAINT bal_pos;
ALTER TABLE ac_acc DROP CONSTRAINT bal_pos;
ALTER TABLE ac_acc DROP CONSTRAINT IF EXISTS bal_pos;
ALTER TABLE ac_acc ADD CONSTRAINT one_per_branch UNIQUE (bid);
ALTER TABLE ac_br ADD CONSTRAINT total_unique UNIQUE (total);
INSERT INTO ac_acc VALUES (41, 9, 1);
INSERT INTO ac_acc VALUES (1, 1, 1);
INSERT INTO ac_acc VALUES (42, 1, -1);
INSERT INTO ac_acc VALUES (NULL, 1, 1);
SELECT * FROM ac_acc WHERE aid = 7;
SELECT count(*), sum(bal) FROM ac_acc WHERE bid = 2;
DELETE FROM ac_br WHERE bid = 4;
CREATE TABLE ac_nulls (a int, b int);
INSERT INTO ac_nulls VALUES (NULL, 1), (2, 2);
ALTER TABLE ac_nulls ADD PRIMARY KEY (a);
INSERT INTO ac_nulls VALUES (NULL, 3);
ALTER TABLE ac_nulls ADD CONSTRAINT ac_nulls_b_key UNIQUE (b);
INSERT INTO ac_nulls VALUES (3, 2);

-- A row with several foreign keys: one read for all of them; the violation reported is
-- the first row's, and of its keys the first (PostgreSQL's after-row trigger order).
CREATE TABLE fk2_a (id int PRIMARY KEY);
CREATE TABLE fk2_b (id int PRIMARY KEY);
INSERT INTO fk2_a VALUES (1), (2);
INSERT INTO fk2_b VALUES (1), (2);
CREATE TABLE fk2_child (id int PRIMARY KEY, a int REFERENCES fk2_a, b int REFERENCES fk2_b);
INSERT INTO fk2_child VALUES (1, 1, 1), (2, 2, 1), (3, 1, 2);
INSERT INTO fk2_child VALUES (4, 9, 9);
INSERT INTO fk2_child VALUES (5, 1, 8);
INSERT INTO fk2_child VALUES (6, 1, 1), (7, 1, 7), (8, 6, 1);
INSERT INTO fk2_child VALUES (9, 1, 1), (10, 5, 1), (11, 1, 4);
INSERT INTO fk2_child VALUES (12, NULL, 2), (13, 2, NULL);
UPDATE fk2_child SET b = 3 WHERE id = 1;
UPDATE fk2_child SET a = 2, b = 2 WHERE id = 3;
SELECT * FROM fk2_child ORDER BY id;
DROP TABLE fk2_child;
DROP TABLE fk2_a;
DROP TABLE fk2_b;

-- ADD PRIMARY KEY on columns that were NOT NULL already checks no row for NULLs, and a
-- failed one leaves them NOT NULL (only the NOT NULL that came with the key goes).
CREATE TABLE pk_nn (a int NOT NULL, b int);
INSERT INTO pk_nn VALUES (1, 1), (1, 2);
ALTER TABLE pk_nn ADD PRIMARY KEY (a);
INSERT INTO pk_nn VALUES (NULL, 3);
DELETE FROM pk_nn WHERE b = 2;
ALTER TABLE pk_nn ADD PRIMARY KEY (a);
INSERT INTO pk_nn VALUES (1, 5);
INSERT INTO pk_nn VALUES (NULL, 6);
SELECT * FROM pk_nn ORDER BY a;
CREATE TABLE pk_mixed (a int NOT NULL, b int, c int);
INSERT INTO pk_mixed VALUES (1, 1, 1), (1, 1, 2);
ALTER TABLE pk_mixed ADD PRIMARY KEY (a, b);
INSERT INTO pk_mixed VALUES (2, NULL, 3);
INSERT INTO pk_mixed VALUES (NULL, 2, 4);
SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'pk_mixed'::regclass AND attnum > 0 ORDER BY attnum;
DELETE FROM pk_mixed WHERE c > 1;
ALTER TABLE pk_mixed ADD PRIMARY KEY (a, b);
SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'pk_mixed'::regclass AND attnum > 0 ORDER BY attnum;
INSERT INTO pk_mixed VALUES (2, NULL, 3);
SELECT a, b, c FROM pk_mixed ORDER BY c;
DROP TABLE pk_nn;
DROP TABLE pk_mixed;

DROP TABLE fk_child;
DROP TABLE fk_cascade;
DROP TABLE fk_setnull;
DROP TABLE fk_parent;
DROP TABLE fk_tree;
DROP TABLE fk_pair_ref;
DROP TABLE fk_pair;
DROP TABLE ac_acc;
DROP TABLE ac_br;
DROP TABLE ac_nulls;
