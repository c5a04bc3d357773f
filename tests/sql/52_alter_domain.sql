-- ALTER DOMAIN: defaults, NOT NULL and CHECK constraints (checked against the
-- values already stored, with PostgreSQL's errors), NOT VALID and VALIDATE
-- CONSTRAINT, renames, DROP CONSTRAINT.

CREATE DOMAIN ad_pos AS int;
CREATE DOMAIN ad_code AS text;
CREATE TABLE ad_t (id int PRIMARY KEY, p ad_pos, c ad_code);
INSERT INTO ad_t VALUES (1, 5, 'A'), (2, NULL, 'b'), (3, -1, NULL);

ALTER DOMAIN ad_pos SET DEFAULT 7;
INSERT INTO ad_t (id, c) VALUES (4, 'D');
SELECT id, p FROM ad_t ORDER BY id;
SELECT typdefault FROM pg_type WHERE typname = 'ad_pos';
ALTER DOMAIN ad_pos DROP DEFAULT;
INSERT INTO ad_t (id, c) VALUES (5, 'E');
SELECT id, p FROM ad_t WHERE id = 5;
ALTER DOMAIN ad_pos SET DEFAULT 'x';

ALTER DOMAIN ad_pos SET NOT NULL;
SELECT typnotnull FROM pg_type WHERE typname = 'ad_pos';
DELETE FROM ad_t WHERE p IS NULL;
ALTER DOMAIN ad_pos SET NOT NULL;
SELECT typnotnull FROM pg_type WHERE typname = 'ad_pos';
INSERT INTO ad_t VALUES (6, NULL, 'F');
SELECT NULL::ad_pos;
ALTER DOMAIN ad_pos DROP NOT NULL;
INSERT INTO ad_t VALUES (6, NULL, 'F');

ALTER DOMAIN ad_pos ADD CONSTRAINT ad_pos_positive CHECK (VALUE > 0);
SELECT conname FROM pg_constraint WHERE contypid = (SELECT oid FROM pg_type WHERE typname = 'ad_pos');
ALTER DOMAIN ad_pos ADD CONSTRAINT ad_pos_positive CHECK (VALUE > 0) NOT VALID;
SELECT conname, convalidated FROM pg_constraint WHERE contypid = (SELECT oid FROM pg_type WHERE typname = 'ad_pos');
INSERT INTO ad_t VALUES (7, -5, 'G');
SELECT -3::ad_pos;
SELECT (-3)::ad_pos;
ALTER DOMAIN ad_pos VALIDATE CONSTRAINT ad_pos_positive;
UPDATE ad_t SET p = 1 WHERE p < 0;
ALTER DOMAIN ad_pos VALIDATE CONSTRAINT ad_pos_positive;
SELECT conname, convalidated FROM pg_constraint WHERE contypid = (SELECT oid FROM pg_type WHERE typname = 'ad_pos');
ALTER DOMAIN ad_pos VALIDATE CONSTRAINT no_such;
ALTER DOMAIN ad_code ADD CHECK (VALUE = upper(VALUE));
ALTER DOMAIN ad_code ADD CHECK (length(VALUE) < 5);
ALTER DOMAIN ad_code ADD CHECK (length(VALUE) < 3);
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contypid = (SELECT oid FROM pg_type WHERE typname = 'ad_code') ORDER BY conname;
ALTER DOMAIN ad_code ADD CHECK (nope > 0);
ALTER DOMAIN ad_code ADD CONSTRAINT ad_code_check CHECK (VALUE <> '');

ALTER DOMAIN ad_code RENAME CONSTRAINT ad_code_check TO ad_code_len;
ALTER DOMAIN ad_code RENAME CONSTRAINT no_such TO x;
ALTER DOMAIN ad_code DROP CONSTRAINT ad_code_len;
ALTER DOMAIN ad_code DROP CONSTRAINT ad_code_len;
ALTER DOMAIN ad_code DROP CONSTRAINT IF EXISTS ad_code_len;
SELECT conname FROM pg_constraint WHERE contypid = (SELECT oid FROM pg_type WHERE typname = 'ad_code') ORDER BY conname;
ALTER DOMAIN ad_code RENAME TO ad_code2;
SELECT 'ab'::ad_code2;
SELECT 'ab'::ad_code;
ALTER DOMAIN no_such SET NOT NULL;
ALTER DOMAIN ad_t SET NOT NULL;
ALTER DOMAIN ad_code2 OWNER TO no_such_role;
SELECT id, p, c FROM ad_t ORDER BY id;
DROP TABLE ad_t;
DROP DOMAIN ad_pos, ad_code2;
