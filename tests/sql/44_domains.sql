-- CREATE DOMAIN with NOT NULL, DEFAULT and CHECK: enforced on casts, INSERT
-- and UPDATE with PostgreSQL's errors; DROP DOMAIN refused while in use.

CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN code AS varchar(5) NOT NULL DEFAULT 'none' CONSTRAINT code_upper CHECK (VALUE = upper(VALUE)) CHECK (length(VALUE) >= 2);
CREATE DOMAIN posint AS int;
CREATE DOMAIN bad_d AS int CHECK (VALUE > 'x');
CREATE DOMAIN bad_d AS int CHECK (nope > 0);
CREATE DOMAIN bad_d AS int DEFAULT 'x';
CREATE DOMAIN bad_d AS no_such_type;

SELECT 5::posint, '7'::posint + 1;
SELECT 0::posint;
SELECT NULL::posint IS NULL;
SELECT 'AB'::code, 'ab'::code;
SELECT 'A'::code;
SELECT NULL::code;
SELECT 'TOOLONGX'::code;
SELECT CAST(3 AS posint);

CREATE TABLE dom_t (id int PRIMARY KEY, qty posint, c code, note text);
INSERT INTO dom_t (id, qty, c) VALUES (1, 5, 'XY');
INSERT INTO dom_t (id, qty) VALUES (2, 3);
INSERT INTO dom_t (id, qty, c) VALUES (3, -1, 'XY');
INSERT INTO dom_t (id, qty, c) VALUES (3, 1, 'xy');
INSERT INTO dom_t (id, qty, c) VALUES (3, 1, NULL);
INSERT INTO dom_t (id, c) VALUES (3, 'OK');
SELECT * FROM dom_t ORDER BY id;
UPDATE dom_t SET qty = 0 WHERE id = 1;
UPDATE dom_t SET c = 'no' WHERE id = 1;
UPDATE dom_t SET c = 'YES' WHERE id = 1 RETURNING c;
UPDATE dom_t SET qty = qty + 10 RETURNING id, qty;
INSERT INTO dom_t (id, qty, c) SELECT 4, 2, 'ZZ';
INSERT INTO dom_t (id, qty, c) SELECT 5, 0, 'ZZ';
SELECT id, qty, c FROM dom_t WHERE qty > 11 ORDER BY id;
SELECT column_name, data_type, character_maximum_length, domain_name, udt_name FROM information_schema.columns
  WHERE table_name = 'dom_t' ORDER BY ordinal_position;
SELECT attname, format_type(atttypid, atttypmod), atttypmod FROM pg_attribute
  WHERE attrelid = 'dom_t'::regclass AND attnum > 0 ORDER BY attnum;
SELECT typname, typtype, format_type(typbasetype, typtypmod), typnotnull, typdefault FROM pg_type
  WHERE typname IN ('posint', 'code') ORDER BY typname;

DROP DOMAIN posint;
DROP DOMAIN no_such;
DROP DOMAIN IF EXISTS no_such;
DROP TABLE dom_t;
DROP DOMAIN posint, code;
SELECT 1::posint;
