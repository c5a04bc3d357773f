-- Transactions in one session: BEGIN/COMMIT/ROLLBACK and their synonyms,
-- read-your-own-writes, rollback of inserts/updates/deletes, an error aborts
-- the transaction (25P02 until ROLLBACK; COMMIT then reports ROLLBACK),
-- atomic statements, READ ONLY transactions (25006), REPEATABLE READ accepted,
-- and warnings for COMMIT/ROLLBACK outside a transaction. DDL stays outside
-- transactions: DSQL allows no DDL mixed with DML.

CREATE TABLE tx_t (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tx_t VALUES (1, 10), (2, 20);

BEGIN;
INSERT INTO tx_t VALUES (3, 30);
UPDATE tx_t SET v = v + 1 WHERE id = 1;
SELECT * FROM tx_t ORDER BY id;
COMMIT;
SELECT * FROM tx_t ORDER BY id;

BEGIN;
DELETE FROM tx_t WHERE id = 3;
INSERT INTO tx_t VALUES (4, 40);
UPDATE tx_t SET v = 0;
SELECT * FROM tx_t ORDER BY id;
SELECT count(*), sum(v) FROM tx_t;
ROLLBACK;
SELECT * FROM tx_t ORDER BY id;

-- a row inserted then changed then deleted in one transaction
START TRANSACTION;
INSERT INTO tx_t VALUES (5, 50);
UPDATE tx_t SET v = 55 WHERE id = 5;
SELECT v FROM tx_t WHERE id = 5;
DELETE FROM tx_t WHERE id = 5;
SELECT count(*) FROM tx_t WHERE id = 5;
INSERT INTO tx_t VALUES (5, 500);
END;
SELECT * FROM tx_t WHERE id = 5;

-- an error aborts the transaction; everything fails until ROLLBACK
BEGIN;
INSERT INTO tx_t VALUES (6, 60);
INSERT INTO tx_t VALUES (1, 0);
SELECT 1;
INSERT INTO tx_t VALUES (7, 70);
COMMIT;
SELECT count(*) FROM tx_t WHERE id IN (6, 7);
BEGIN;
SELECT 1 / 0;
SELECT * FROM tx_t;
ROLLBACK;
SELECT count(*) FROM tx_t;
BEGIN;
SELECT nosuch FROM tx_t;
ABORT;

-- a failing statement changes nothing, inside or outside a transaction
UPDATE tx_t SET v = 100 / (id - 2);
SELECT * FROM tx_t ORDER BY id;
BEGIN;
UPDATE tx_t SET v = v + 1;
UPDATE tx_t SET v = NULL WHERE id = 2;
ROLLBACK;
SELECT * FROM tx_t ORDER BY id;

-- transaction modes
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM tx_t;
COMMIT;
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ WRITE;
UPDATE tx_t SET v = v * 2 WHERE id = 1;
COMMIT;
BEGIN READ ONLY;
SELECT v FROM tx_t WHERE id = 1;
INSERT INTO tx_t VALUES (8, 80);
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
UPDATE tx_t SET v = 0;
ROLLBACK;
BEGIN READ ONLY;
DELETE FROM tx_t;
COMMIT;
SELECT * FROM tx_t ORDER BY id;

-- COMMIT and ROLLBACK with no transaction only warn; nested BEGIN warns
COMMIT;
ROLLBACK;
BEGIN;
BEGIN;
SELECT count(*) FROM tx_t;
COMMIT;

-- a transaction that only reads
BEGIN;
SELECT sum(v) FROM tx_t;
SELECT max(id) FROM tx_t;
COMMIT;

DROP TABLE tx_t;
