-- Aggregates: count/sum/avg/min/max (with NULLs, DISTINCT, on empty input),
-- the result types and numeric scales PostgreSQL gives them, GROUP BY (by
-- column, expression and position), HAVING, and grouping errors.

CREATE TABLE agg_s (id int PRIMARY KEY, region text, product text, qty int, price numeric(8,2), big bigint, small smallint, ratio float8);
INSERT INTO agg_s VALUES
    (1, 'north', 'a', 10, 1.50, 10000000000, 1, 0.5),
    (2, 'north', 'b', 5, 2.25, 20000000000, 2, 0.25),
    (3, 'south', 'a', 7, 1.50, 30000000000, 3, 0.125),
    (4, 'south', 'a', NULL, 3.00, NULL, NULL, NULL),
    (5, 'east', 'c', 1, NULL, 5, 4, 1.5),
    (6, NULL, 'b', 3, 2.25, 6, 5, 2),
    (7, 'north', 'a', 2, 0.99, 7, 6, 0.375),
    (8, 'south', 'c', 4, 5.00, 8, 7, 0.0625);
-- ratio holds binary fractions only, so float sums do not depend on the order rows are added in

SELECT count(*), count(qty), count(price), count(region) FROM agg_s;
SELECT sum(qty), sum(price), sum(big), sum(small), sum(ratio) FROM agg_s;
SELECT avg(qty), avg(price), avg(big), avg(small), avg(ratio) FROM agg_s;
SELECT min(qty), max(qty), min(price), max(price), min(region), max(region) FROM agg_s;
SELECT min(ratio), max(ratio), min(big), max(small) FROM agg_s;
SELECT count(DISTINCT product), count(DISTINCT region), sum(DISTINCT qty), avg(DISTINCT price) FROM agg_s;
SELECT sum(qty) / count(qty), sum(qty)::float8 / count(qty) FROM agg_s;
SELECT avg(qty)::numeric(10,3), round(avg(price), 2) FROM agg_s;

-- on no rows: count is 0, the rest are NULL
SELECT count(*), count(qty), sum(qty), avg(qty), min(qty), max(qty) FROM agg_s WHERE id < 0;
SELECT region, count(*) FROM agg_s WHERE id < 0 GROUP BY region;

-- GROUP BY
SELECT region, count(*) FROM agg_s GROUP BY region;
SELECT region, sum(qty), avg(qty) FROM agg_s GROUP BY region ORDER BY region NULLS FIRST;
SELECT region, product, count(*), sum(qty) FROM agg_s GROUP BY region, product;
SELECT product, max(price) - min(price) AS spread FROM agg_s GROUP BY product ORDER BY product;
SELECT qty % 2 AS parity, count(*) FROM agg_s GROUP BY qty % 2;
SELECT region, count(*) FROM agg_s GROUP BY 1 ORDER BY 2 DESC, 1;
SELECT upper(product) AS p, count(*) FROM agg_s GROUP BY p;
SELECT region IS NULL AS no_region, count(*) FROM agg_s GROUP BY 1;
SELECT product, count(*) AS n, sum(qty * price) AS revenue FROM agg_s GROUP BY product ORDER BY revenue DESC NULLS LAST, product;
SELECT count(*) FROM (SELECT region FROM agg_s GROUP BY region) AS g;

-- HAVING
SELECT region, count(*) FROM agg_s GROUP BY region HAVING count(*) > 1;
SELECT product, sum(qty) FROM agg_s GROUP BY product HAVING sum(qty) >= 7 ORDER BY product;
SELECT region, avg(price) FROM agg_s GROUP BY region HAVING avg(price) IS NULL OR avg(price) < 2;
SELECT product FROM agg_s GROUP BY product HAVING min(qty) > 1 AND max(qty) < 10;
SELECT count(*) FROM agg_s HAVING count(*) > 100;
SELECT count(*) FROM agg_s HAVING count(*) > 1;

-- aggregates with FILTER, CASE and ordered string_agg
SELECT count(*) FILTER (WHERE qty > 3), sum(qty) FILTER (WHERE region = 'north') FROM agg_s;
SELECT sum(CASE WHEN region = 'south' THEN qty ELSE 0 END) AS south, sum(CASE WHEN region <> 'south' THEN qty END) AS others FROM agg_s;
SELECT region, string_agg(product, ',' ORDER BY id) FROM agg_s GROUP BY region;
SELECT bool_and(qty > 0), bool_or(qty > 9), every(price > 1) FROM agg_s;

-- numeric scales: sums keep the largest scale, avg gives at least 16 digits
SELECT sum(x), avg(x) FROM (VALUES (1.5), (2.25), (3.125)) AS v(x);
SELECT avg(x) FROM (VALUES (1), (2)) AS v(x);
SELECT avg(x) FROM (VALUES (1), (2), (2)) AS v(x);
SELECT avg(x), sum(x) FROM (VALUES (10.0), (20.00)) AS v(x);
SELECT sum(x) FROM (VALUES (9223372036854775807::bigint), (1::bigint)) AS v(x);
SELECT sum(x) FROM (VALUES (2147483647), (1)) AS v(x);
SELECT max(x), min(x) FROM (VALUES ('b'), ('B'), ('a'), ('')) AS v(x);

-- grouping errors
SELECT region, qty FROM agg_s GROUP BY region;
SELECT count(*) FROM agg_s WHERE count(*) > 1;
SELECT sum(region) FROM agg_s;
SELECT avg(product) FROM agg_s;
SELECT region, count(*) FROM agg_s GROUP BY 9;
SELECT sum(sum(qty)) FROM agg_s;

DROP TABLE agg_s;
