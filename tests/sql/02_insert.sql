-- INSERT: column lists, multi-row VALUES, INSERT ... SELECT, RETURNING,
-- assignment casts, statement atomicity, ON CONFLICT DO NOTHING / DO UPDATE
-- with EXCLUDED, and the errors INSERT raises.

CREATE TABLE ins_t (id int PRIMARY KEY, name text, score int, tag varchar(5));
INSERT INTO ins_t VALUES (1, 'a', 10, 'x');
INSERT INTO ins_t (id, name) VALUES (2, 'b'), (3, 'c'), (4, NULL);
INSERT INTO ins_t (name, id) VALUES ('e', 5);
INSERT INTO ins_t VALUES (6, 'f', 60, 'y') RETURNING *;
INSERT INTO ins_t VALUES (7, 'g', 70, 'z'), (8, 'h', 80, NULL) RETURNING id, score * 2 AS doubled, upper(name);
INSERT INTO ins_t (id, score) SELECT id + 100, score + 1 FROM ins_t WHERE score IS NOT NULL;
SELECT * FROM ins_t ORDER BY id;
INSERT INTO ins_t (id, name) SELECT g, 'gen' || g FROM generate_series(200, 204) AS g RETURNING id, name;
SELECT count(*) FROM ins_t;
INSERT INTO ins_t (id, name) SELECT id + 1000, name FROM ins_t WHERE false;
INSERT INTO ins_t (id, name) SELECT id + 1000, name FROM ins_t WHERE id < 3 RETURNING id AS new_id, name;

-- errors
INSERT INTO ins_t VALUES (1, 'dup', 0, 'q');
INSERT INTO ins_t VALUES (9, 'toolong', 0, 'abcdef');
INSERT INTO ins_t VALUES (9, 'i', 'notanumber', 'q');
INSERT INTO ins_t (id, nosuch) VALUES (9, 1);
INSERT INTO ins_t (id, name) VALUES (9, 'a', 'extra');
INSERT INTO ins_t VALUES (9, 'a', 1, 'q', 'extra');
INSERT INTO ins_t VALUES (10, 'j', 2147483648, 'q');
INSERT INTO ins_t (id, id) VALUES (9, 9);
INSERT INTO ins_nosuch VALUES (1);
INSERT INTO ins_t (id, score) VALUES (9, true);
SELECT count(*) FROM ins_t WHERE id BETWEEN 9 AND 10;

-- assignment casts: numeric to int rounds, quoted literals convert, trailing
-- spaces beyond a varchar's length are dropped silently
INSERT INTO ins_t (id, score) VALUES (11, 3.7);
INSERT INTO ins_t (id, score) VALUES (12, '42');
INSERT INTO ins_t (id, score) VALUES (13, -2.5);
INSERT INTO ins_t (id, tag) VALUES (14, 'abcde   ');
INSERT INTO ins_t (id, tag) VALUES (15, 'ab');
SELECT id, score, tag, length(tag) FROM ins_t WHERE id BETWEEN 11 AND 15 ORDER BY id;

-- a multi-row INSERT with one bad row inserts nothing
INSERT INTO ins_t (id, name) VALUES (20, 'ok'), (1, 'dup');
INSERT INTO ins_t (id, name) VALUES (21, 'ok'), (22, NULL), (23, 'x'), (23, 'y');
SELECT count(*) FROM ins_t WHERE id BETWEEN 20 AND 23;

-- ON CONFLICT on the primary key
CREATE TABLE ins_kv (k text PRIMARY KEY, v int NOT NULL, hits int DEFAULT 0);
INSERT INTO ins_kv VALUES ('a', 1), ('b', 2);
INSERT INTO ins_kv VALUES ('a', 10) ON CONFLICT DO NOTHING;
INSERT INTO ins_kv VALUES ('a', 10), ('c', 3) ON CONFLICT (k) DO NOTHING RETURNING k, v;
INSERT INTO ins_kv VALUES ('a', 100) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, hits = ins_kv.hits + 1 RETURNING *;
INSERT INTO ins_kv VALUES ('b', 5), ('d', 4) ON CONFLICT (k) DO UPDATE SET v = ins_kv.v + EXCLUDED.v, hits = ins_kv.hits + 1 RETURNING k, v, hits;
INSERT INTO ins_kv VALUES ('b', 7) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE ins_kv.v > 100 RETURNING k;
INSERT INTO ins_kv AS t VALUES ('c', 30) ON CONFLICT (k) DO UPDATE SET v = t.v + EXCLUDED.v RETURNING t.k, t.v;
INSERT INTO ins_kv VALUES ('e', 1), ('e', 2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
INSERT INTO ins_kv VALUES ('f', 1) ON CONFLICT (nosuch) DO NOTHING;
INSERT INTO ins_kv VALUES ('f', 1) ON CONFLICT (v) DO NOTHING;
INSERT INTO ins_kv VALUES ('a', NULL) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
INSERT INTO ins_kv VALUES ('a', 0) ON CONFLICT (k) DO UPDATE SET v = NULL;
INSERT INTO ins_kv (k, v) SELECT k, v * 10 FROM ins_kv WHERE k < 'c' ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
SELECT * FROM ins_kv ORDER BY k;

-- ON CONFLICT on a UNIQUE column that is not the primary key
CREATE TABLE ins_users (id int PRIMARY KEY, email text UNIQUE, visits int NOT NULL DEFAULT 1);
INSERT INTO ins_users VALUES (1, 'a@x', 1), (2, 'b@x', 1);
INSERT INTO ins_users VALUES (3, 'a@x', 1) ON CONFLICT (email) DO UPDATE SET visits = ins_users.visits + 1;
INSERT INTO ins_users VALUES (2, 'c@x', 1) ON CONFLICT (email) DO NOTHING;
INSERT INTO ins_users VALUES (2, 'c@x', 1) ON CONFLICT DO NOTHING;
INSERT INTO ins_users (id, email) VALUES (4, 'd@x') ON CONFLICT (email) DO UPDATE SET visits = 0 RETURNING id, email, visits;
SELECT * FROM ins_users ORDER BY id;

-- a table without a primary key takes duplicates
CREATE TABLE ins_bag (x int, y text);
INSERT INTO ins_bag VALUES (1, 'a'), (1, 'a'), (2, NULL) RETURNING x, y;
INSERT INTO ins_bag SELECT x, y FROM ins_bag;
SELECT x, y, count(*) FROM ins_bag GROUP BY x, y;

DROP TABLE ins_t;
DROP TABLE ins_kv;
DROP TABLE ins_users;
DROP TABLE ins_bag;
