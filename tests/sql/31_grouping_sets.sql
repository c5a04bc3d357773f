-- GROUP BY ROLLUP, CUBE and GROUPING SETS, mixed with plain columns, and
-- GROUPING(): the columns a grouping set leaves out read as NULL, GROUPING()
-- says which ones, and the empty set gives its row even for empty input.

CREATE TABLE gs_sales (id int PRIMARY KEY, region text, product text, year int, amount int);
INSERT INTO gs_sales VALUES
    (1, 'east', 'apple', 2020, 10),
    (2, 'east', 'apple', 2021, 20),
    (3, 'east', 'pear', 2020, 5),
    (4, 'west', 'apple', 2020, 7),
    (5, 'west', 'pear', 2021, 3),
    (6, 'west', 'pear', 2021, 4),
    (7, NULL, 'plum', 2020, 1),
    (8, 'north', NULL, NULL, NULL);
CREATE TABLE gs_empty (a int, b int);

SELECT region, product, sum(amount), count(*) FROM gs_sales GROUP BY ROLLUP (region, product) ORDER BY region, product;
SELECT region, product, sum(amount) FROM gs_sales GROUP BY CUBE (region, product) ORDER BY 1, 2, 3;
SELECT region, year, sum(amount) FROM gs_sales GROUP BY GROUPING SETS ((region), (year), ()) ORDER BY 1, 2, 3;
SELECT region, product, year, count(*) FROM gs_sales GROUP BY region, ROLLUP (product, year) ORDER BY 1, 2, 3;
SELECT region, product, year, count(*) FROM gs_sales GROUP BY ROLLUP (region), CUBE (product, year) ORDER BY 1, 2, 3, 4;
SELECT region, product, year, count(*) FROM gs_sales GROUP BY ROLLUP (region, (product, year)) ORDER BY 1, 2, 3;
SELECT region, product, count(*) FROM gs_sales GROUP BY GROUPING SETS (region, ROLLUP (product), CUBE (region, product)) ORDER BY 1, 2, 3;
SELECT region, count(*) FROM gs_sales GROUP BY GROUPING SETS ((region), (region)) ORDER BY 1, 2;
SELECT region, count(*) FROM gs_sales GROUP BY DISTINCT GROUPING SETS ((region), (region), ()) ORDER BY 1, 2;
SELECT region, product, count(*) FROM gs_sales GROUP BY DISTINCT ROLLUP (region, product), ROLLUP (region) ORDER BY 1, 2, 3;
SELECT count(*) FROM gs_sales GROUP BY ();
SELECT count(*) FROM gs_sales GROUP BY GROUPING SETS ((), ());
SELECT region, count(*) FROM gs_sales GROUP BY (region) ORDER BY 1;
SELECT region, product, count(*) FROM gs_sales GROUP BY (region, product) ORDER BY 1, 2;

-- GROUPING(): bit i set when argument i is not grouped in the row's set
SELECT region, product, GROUPING(region), GROUPING(product), GROUPING(region, product), sum(amount)
    FROM gs_sales GROUP BY CUBE (region, product) ORDER BY 3, 4, 1, 2;
SELECT CASE WHEN GROUPING(region) = 1 THEN 'all regions' ELSE coalesce(region, 'unknown') END AS r, sum(amount)
    FROM gs_sales GROUP BY ROLLUP (region) ORDER BY 1, 2;
SELECT region, GROUPING(region) FROM gs_sales GROUP BY region ORDER BY 1;
SELECT region, product, sum(amount) FROM gs_sales GROUP BY ROLLUP (region, product)
    HAVING GROUPING(product) = 1 ORDER BY 1;
SELECT region, sum(amount) FROM gs_sales GROUP BY ROLLUP (region) HAVING sum(amount) > 10 ORDER BY 2;
SELECT region, product, sum(amount) FROM gs_sales GROUP BY ROLLUP (region, product)
    ORDER BY GROUPING(region, product) DESC, sum(amount) DESC NULLS LAST, 1, 2;
