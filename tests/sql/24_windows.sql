-- Window functions: ranking, offsets, aggregates over frames, partitions,
-- named windows, windows over grouped results, and errors.

CREATE TABLE wf (id int PRIMARY KEY, g int, x int, s text);
INSERT INTO wf VALUES (1, 1, 10, 'a'), (2, 1, 20, 'b'), (3, 1, 20, 'c'), (4, 2, 5, 'd'), (5, 2, NULL, 'e'),
    (6, 3, 7, 'f'), (7, 3, 7, 'g'), (8, 3, 1, NULL);

SELECT id, row_number() OVER (ORDER BY id) FROM wf ORDER BY id;
SELECT id, g, x, row_number() OVER (PARTITION BY g ORDER BY x, id), rank() OVER (PARTITION BY g ORDER BY x), dense_rank() OVER (PARTITION BY g ORDER BY x) FROM wf ORDER BY id;
SELECT id, rank() OVER (ORDER BY x DESC NULLS LAST), dense_rank() OVER (ORDER BY x NULLS FIRST) FROM wf ORDER BY id;
SELECT id, percent_rank() OVER (ORDER BY x), cume_dist() OVER (ORDER BY x) FROM wf ORDER BY id;
SELECT id, ntile(3) OVER (ORDER BY id), ntile(10) OVER (ORDER BY id), ntile(1) OVER (ORDER BY id) FROM wf ORDER BY id;
SELECT id, lag(x) OVER (ORDER BY id), lead(x) OVER (ORDER BY id), lag(x, 2, -1) OVER (ORDER BY id), lead(s, 3, 'none') OVER (ORDER BY id) FROM wf ORDER BY id;
SELECT id, first_value(x) OVER (PARTITION BY g ORDER BY id), last_value(x) OVER (PARTITION BY g ORDER BY id), nth_value(x, 2) OVER (PARTITION BY g ORDER BY id) FROM wf ORDER BY id;
SELECT id, last_value(id) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM wf ORDER BY id;
SELECT id, sum(x) OVER (), count(*) OVER (), count(x) OVER () FROM wf ORDER BY id;
SELECT id, sum(x) OVER (PARTITION BY g), avg(x) OVER (PARTITION BY g), max(x) OVER (PARTITION BY g), min(s) OVER (PARTITION BY g) FROM wf ORDER BY id;
SELECT id, x, sum(x) OVER (ORDER BY x), count(*) OVER (ORDER BY x) FROM wf ORDER BY id;
SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), sum(x) OVER (ORDER BY id ROWS 2 PRECEDING), count(*) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM wf ORDER BY id;
SELECT id, sum(x) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING), sum(x) OVER (ORDER BY id ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) FROM wf ORDER BY id;
SELECT id, sum(x) OVER (ORDER BY x RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM wf ORDER BY id;
SELECT id, string_agg(s, ',') OVER (ORDER BY id) FROM wf ORDER BY id;
SELECT id, array_agg(id) OVER (PARTITION BY g ORDER BY id) FROM wf ORDER BY id;
SELECT id, count(*) FILTER (WHERE x > 6) OVER (ORDER BY id) FROM wf ORDER BY id;
SELECT id, row_number() OVER w, sum(x) OVER w FROM wf WINDOW w AS (PARTITION BY g ORDER BY id) ORDER BY id;
SELECT id, rank() OVER (w ORDER BY x) FROM wf WINDOW w AS (PARTITION BY g) ORDER BY id;
SELECT g, sum(x), rank() OVER (ORDER BY sum(x) DESC), sum(sum(x)) OVER () FROM wf GROUP BY g ORDER BY g;
SELECT g, count(*), row_number() OVER (ORDER BY g DESC) FROM wf GROUP BY g HAVING count(*) > 1 ORDER BY g;
SELECT id FROM wf ORDER BY row_number() OVER (ORDER BY x DESC NULLS LAST, id DESC) LIMIT 3;
SELECT DISTINCT g, max(x) OVER (PARTITION BY g) FROM wf ORDER BY g;
SELECT * FROM (SELECT id, row_number() OVER (PARTITION BY g ORDER BY x DESC) AS rn FROM wf) AS t WHERE rn = 1 ORDER BY id;
SELECT id, x - lag(x) OVER (ORDER BY id) AS delta FROM wf ORDER BY id;
SELECT id FROM wf WHERE row_number() OVER (ORDER BY id) > 2;
SELECT g FROM wf GROUP BY row_number() OVER (ORDER BY id);
SELECT id, row_number(1) OVER () FROM wf;
SELECT id, lower(s) OVER () FROM wf;
SELECT id, sum(x) OVER (PARTITION BY nosuch) FROM wf;
SELECT id, rank() OVER undefined_window FROM wf;
SELECT sum(row_number() OVER ()) FROM wf;
SELECT id, ntile(0) OVER (ORDER BY id) FROM wf;

DROP TABLE wf;
