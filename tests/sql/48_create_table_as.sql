-- CREATE TABLE ... AS and SELECT ... INTO (dsql's extension to DSQL, which has neither):
-- the table and its rows in one transaction; columns named and typed from the query
-- (an untyped literal becomes text, typmods are kept); WITH NO DATA; IF NOT EXISTS;
-- column name lists; the errors PostgreSQL gives.

CREATE TABLE ctas_src (id int PRIMARY KEY, name varchar(20), amount numeric(8, 2), at date);
INSERT INTO ctas_src SELECT g, 'n' || g, g * 1.25, date '2024-01-01' + g FROM generate_series(1, 40) AS g;
CREATE TABLE ctas_copy AS SELECT * FROM ctas_src WHERE id <= 10;
SELECT * FROM ctas_copy ORDER BY id;
SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable
  FROM information_schema.columns WHERE table_name = 'ctas_copy' ORDER BY ordinal_position;
CREATE TABLE ctas_agg (bucket, total) AS SELECT id % 3, sum(amount) FROM ctas_src GROUP BY 1;
SELECT * FROM ctas_agg ORDER BY bucket;
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ctas_agg' ORDER BY ordinal_position;
CREATE TABLE ctas_lit AS SELECT 'x' AS t, 1 AS i, 2.5 AS n, NULL::int AS z, now()::date - now()::date AS d;
SELECT * FROM ctas_lit;
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ctas_lit' ORDER BY ordinal_position;
CREATE TABLE ctas_empty AS SELECT id, name FROM ctas_src WITH NO DATA;
SELECT count(*) FROM ctas_empty;
INSERT INTO ctas_empty VALUES (1, 'one');
SELECT * FROM ctas_empty;
CREATE TABLE IF NOT EXISTS ctas_empty AS SELECT 1 AS other;
SELECT * FROM ctas_empty;
CREATE TABLE ctas_empty AS SELECT 1 AS other;
SELECT id, name INTO ctas_into FROM ctas_src WHERE id BETWEEN 5 AND 7;
SELECT * FROM ctas_into ORDER BY id;
SELECT g AS n INTO ctas_series FROM generate_series(1, 5) AS g;
SELECT sum(n) FROM ctas_series;
CREATE TABLE ctas_union AS SELECT 1 AS a UNION ALL SELECT 2 UNION ALL SELECT 3;
SELECT * FROM ctas_union ORDER BY a;
CREATE TABLE ctas_values AS VALUES (1, 'a'), (2, 'b');
SELECT * FROM ctas_values ORDER BY column1;
CREATE TABLE ctas_too_many (a, b, c) AS SELECT 1, 2;
CREATE TABLE ctas_dup AS SELECT 1 AS a, 2 AS a;
CREATE TABLE ctas_missing AS SELECT * FROM no_such_table;
CREATE TABLE ctas_bad AS SELECT 1 / 0 AS x;
SELECT count(*) FROM pg_class WHERE relname IN ('ctas_too_many', 'ctas_dup', 'ctas_missing', 'ctas_bad');
UPDATE ctas_copy SET amount = amount * 2 WHERE id = 1 RETURNING id, amount;
DROP TABLE ctas_copy, ctas_agg, ctas_lit, ctas_empty, ctas_into, ctas_series, ctas_union, ctas_values, ctas_src;