SELECT GROUPING(year, region, product), count(*) FROM gs_sales GROUP BY CUBE (region, product, year) ORDER BY 1, 2;

-- expressions, positions, output names, DISTINCT and aggregates with options
SELECT upper(region) AS r, count(*) FROM gs_sales GROUP BY ROLLUP (upper(region)) ORDER BY 1;
SELECT upper(region) AS r, count(*) FROM gs_sales GROUP BY ROLLUP (r) ORDER BY 1;
SELECT region, year, count(*) FROM gs_sales GROUP BY ROLLUP (1, 2) ORDER BY 1, 2;
SELECT region, year + 1, count(*) FROM gs_sales GROUP BY CUBE (region, year) ORDER BY 1, 2, 3;
SELECT region, count(DISTINCT product), string_agg(product, ',' ORDER BY product), sum(amount) FILTER (WHERE year = 2020)
    FROM gs_sales GROUP BY ROLLUP (region) ORDER BY 1, 2;
SELECT DISTINCT count(*) FROM gs_sales GROUP BY CUBE (region, product) ORDER BY 1;
SELECT region, sum(amount), rank() OVER (ORDER BY sum(amount) DESC NULLS LAST) FROM gs_sales GROUP BY ROLLUP (region) ORDER BY 3, 1;
SELECT region, product, count(*) FROM gs_sales GROUP BY ROLLUP (region, product) ORDER BY 1, 2 LIMIT 4;
SELECT * FROM (SELECT region, sum(amount) AS s FROM gs_sales GROUP BY ROLLUP (region)) AS t WHERE s > 5 ORDER BY 1;
SELECT region, product, year, count(*) FROM gs_sales WHERE amount > 3 GROUP BY GROUPING SETS ((region, product), (year)) ORDER BY 1, 2, 3;
SELECT region, product, count(*) FROM gs_sales GROUP BY GROUPING SETS ((region, product), (region)) HAVING product IS NULL ORDER BY 1, 2, 3;
SELECT region, mode() WITHIN GROUP (ORDER BY product), percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) FROM gs_sales GROUP BY GROUPING SETS ((region), ()) ORDER BY 1, 2;
-- GROUPING() of an outer query's column inside a subquery is refused
-- @dsql-error 0A000
SELECT region, (SELECT GROUPING(gs_sales.region)) FROM gs_sales GROUP BY ROLLUP (region);

-- empty input: only the empty grouping set gives a row
SELECT a, b, count(*), sum(b) FROM gs_empty GROUP BY ROLLUP (a, b);
SELECT a, count(*) FROM gs_empty GROUP BY CUBE (a);
SELECT a, count(*) FROM gs_empty GROUP BY GROUPING SETS ((a), (), ());
SELECT a, count(*) FROM gs_empty GROUP BY GROUPING SETS ((a));

-- errors
SELECT region, product, count(*) FROM gs_sales GROUP BY ROLLUP (region);
SELECT GROUPING(product) FROM gs_sales GROUP BY ROLLUP (region);
SELECT count(*) FROM gs_sales WHERE GROUPING(region) = 0 GROUP BY ROLLUP (region);
SELECT count(*) FROM gs_sales GROUP BY ROLLUP (region, GROUPING(region));
SELECT count(*) FROM gs_sales GROUP BY ROLLUP (nosuch);
SELECT count(*) FROM gs_sales GROUP BY ROLLUP (count(*));
SELECT count(*) FROM gs_sales GROUP BY ROLLUP (3);
SELECT GROUPING(region) FROM gs_sales;
SELECT count(*) FROM gs_sales GROUP BY CUBE (id, region, product, year, amount, id + 1, id + 2, id + 3, id + 4, id + 5, id + 6, id + 7, id + 8);

DROP TABLE gs_sales;
DROP TABLE gs_empty;
