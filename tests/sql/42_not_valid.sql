-- ADD CONSTRAINT ... NOT VALID (CHECK and FOREIGN KEY): existing rows are not
-- checked, new and changed rows are; VALIDATE CONSTRAINT checks the old rows
-- and marks the constraint valid; the catalogs show both states.

CREATE TABLE nv_parent (id int PRIMARY KEY);
INSERT INTO nv_parent VALUES (1), (2);
CREATE TABLE nv_child (id int PRIMARY KEY, pid int, amount int);
INSERT INTO nv_child VALUES (1, 1, 5), (2, 9, -1), (3, NULL, 7);

ALTER TABLE nv_child ADD CONSTRAINT nv_amount CHECK (amount > 0) NOT VALID;
ALTER TABLE nv_child ADD CONSTRAINT nv_fk FOREIGN KEY (pid) REFERENCES nv_parent (id) NOT VALID;
SELECT conname, contype, convalidated, pg_get_constraintdef(oid) FROM pg_constraint
  WHERE conrelid = 'nv_child'::regclass ORDER BY conname;
INSERT INTO nv_child VALUES (4, 1, -2);
INSERT INTO nv_child VALUES (4, 7, 2);
INSERT INTO nv_child VALUES (4, 2, 2);
UPDATE nv_child SET amount = -5 WHERE id = 1;
UPDATE nv_child SET pid = 8 WHERE id = 1;
UPDATE nv_child SET amount = amount WHERE id = 3;
SELECT * FROM nv_child ORDER BY id;
ALTER TABLE nv_child VALIDATE CONSTRAINT nv_amount;
ALTER TABLE nv_child VALIDATE CONSTRAINT nv_fk;
ALTER TABLE nv_child VALIDATE CONSTRAINT no_such;
SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'nv_child'::regclass ORDER BY conname;
UPDATE nv_child SET amount = 1 WHERE id = 2;
ALTER TABLE nv_child VALIDATE CONSTRAINT nv_amount;
DELETE FROM nv_child WHERE id = 2;
ALTER TABLE nv_child VALIDATE CONSTRAINT nv_fk;
ALTER TABLE nv_child VALIDATE CONSTRAINT nv_fk;
SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint
  WHERE conrelid = 'nv_child'::regclass ORDER BY conname;
DELETE FROM nv_parent WHERE id = 1;
ALTER TABLE nv_child ADD CONSTRAINT nv_pos CHECK (id > 0) NOT VALID;
SELECT conname, convalidated FROM pg_constraint WHERE conname = 'nv_pos';
ALTER TABLE nv_child ADD CONSTRAINT nv_big CHECK (id > 100);
ALTER TABLE nv_child ADD CONSTRAINT nv_uq UNIQUE (amount) NOT VALID;

DROP TABLE nv_child;
DROP TABLE nv_parent;
