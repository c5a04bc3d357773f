-- Where dsql deliberately differs from PostgreSQL: DSQL's documented
-- restrictions. Each statement is annotated: it is not run on PostgreSQL,
-- and dsql must refuse it. The statements around them run on both servers
-- and leave both in the same state.

CREATE TABLE rules_t (id int PRIMARY KEY, v int);
INSERT INTO rules_t VALUES (1, 10), (2, 20);

-- DSQL has no TRUNCATE; dsql has PostgreSQL's (a catalog swap outside a
-- block, a transactional delete inside one), which costs DSQL's semantics
-- nothing, so it matches.
TRUNCATE rules_t;
SELECT count(*) FROM rules_t;
INSERT INTO rules_t VALUES (1, 10), (2, 20);
BEGIN;
TRUNCATE rules_t;
SELECT count(*) FROM rules_t;
ROLLBACK;
SELECT count(*) FROM rules_t;

-- DSQL has no temporary tables; dsql has them as an extension (53_temp_tables.sql).

-- DSQL has one isolation level (REPEATABLE READ); others are refused.
-- @dsql-error
BEGIN ISOLATION LEVEL SERIALIZABLE;
-- @dsql-error
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT count(*) FROM rules_t;

-- DSQL allows no DDL in a transaction that has written (DDL and DML do not
-- mix). The failed statement aborts dsql's transaction; ROLLBACK ends it on
-- both servers. (DSQL has no SAVEPOINT either; dsql has, see 25_fidelity.sql.)
BEGIN;
INSERT INTO rules_t VALUES (3, 30);
-- @dsql-error 0A000
CREATE TABLE rules_other (a int);
ROLLBACK;
BEGIN;
INSERT INTO rules_t VALUES (4, 40);
SAVEPOINT sp;
ROLLBACK;
SELECT * FROM rules_t ORDER BY id;

DROP TABLE rules_t;
