-- generate_series in FROM (with aliases, steps, joins, aggregates, as a
-- source for INSERT) and in the select list, over integers, bigints,
-- numerics and timestamps; empty and invalid series.

SELECT * FROM generate_series(1, 5);
SELECT g FROM generate_series(1, 10, 3) AS g;
SELECT g FROM generate_series(5, 1, -2) AS g;
SELECT g FROM generate_series(5, 1) AS g;
SELECT g FROM generate_series(1, 1) AS g;
SELECT x FROM generate_series(-2, 2) AS t(x) ORDER BY x DESC;
SELECT generate_series(1, 3);
SELECT generate_series(1, 3) AS n, 'x' AS tag;
SELECT generate_series(1, 3) * 10;
SELECT count(*), sum(g), min(g), max(g), avg(g) FROM generate_series(1, 100) AS g;
SELECT g % 3 AS r, count(*) FROM generate_series(1, 10) AS g GROUP BY g % 3;
SELECT a.g, b.g FROM generate_series(1, 2) AS a(g) CROSS JOIN generate_series(1, 3) AS b(g);
SELECT a, b FROM generate_series(1, 3) AS a JOIN generate_series(2, 4) AS b ON a = b;
SELECT g FROM generate_series(1, 20) AS g WHERE g % 7 = 0;
SELECT g FROM generate_series(1, 100) AS g ORDER BY g DESC LIMIT 3;
SELECT g FROM generate_series(4000000000, 4000000002) AS g;
SELECT g FROM generate_series(0.5, 2.0, 0.5) AS g;
SELECT g FROM generate_series('2024-01-30'::timestamp, '2024-02-02'::timestamp, interval '1 day') AS g;
SELECT g::date FROM generate_series('2024-01-01'::date, '2024-03-01'::date, interval '1 month') AS g;
SELECT g FROM generate_series(1, 5, 0) AS g;
SELECT g FROM generate_series(1, NULL) AS g;
SELECT g FROM generate_series('a', 'b') AS g;
SELECT length(string_agg(g::text, '')) FROM generate_series(1, 1000) AS g;

CREATE TABLE gs_t (id int PRIMARY KEY, sq bigint, label text);
INSERT INTO gs_t SELECT g, g * g, 'row ' || g FROM generate_series(1, 50) AS g;
SELECT count(*), sum(sq) FROM gs_t;
SELECT id, sq FROM gs_t WHERE id IN (SELECT g * 10 FROM generate_series(1, 10) AS g);
SELECT g, t.label FROM generate_series(48, 52) AS g LEFT JOIN gs_t t ON t.id = g;
SELECT id FROM gs_t WHERE NOT EXISTS (SELECT 1 FROM generate_series(2, 7) AS d WHERE id % d = 0 AND id <> d) AND id > 1 ORDER BY id;
DELETE FROM gs_t WHERE id > 10;
SELECT id, (SELECT sum(g) FROM generate_series(1, id) AS g) AS triangle FROM gs_t;

DROP TABLE gs_t;
