-- Ordered-set aggregates (percentile_cont, percentile_disc, mode) and the
-- hypothetical-set ones (rank, dense_rank, percent_rank, cume_dist), all
-- written with WITHIN GROUP (ORDER BY ...): scalar and array fractions,
-- NULLs, empty groups, intervals, directions, GROUP BY, FILTER, errors.

CREATE TABLE osa (id int PRIMARY KEY, g text, x int, f float8, n numeric, t text, iv interval);
INSERT INTO osa VALUES
    (1, 'a', 1, 1.5, 1.25, 'pear', '1 day'),
    (2, 'a', 2, 2.5, 2.5, 'apple', '2 hours'),
    (3, 'a', 2, NULL, NULL, 'apple', '3 days'),
    (4, 'a', 10, 0.25, 10, 'plum', NULL),
    (5, 'b', 5, -1, 5, 'fig', '10 minutes'),
    (6, 'b', NULL, 3, 7.5, NULL, '1 year'),
    (7, 'c', NULL, NULL, NULL, NULL, NULL);

SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY f), percentile_cont(0.75) WITHIN GROUP (ORDER BY f DESC) FROM osa;
SELECT percentile_cont(0) WITHIN GROUP (ORDER BY x), percentile_cont(1) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY iv), percentile_cont(0.9) WITHIN GROUP (ORDER BY iv) FROM osa;
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x), percentile_disc(0) WITHIN GROUP (ORDER BY x), percentile_disc(1) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY t), percentile_disc(0.5) WITHIN GROUP (ORDER BY t DESC) FROM osa;
SELECT percentile_disc(0.3) WITHIN GROUP (ORDER BY n), percentile_disc(0.3) WITHIN GROUP (ORDER BY iv) FROM osa;
SELECT percentile_cont(ARRAY[0, 0.25, 0.5, 1]) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(ARRAY[0.5, NULL]) WITHIN GROUP (ORDER BY f) FROM osa;
SELECT percentile_disc(ARRAY[0.1, 0.5, 0.9]) WITHIN GROUP (ORDER BY t) FROM osa;
SELECT percentile_cont(ARRAY[0.5]) WITHIN GROUP (ORDER BY iv) FROM osa;
SELECT percentile_cont(NULL) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT mode() WITHIN GROUP (ORDER BY x), mode() WITHIN GROUP (ORDER BY t), mode() WITHIN GROUP (ORDER BY t DESC) FROM osa;
SELECT mode() WITHIN GROUP (ORDER BY g) FROM osa;

-- per group, empty groups, FILTER, with other aggregates
SELECT g, percentile_cont(0.5) WITHIN GROUP (ORDER BY x), percentile_disc(0.5) WITHIN GROUP (ORDER BY x), mode() WITHIN GROUP (ORDER BY t), count(*)
    FROM osa GROUP BY g ORDER BY g;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), mode() WITHIN GROUP (ORDER BY x) FROM osa WHERE false;
SELECT g, percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FILTER (WHERE x > 1) FROM osa GROUP BY g ORDER BY g;
SELECT g FROM osa GROUP BY g HAVING percentile_cont(0.5) WITHIN GROUP (ORDER BY x) > 1 ORDER BY g;
SELECT g, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median FROM osa GROUP BY g ORDER BY median NULLS FIRST, g;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x + 0.5) FROM osa;
SELECT g, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM osa GROUP BY ROLLUP (g) ORDER BY g;
SELECT g, percentile_disc(CASE g WHEN 'a' THEN 0.25 ELSE 0.75 END) WITHIN GROUP (ORDER BY x) FROM osa GROUP BY g ORDER BY g;
SELECT mode() WITHIN GROUP (ORDER BY t) FILTER (WHERE id > 2) FROM osa;

-- hypothetical-set aggregates
SELECT rank(2) WITHIN GROUP (ORDER BY x), dense_rank(2) WITHIN GROUP (ORDER BY x), percent_rank(2) WITHIN GROUP (ORDER BY x), cume_dist(2) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT rank(3) WITHIN GROUP (ORDER BY x DESC), rank(3) WITHIN GROUP (ORDER BY x NULLS FIRST), rank(NULL) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT rank('b', 2) WITHIN GROUP (ORDER BY g, x), dense_rank('b', 2) WITHIN GROUP (ORDER BY g, x) FROM osa;
SELECT rank(1) WITHIN GROUP (ORDER BY x), percent_rank(1) WITHIN GROUP (ORDER BY x), cume_dist(1) WITHIN GROUP (ORDER BY x) FROM osa WHERE false;
SELECT g, rank(2) WITHIN GROUP (ORDER BY x), cume_dist(2.5) WITHIN GROUP (ORDER BY x) FROM osa GROUP BY g ORDER BY g;
SELECT rank('fig') WITHIN GROUP (ORDER BY t) FROM osa;

-- errors
SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_disc(-0.1) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(ARRAY[0.5, 2]) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM osa;
SELECT percentile_cont(0.5) FROM osa;
SELECT mode(x) FROM osa;
SELECT sum(x) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x, f) FROM osa;
SELECT rank(1, 2) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT id, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(x) WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM osa WHERE percentile_cont(0.5) WITHIN GROUP (ORDER BY x) > 1;
SELECT percentile_cont('x') WITHIN GROUP (ORDER BY x) FROM osa;
SELECT upper('a') WITHIN GROUP (ORDER BY x) FROM osa;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) OVER () FROM osa;

DROP TABLE osa;
