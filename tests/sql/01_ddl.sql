-- CREATE TABLE with primary keys (single and composite), NOT NULL, DEFAULT,
-- UNIQUE and CHECK constraints; tables without a primary key; DROP TABLE
-- [IF EXISTS]; ALTER TABLE ADD COLUMN; the errors DDL raises.
-- Every DDL statement runs in autocommit: DSQL allows one DDL statement per
-- transaction and no DDL mixed with DML.

DROP TABLE IF EXISTS ddl_missing;

CREATE TABLE ddl_items (
    id int PRIMARY KEY,
    name text NOT NULL,
    qty int DEFAULT 0,
    price numeric(10,2) CHECK (price >= 0),
    code varchar(8) UNIQUE
);
INSERT INTO ddl_items (id, name) VALUES (1, 'one');
SELECT id, name, qty, price, code FROM ddl_items;
INSERT INTO ddl_items (id, name, price, code) VALUES (2, 'two', 9.5, 'B2');
INSERT INTO ddl_items (id, name, qty, price) VALUES (3, 'three', 3, 0);
-- check violation
INSERT INTO ddl_items (id, name, price) VALUES (4, 'bad', -1);
-- primary key violation
INSERT INTO ddl_items (id, name) VALUES (1, 'dup');
-- unique violation on a non-key column
INSERT INTO ddl_items (id, name, code) VALUES (5, 'dupcode', 'B2');
-- not-null violations: a NOT NULL column and the primary key
INSERT INTO ddl_items (id) VALUES (6);
INSERT INTO ddl_items (id, name) VALUES (NULL, 'nullpk');
-- value too long for varchar(8)
INSERT INTO ddl_items (id, name, code) VALUES (7, 'longcode', 'ABCDEFGHI');
-- numeric(10,2) rounds on the way in
INSERT INTO ddl_items (id, name, price) VALUES (8, 'rounded', 2.345);
SELECT * FROM ddl_items ORDER BY id;
SELECT count(*) FROM ddl_items;
CREATE TABLE ddl_items (id int);
CREATE TABLE IF NOT EXISTS ddl_items (id int);
SELECT id, name FROM ddl_items WHERE id = 2;

-- composite primary key
CREATE TABLE ddl_pairs (a int, b text, v int, PRIMARY KEY (a, b));
INSERT INTO ddl_pairs VALUES (1, 'x', 10), (1, 'y', 20), (2, 'x', 30);
INSERT INTO ddl_pairs VALUES (1, 'x', 99);
INSERT INTO ddl_pairs VALUES (3, NULL, 1);
INSERT INTO ddl_pairs VALUES (2, 'y', 40);
SELECT * FROM ddl_pairs ORDER BY a, b;
SELECT v FROM ddl_pairs WHERE a = 1 AND b = 'y';
SELECT b, v FROM ddl_pairs WHERE a = 2 ORDER BY b DESC;

-- no primary key: duplicate rows are allowed
CREATE TABLE ddl_log (msg text, n int);
INSERT INTO ddl_log VALUES ('a', 1), ('a', 1), (NULL, NULL), ('b', 2);
SELECT msg, n FROM ddl_log;
SELECT count(*), count(msg), count(DISTINCT msg) FROM ddl_log;
ALTER TABLE ddl_log ADD COLUMN extra int;
SELECT msg, n, extra FROM ddl_log WHERE msg = 'a';
INSERT INTO ddl_log VALUES ('c', 3, 33);
SELECT * FROM ddl_log WHERE extra IS NOT NULL;
ALTER TABLE ddl_log ADD COLUMN n int;

-- table-level CHECK across columns and a composite UNIQUE
CREATE TABLE ddl_ranges (
    id int PRIMARY KEY,
    lo int NOT NULL,
    hi int NOT NULL,
    CHECK (lo <= hi),
    UNIQUE (lo, hi)
);
INSERT INTO ddl_ranges VALUES (1, 1, 5), (2, 2, 2);
INSERT INTO ddl_ranges VALUES (3, 5, 1);
INSERT INTO ddl_ranges VALUES (4, 1, 5);
UPDATE ddl_ranges SET hi = 0 WHERE id = 2;
INSERT INTO ddl_ranges VALUES (5, 1, 6);
SELECT * FROM ddl_ranges ORDER BY id;

-- UNIQUE admits any number of NULLs
CREATE TABLE ddl_uniq_null (id int PRIMARY KEY, u int UNIQUE);
INSERT INTO ddl_uniq_null VALUES (1, NULL), (2, NULL), (3, 7);
INSERT INTO ddl_uniq_null VALUES (4, 7);
SELECT count(*), count(u) FROM ddl_uniq_null;

-- defaults of several types and the DEFAULT keyword
CREATE TABLE ddl_defaults (
    id int PRIMARY KEY,
    flag bool DEFAULT true,
    label text DEFAULT 'none',
    amount numeric(6,2) DEFAULT 1.5,
    born date DEFAULT '2000-01-01',
    n bigint DEFAULT 10 * 10
);
INSERT INTO ddl_defaults (id) VALUES (1);
INSERT INTO ddl_defaults VALUES (2, DEFAULT, 'x', DEFAULT, DEFAULT, DEFAULT);
INSERT INTO ddl_defaults (id, flag, label) VALUES (3, false, NULL);
INSERT INTO ddl_defaults DEFAULT VALUES;
SELECT * FROM ddl_defaults ORDER BY id;

-- DDL errors
CREATE TABLE ddl_bad (a int, a text);
CREATE TABLE ddl_bad (a nosuchtype);
CREATE TABLE ddl_bad (a int PRIMARY KEY, b int PRIMARY KEY);
CREATE TABLE ddl_bad (a int CHECK (nosuch > 0));
CREATE TABLE ddl_bad (a int, PRIMARY KEY (b));
DROP TABLE ddl_missing;
DROP TABLE IF EXISTS ddl_missing;
SELECT * FROM ddl_missing;
SELECT * FROM ddl_bad;

-- drop everything; the tables are gone afterwards
DROP TABLE ddl_items;
DROP TABLE ddl_pairs;
DROP TABLE ddl_log;
DROP TABLE IF EXISTS ddl_ranges;
DROP TABLE ddl_uniq_null;
DROP TABLE ddl_defaults;
SELECT * FROM ddl_items;
DROP TABLE ddl_items;
CREATE TABLE ddl_items (id int PRIMARY KEY, note text);
SELECT count(*) FROM ddl_items;
DROP TABLE ddl_items;
