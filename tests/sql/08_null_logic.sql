-- Three-valued logic and NULL handling: AND/OR/NOT with NULL, comparisons
-- with NULL, IS [NOT] DISTINCT FROM, IS [NOT] NULL, IS TRUE/FALSE/UNKNOWN,
-- BETWEEN, IN lists, CASE, COALESCE, NULLIF, GREATEST/LEAST.

SELECT NULL AND FALSE, NULL AND TRUE, NULL OR TRUE, NULL OR FALSE, NOT NULL::bool;
SELECT TRUE AND FALSE, TRUE OR FALSE, NOT TRUE, NOT FALSE;
SELECT NULL::bool AND NULL, NULL::bool OR NULL;
SELECT NULL = NULL, NULL <> NULL, 1 = NULL, NULL < 1, NULL::int + 1, 'a' || NULL;
SELECT NULL IS NULL, NULL IS NOT NULL, 1 IS NULL, 1 IS NOT NULL;
SELECT NULL IS DISTINCT FROM NULL, NULL IS NOT DISTINCT FROM NULL, 1 IS DISTINCT FROM NULL, 1 IS DISTINCT FROM 1, 1 IS NOT DISTINCT FROM 2;
SELECT NULL::bool IS TRUE, NULL::bool IS NOT TRUE, NULL::bool IS FALSE, NULL::bool IS NOT FALSE, NULL::bool IS UNKNOWN, NULL::bool IS NOT UNKNOWN;
SELECT TRUE IS TRUE, FALSE IS TRUE, FALSE IS NOT TRUE, TRUE IS UNKNOWN;
SELECT 5 BETWEEN 1 AND 10, 5 BETWEEN 10 AND 1, 5 BETWEEN SYMMETRIC 10 AND 1, 5 NOT BETWEEN 1 AND 4, NULL BETWEEN 1 AND 2, 1 BETWEEN NULL AND 2, 3 BETWEEN NULL AND 2;
SELECT 1 IN (1, 2), 3 IN (1, 2), 3 IN (1, NULL), 1 IN (1, NULL), NULL IN (1, 2), 3 NOT IN (1, NULL), 3 NOT IN (1, 2);
SELECT 'b' IN ('a', 'b'), 2.0 IN (1, 2), 'x' NOT IN ('y');

CREATE TABLE nl_t (id int PRIMARY KEY, a int, b int, flag bool, s text);
INSERT INTO nl_t VALUES (1, 1, 1, true, 'x'), (2, 1, NULL, false, NULL), (3, NULL, NULL, NULL, ''), (4, 2, 3, true, 'y'), (5, NULL, 4, false, 'z');

SELECT id FROM nl_t WHERE a = b;
SELECT id FROM nl_t WHERE a <> b;
SELECT id FROM nl_t WHERE NOT (a = b);
SELECT id FROM nl_t WHERE a IS DISTINCT FROM b;
SELECT id FROM nl_t WHERE a IS NOT DISTINCT FROM b;
SELECT id FROM nl_t WHERE flag;
SELECT id FROM nl_t WHERE NOT flag;
SELECT id FROM nl_t WHERE flag IS NOT TRUE;
SELECT id FROM nl_t WHERE flag IS UNKNOWN;
SELECT id FROM nl_t WHERE flag OR a > 1;
SELECT id FROM nl_t WHERE flag AND a IS NULL;
SELECT id FROM nl_t WHERE s = '';
SELECT id FROM nl_t WHERE s IS NULL;
SELECT id FROM nl_t WHERE a BETWEEN 1 AND 2;
SELECT id FROM nl_t WHERE b NOT BETWEEN 2 AND 3;
SELECT id FROM nl_t WHERE a IN (1, NULL);
SELECT id FROM nl_t WHERE a NOT IN (2, NULL);
SELECT id, a = b AS eq, a < b AS lt, flag AND a = 1 AS both, flag OR b IS NULL AS either FROM nl_t;

-- CASE
SELECT id, CASE WHEN a > 1 THEN 'big' WHEN a = 1 THEN 'one' ELSE 'other' END FROM nl_t;
SELECT id, CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END FROM nl_t;
SELECT id, CASE WHEN flag THEN 1 WHEN NOT flag THEN 0 END AS f FROM nl_t;
SELECT id, CASE a WHEN NULL THEN 'null?' ELSE 'not matched' END FROM nl_t WHERE id = 3;
SELECT CASE WHEN 1 = 1 THEN 1 ELSE 2.5 END, CASE WHEN false THEN 1 END;
SELECT CASE WHEN true THEN 'a' ELSE 1 END;
-- a branch that is not taken is not evaluated (the divisor is not a constant:
-- PostgreSQL folds constant subexpressions like 1 / 0 while planning)
SELECT CASE WHEN id > 0 THEN 1 ELSE 1 / (id - id) END FROM nl_t WHERE id = 1;
SELECT CASE WHEN id > 0 THEN 1 ELSE 1 / (id - id) END FROM nl_t WHERE id = 1 OR a IS NULL;

-- COALESCE, NULLIF, GREATEST, LEAST
SELECT id, coalesce(a, b, -1), coalesce(s, '(null)') FROM nl_t;
SELECT coalesce(NULL, NULL, 3), coalesce(NULL::text, 'x'), coalesce(1, 1 / 0);
SELECT nullif(1, 1), nullif(1, 2), nullif(NULL, 1), nullif('', '');
SELECT id, nullif(a, 1), nullif(s, '') FROM nl_t;
SELECT greatest(1, 5, 3), least(1, 5, 3), greatest(1, NULL, 3), least(NULL::int, NULL), greatest('a', 'B');
SELECT id, greatest(a, b), least(a, b) FROM nl_t;
SELECT coalesce(1, 'x');

-- aggregates ignore NULLs; count(*) does not
SELECT count(*), count(a), count(b), sum(a), sum(b), count(flag) FROM nl_t;
SELECT count(*) FILTER (WHERE flag), count(*) FILTER (WHERE NOT flag), count(*) FILTER (WHERE flag IS NULL) FROM nl_t;
SELECT bool_and(flag), bool_or(flag) FROM nl_t;
SELECT a, count(*) FROM nl_t GROUP BY a;

DROP TABLE nl_t;
