-- bool, bytea and uuid: input spellings, text output (bytea in hex, uuid in
-- lower case), comparison and ordering, use as keys, functions, and invalid
-- input.

-- bool
SELECT true, false, 't'::bool, 'yes'::bool, 'no'::bool, 'on'::bool, 'off'::bool, '1'::bool, '0'::bool, ' TRUE '::bool, 'f'::bool;
SELECT 'maybe'::bool;
SELECT true > false, true AND 't', NOT 'f'::bool, true::text, false::varchar, 'true'::bool::int;
CREATE TABLE misc_b (id int PRIMARY KEY, flag bool NOT NULL DEFAULT false);
INSERT INTO misc_b VALUES (1, true), (2, 'false'), (3, 'y'), (4, DEFAULT);
INSERT INTO misc_b VALUES (5, 'nope');
INSERT INTO misc_b VALUES (5, 2);
SELECT * FROM misc_b ORDER BY flag, id;
SELECT flag, count(*) FROM misc_b GROUP BY flag;
SELECT id FROM misc_b WHERE flag = 'yes';
SELECT id FROM misc_b WHERE flag IS FALSE;
SELECT max(id) FILTER (WHERE flag), bool_and(flag), bool_or(flag) FROM misc_b;

-- bytea
SELECT '\x0102ff'::bytea, 'abc'::bytea, ''::bytea, '\x'::bytea, E'\\000\\001'::bytea, 'a\\b'::bytea;
SELECT length('\x0102ff'::bytea), octet_length('abc'::bytea), '\x01'::bytea || '\x02'::bytea, md5('abc'::bytea);
SELECT '\x01'::bytea < '\x02'::bytea, '\x0100'::bytea > '\x01'::bytea, 'abc'::bytea = '\x616263'::bytea;
SELECT substring('\x0102030405'::bytea FROM 2 FOR 3), get_byte('\x0102ff'::bytea, 2), encode('\x6869'::bytea, 'hex'), encode('hi'::bytea, 'base64'), decode('6869', 'hex');
SELECT '\xzz'::bytea;
SELECT '\x123'::bytea;
CREATE TABLE misc_y (id int PRIMARY KEY, data bytea);
INSERT INTO misc_y VALUES (1, '\xdeadbeef'), (2, 'plain'), (3, ''), (4, NULL), (5, '\x00');
SELECT * FROM misc_y ORDER BY id;
SELECT id FROM misc_y WHERE data = '\x00';
SELECT id, length(data) FROM misc_y ORDER BY data NULLS FIRST, id;
UPDATE misc_y SET data = data || '\xff'::bytea WHERE id <= 2 RETURNING id, data;

-- uuid
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid, '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'::uuid, 'a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid;
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'::uuid;
SELECT 'not-a-uuid'::uuid;
SELECT '00000000-0000-0000-0000-000000000001'::uuid < 'ffffffff-0000-0000-0000-000000000000'::uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid::text;
SELECT length(gen_random_uuid()::text), gen_random_uuid() = gen_random_uuid();
CREATE TABLE misc_u (id uuid PRIMARY KEY, label text);
INSERT INTO misc_u VALUES
    ('11111111-1111-1111-1111-111111111111', 'one'),
    ('22222222-2222-2222-2222-222222222222', 'two'),
    ('0000000F-0000-0000-0000-000000000000', 'upper');
INSERT INTO misc_u VALUES ('11111111-1111-1111-1111-111111111111', 'dup');
INSERT INTO misc_u VALUES ('bad', 'bad');
INSERT INTO misc_u (label) VALUES ('no id');
SELECT * FROM misc_u ORDER BY id;
SELECT label FROM misc_u WHERE id = '22222222-2222-2222-2222-222222222222';
SELECT label FROM misc_u WHERE id = '0000000f-0000-0000-0000-000000000000'::uuid;
SELECT label FROM misc_u WHERE id > '11111111-1111-1111-1111-111111111111' ORDER BY id;
SELECT count(*) FROM misc_u WHERE id::text LIKE '1%';
INSERT INTO misc_u SELECT gen_random_uuid(), 'random' FROM generate_series(1, 3);
SELECT label, count(*) FROM misc_u GROUP BY label;
DELETE FROM misc_u WHERE label = 'random';

-- comparisons across types that do not mix
SELECT true = 1;
SELECT '\x01'::bytea = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid;

DROP TABLE misc_b;
DROP TABLE misc_y;
DROP TABLE misc_u;
