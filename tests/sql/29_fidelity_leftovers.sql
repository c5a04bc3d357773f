-- The last differences from PostgreSQL 15 a statement-by-statement comparison
-- found: to_number's template walk, SET TIME ZONE INTERVAL, numeric literals
-- out of range, volatile correlated subqueries, infinite generate_series
-- bounds, the two-variable statistics and a few PG 15 functions. Error
-- messages of the pure functions are compared in tests/test_functions_*.py.

-- to_number reads one digit per template position, in template order
-- (PostgreSQL's regression cases first).
SELECT to_number('-34,338,492', '99G999G999');
SELECT to_number('-34,338,492.654,878', '99G999G999D999G999');
SELECT to_number('<564646.654564>', '999999.999999PR');
SELECT to_number('0.00001-', '9.999999S');
SELECT to_number('5.01-', 'FM9.999999S');
SELECT to_number('5.01-', 'FM9.999999MI');
SELECT to_number('5 4 4 4 4 8 . 7 8', '9 9 9 9 9 9 . 9 9');
SELECT to_number('.01', 'FM9.99');
SELECT to_number('.0', '99999999.99999999');
SELECT to_number('0', '99.99');
SELECT to_number('.-01', 'S99.99');
SELECT to_number('.01-', '99.99S');
SELECT to_number(' . 0 1-', ' 9 9 . 9 9 S');
SELECT to_number('34,50','999,99');
SELECT to_number('123,000','999G');
SELECT to_number('123456','999G999');
SELECT to_number('$1234.56','L9,999.99');
SELECT to_number('$1234.56','L99,999.99');
SELECT to_number('$1,234.56','L99,999.99');
SELECT to_number('1234.56','L99,999.99');
SELECT to_number('1,234.56','L99,999.99');
SELECT to_number('42nd', '99th');
SELECT to_number('123456', '99999V99'), to_number('12', '99V'), to_number('1234', '9V9');
-- input longer and shorter than the template, signs in odd places
SELECT to_number('123456', '999'), to_number('12', '9999'), to_number('1', '9.99'), to_number('12.3456', '99.99');
SELECT to_number('12-', 'MI99'), to_number('-12', '99MI'), to_number('+12', 'PL99'), to_number('12+', '99SG'), to_number('-1-2', '9MI9');
SELECT to_number('<12>', '99PR'), to_number('<12', '99PR'), to_number('12>', '99PR'), to_number('- 12', '999'), to_number('1-2', '999');
SELECT to_number('1,2,3', '9,9,9'), to_number('1.2,3', '9G9G9'), to_number('1 234', '9G999'), to_number('1,234', 'FM9G999'), to_number('1,234', 'FM9,999');
SELECT to_number('ab12', '"ab"99'), to_number('xy12', '"ab"99'), to_number('12€3', '99"€"9'), to_number('€12', 'L99'), to_number('12th', '99TH'), to_number('1.5th', '9.9th');
SELECT to_number('0012', '0000'), to_number('1.50', '9.00'), to_number('.5', '9.9'), to_number('5.', '9.9'), to_number('-.5', 'S9.9');
SELECT to_number('12', ''), to_number(NULL, '99'), to_number('12', NULL);
-- PostgreSQL's errors: nothing read, too many digits, templates that make no sense
SELECT to_number('', '999');
SELECT to_number('-', '999');
SELECT to_number('abc', '999');
SELECT to_number('12345', '99.99');
SELECT to_number('1234', '99');
SELECT to_number('12', '9.9.9');
SELECT to_number('12', 'S9S');
SELECT to_number('12', 'MIS9');
SELECT to_number('12', 'PR99');
SELECT to_number('12', '9V9.9');
SELECT to_number('1.5', '9.9EEEE');
SELECT to_number('12', 'RN');
SELECT to_char(12, '9.9.9');
SELECT to_char(12.5, 'EEEE9');
SELECT to_char(12, 'C99SP');

-- SET TIME ZONE: an interval is an offset east of Greenwich, a string a POSIX
-- zone (west); SHOW prints the zone's name as PostgreSQL makes it.
SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE;
SHOW timezone;
SELECT '2024-01-01 12:00:00+00'::timestamptz, current_setting('TimeZone');
SET TIME ZONE INTERVAL '-08:00';
SHOW timezone;
SELECT '2024-07-01 12:00:00+00'::timestamptz, extract(timezone FROM '2024-07-01 12:00:00+00'::timestamptz);
SET TIME ZONE '+02:00';
SHOW timezone;
SELECT '2024-01-01 12:00:00+00'::timestamptz;
SET TIME ZONE INTERVAL '02:30:45' HOUR TO MINUTE;
SHOW timezone;
SET TIME ZONE INTERVAL '1.5' HOUR;
SHOW timezone;
SET TIME ZONE INTERVAL(0) '01:00:00.7';
SHOW timezone;
SET TIME ZONE INTERVAL '-7 hours 30 minutes';
SHOW timezone;
SELECT '2024-01-01 12:00:00+00'::timestamptz;
SET TIME ZONE INTERVAL '1 day';
SET TIME ZONE INTERVAL '1 month';
SET TIME ZONE INTERVAL '200 hours';
SET TIME ZONE INTERVAL 'x';
SET TIME ZONE INTERVAL '02:30' MINUTE TO SECOND;
SHOW timezone;
SET TIME ZONE LOCAL;
SHOW timezone;
SET TIME ZONE 5;
SHOW timezone;
SET TIME ZONE DEFAULT;
SHOW timezone;
BEGIN;
SET LOCAL TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE;
SHOW timezone;
SELECT '2024-01-01 12:00:00+00'::timestamptz;
COMMIT;
SHOW timezone;
SET TIME ZONE 'UTC';

-- Numeric literals are numeric input, with its range checks.
SELECT 1e-100000;
SELECT 1e200000;
SELECT -1e200000;
SELECT 0e-100000;
SELECT 1e-16384;
SELECT 1e131072;
SELECT 1 WHERE 1e-20000 > 0;
SELECT 0.0e200000, 1e-16383 > 0, 1e131071 > 0, 1.5e-16382 > 0, 12e-2, 1.5e3;

-- A correlated subquery that calls a volatile function runs again for every
-- row (an uncorrelated one once, as PostgreSQL's initplan).
CREATE TABLE flo_vol (id int PRIMARY KEY, x int);
INSERT INTO flo_vol VALUES (1, 1), (2, 1), (3, 1), (4, 2);
CREATE SEQUENCE flo_seq CACHE 1;
SELECT id, (SELECT nextval('flo_seq') WHERE t.x = t.x) FROM flo_vol t ORDER BY id;
SELECT id, (SELECT nextval('flo_seq')) FROM flo_vol t ORDER BY id;
SELECT id, (SELECT ARRAY[nextval('flo_seq'), t.x]) FROM flo_vol t ORDER BY id;
SELECT id, (SELECT count(*) FROM flo_vol u WHERE nextval('flo_seq') > t.x) FROM flo_vol t ORDER BY id;
SELECT nextval('flo_seq');
SELECT count(DISTINCT r) FROM (SELECT (SELECT gen_random_uuid() WHERE t.x = t.x) r FROM flo_vol t) s;
SELECT count(DISTINCT r) FROM (SELECT (SELECT random() WHERE t.x = t.x) r FROM flo_vol t) s;
SELECT count(DISTINCT r) FROM (SELECT (SELECT random()) r FROM flo_vol t) s;
SELECT count(DISTINCT r) FROM (SELECT (SELECT (SELECT random()) WHERE t.x = t.x) r FROM flo_vol t) s;
SELECT count(DISTINCT r) FROM (SELECT (SELECT t.x * 10 + 1 WHERE t.x = t.x) r FROM flo_vol t) s;
DROP SEQUENCE flo_seq;
DROP TABLE flo_vol;

-- generate_series over timestamps takes infinite bounds (a LIMIT ends it);
-- numeric series refuse them, as PostgreSQL 15 does.
SELECT generate_series('2020-01-01'::timestamp, 'infinity'::timestamp, '1 day') LIMIT 3;
SELECT generate_series('2020-01-31'::timestamptz, 'infinity'::timestamptz, '1 month') LIMIT 3;
SELECT generate_series('-infinity'::timestamp, '2020-01-01'::timestamp, '1 day') LIMIT 3;
SELECT generate_series('infinity'::timestamp, '2020-01-01'::timestamp, '-1 day') LIMIT 2;
SELECT generate_series('infinity'::timestamp, 'infinity'::timestamp, '1 hour') LIMIT 2;
SELECT generate_series('2020-01-01'::timestamp, '-infinity'::timestamp, '-1 year') LIMIT 2;
SELECT generate_series('2020-01-01'::date, 'infinity'::date, '1 week') LIMIT 2;
SELECT count(*) FROM (SELECT generate_series('2020-01-01'::timestamp, 'infinity'::timestamp, '1 minute') LIMIT 5000) s;
SELECT * FROM generate_series('infinity'::timestamp, '2020-01-01'::timestamp, '1 day');
SELECT * FROM generate_series('2020-01-01'::timestamp, '-infinity'::timestamp, '1 day');
SELECT generate_series('294276-12-30'::timestamp, '294276-12-31'::timestamp, '1 day');
SELECT generate_series('2020-01-01'::timestamp, 'infinity'::timestamp, '0 days') LIMIT 1;
SELECT generate_series(1, 'infinity'::numeric) LIMIT 3;
SELECT generate_series('-infinity'::numeric, 1) LIMIT 3;
SELECT generate_series(1, 10, 'infinity'::numeric) LIMIT 3;
SELECT generate_series(1, 3, 0.5), generate_series(1.0, 2);

-- The two-variable statistics, with PostgreSQL's digits (regr_*(Y, X)).
CREATE TABLE flo_xy (g int, y float8, x float8, yi int, xn numeric);
INSERT INTO flo_xy VALUES (1, 1, 2, 1, 2), (1, 2, 4.5, 2, 4.5), (1, NULL, 3, NULL, 3), (1, 3.25, NULL, 3, NULL),
  (1, 7, 9.1, 7, 9.1), (2, 5, 5, 5, 5), (3, 1, 1, 1, 1), (3, 2, 1, 2, 1), (4, NULL, NULL, NULL, NULL),
  (5, 0.1, 0.7, 0, 0.7), (5, 0.2, 0.3, 0, 0.3), (5, 1e-3, 1e3, 0, 1e3), (6, 'infinity', 1, 1, 1), (6, 1, 2, 1, 2),
  (7, 1e300, 1, 1, 1), (7, -1e300, 2, 1, 2);
SELECT g, regr_count(y, x), regr_sxx(y, x), regr_syy(y, x), regr_sxy(y, x), regr_avgx(y, x), regr_avgy(y, x)
  FROM flo_xy WHERE g < 7 GROUP BY g ORDER BY g;
SELECT g, regr_r2(y, x), regr_slope(y, x), regr_intercept(y, x), covar_pop(y, x), covar_samp(y, x), corr(y, x)
  FROM flo_xy WHERE g < 7 GROUP BY g ORDER BY g;
SELECT regr_syy(y, x) FROM flo_xy WHERE g = 7;
SELECT regr_slope(yi, xn), corr(yi, xn), covar_samp(yi, x), regr_count(yi, xn), regr_avgx(yi, xn) FROM flo_xy WHERE g < 7;
SELECT g, corr(y, x) OVER (ORDER BY g), regr_count(y, x) OVER () FROM flo_xy WHERE g < 6 ORDER BY g, y, x;
SELECT corr(y, x), regr_count(y, x), covar_pop(y, x) FROM flo_xy WHERE false;
SELECT pg_typeof(regr_count(1, 2)), pg_typeof(corr(1, 2)), pg_typeof(covar_pop(1.5, 2));
DROP TABLE flo_xy;

-- Unknown literals reach aggregate resolution as unknown.
SELECT string_agg(b, ',') FROM (VALUES ('a'::bytea), ('b'), (NULL)) v(b);
SELECT string_agg(b, NULL ORDER BY b DESC) FROM (VALUES ('a'::bytea), ('b')) v(b);
SELECT string_agg(b, d) FROM (VALUES ('a'::bytea, ','::bytea), ('b', '-'), (NULL, '+'), ('c', NULL)) v(b, d);
SELECT string_agg(b, ',') OVER (ORDER BY b) FROM (VALUES ('a'::bytea), ('b')) v(b) ORDER BY 1;
SELECT string_agg('a', ','), max('a'), count('a'), stddev('1'), json_object_agg('a', 'b');
SELECT array_agg('a');
SELECT array_agg(NULL);
SELECT json_agg('a');
SELECT sum('1');

-- PostgreSQL 15's regexp_instr, regexp_substr and unistr.
SELECT regexp_instr('abcabc', 'b'), regexp_instr('abcabc', 'b', 3), regexp_instr('abcabc', 'b', 1, 2), regexp_instr('abcabc', 'b', 1, 3);
SELECT regexp_instr('abcabc', 'b', 1, 1, 1), regexp_instr('abcabc', 'bc', 1, 2, 1), regexp_instr('abcabc', 'B', 1, 1, 0, 'i');
SELECT regexp_instr('abcdef', 'a(b)(c)', 1, 1, 0, '', 2), regexp_instr('abcdef', 'a(b)(c)', 1, 1, 1, '', 2), regexp_instr('abcdef', 'a(b)(c)', 1, 1, 0, '', 3);
SELECT regexp_instr('abc', 'b', 1, 1, 0, '', 1), regexp_instr('abc', 'a(x)?b', 1, 1, 0, '', 1), regexp_instr('héllo wörld', 'w'), regexp_instr('abc', 'x*', 4);
SELECT regexp_instr('', 'x*'), regexp_instr('axxb', 'x*', 1, 2), regexp_instr('axxb', 'x*', 1, 3), regexp_instr('axxb', 'x*', 1, 4), regexp_instr('axxb', 'x*', 1, 5);
SELECT regexp_substr('abcabc', 'b.'), regexp_substr('abcabc', 'b.', 3), regexp_substr('abcabc', 'b.', 1, 2), regexp_substr('abcabc', 'b.', 1, 3);
SELECT regexp_substr('abcdef', 'a(b)(c)', 1, 1, '', 2), regexp_substr('abcdef', 'a(b)(c)', 1, 1, '', 3), regexp_substr('ABC', 'b', 1, 1, 'i'), regexp_substr('abc', 'a(x)?b', 1, 1, '', 1);
SELECT regexp_substr('abc', 'b', 1, 1, '', 1), regexp_substr('axxb', 'x*', 1, 2), regexp_substr('axxb', 'x*', 1, 1), regexp_substr('abc', 'x*', 4), regexp_substr('abc', 'x*', 5);
SELECT regexp_instr(NULL, 'b'), regexp_substr('abc', NULL), regexp_substr('abc', 'b', NULL);
SELECT regexp_instr('abc', 'b', 0);
SELECT regexp_instr('abc', 'b', 1, 1, 2);
SELECT regexp_instr('abc', 'b', 1, 1, 0, 'g');
SELECT regexp_substr('abc', 'b', 1, -1);
SELECT regexp_substr('abc', 'b', 1, 1, '', -2);
SELECT unistr('\0041\0042'), unistr('d\u0061t\U00000061'), unistr('\+01F600'), unistr('\D83D\DE00'), unistr('a\\b'), unistr('\u00e9x');
SELECT unistr('\0000');
SELECT unistr('\D800');
SELECT unistr('\D83D\u0041');
SELECT unistr('\X');
SELECT unistr('\U00110000');

-- Errors come out in row order: rows before a failing one satisfy a LIMIT first.
SELECT 1 / (x - 3) FROM generate_series(1, 5) x LIMIT 2;
SELECT 1 / (x - 3) FROM generate_series(1, 5) x LIMIT 3;
SELECT x FROM generate_series(1, 5) x WHERE 1 / (x - 3) < 0 LIMIT 2;
SELECT x FROM generate_series(1, 5) x WHERE 1 / (x - 3) < 0 LIMIT 3;
SELECT * FROM (VALUES (1), (2), (1 / 0)) v(a) LIMIT 2;
SELECT * FROM (VALUES (1), (2), (1 / 0)) v(a) LIMIT 3;
SELECT generate_series(1, 3), 10 / (3 - generate_series(1, 3)) LIMIT 2;
SELECT * FROM generate_series('294276-12-30'::timestamp, 'infinity', '1 day') LIMIT 1;
SELECT * FROM generate_series('294276-12-30'::timestamp, 'infinity', '1 day') LIMIT 3;
-- A function in FROM is computed whole first: its error surfaces under any LIMIT.
SELECT * FROM generate_series(1, 3) g, LATERAL (SELECT 10 / (2 - g)) s LIMIT 1;
