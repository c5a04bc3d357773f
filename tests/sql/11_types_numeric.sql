-- Numeric types: int2/int4/int8 ranges and input syntax, numeric(p,s)
-- rounding and overflow, float4/float8 text output (shortest round-trip),
-- special values, casts between them with :: and CAST, and invalid input.

CREATE TABLE num_t (id int PRIMARY KEY, s smallint, i integer, b bigint, n numeric(12,4), r real, d double precision);
INSERT INTO num_t VALUES
    (1, 32767, 2147483647, 9223372036854775807, 99999999.9999, 3.4028235e38, 1.7976931348623157e308),
    (2, -32768, -2147483648, -9223372036854775808, -99999999.9999, -1.5, -2.5e-300),
    (3, 0, 0, 0, 0, 0, 0),
    (4, 1, 1, 1, 0.00005, 0.1, 0.1),
    (5, NULL, NULL, NULL, NULL, NULL, NULL),
    (6, -1, 42, 1234567890123, 3.14159, 3.14159, 3.141592653589793);
SELECT * FROM num_t ORDER BY id;
SELECT id, s + 1, i + 1, b - 1, n * 2, r * 2, d * 2 FROM num_t WHERE id IN (3, 4, 6);
INSERT INTO num_t (id, s) VALUES (7, 32768);
INSERT INTO num_t (id, i) VALUES (7, 2147483648);
INSERT INTO num_t (id, b) VALUES (7, 9223372036854775808);
INSERT INTO num_t (id, n) VALUES (7, 100000000);
INSERT INTO num_t (id, n) VALUES (7, 12.34567);
INSERT INTO num_t (id, r) VALUES (8, 1e39);
INSERT INTO num_t (id, d) VALUES (8, 1e309);
INSERT INTO num_t (id, i) VALUES (8, '12abc');
INSERT INTO num_t (id, i) VALUES (8, '  12  ');
INSERT INTO num_t (id, s, b) VALUES (9, '-0', '+77');
SELECT id, s, i, b, n FROM num_t WHERE id >= 7 ORDER BY id;
SELECT id FROM num_t WHERE s < 0;
SELECT id FROM num_t WHERE b > 1000000000000;
SELECT id FROM num_t WHERE n BETWEEN 0 AND 10;
SELECT id FROM num_t WHERE d > 3.14 AND d < 3.15;
SELECT id FROM num_t WHERE r = 0.1;
SELECT id FROM num_t WHERE r = 0.1::real;
SELECT id FROM num_t WHERE d = 0.1;

-- text output of floats
SELECT 0.1::float8, 0.1::float4, 1.0::float8, 100.0::float8, 1e15::float8, 1e16::float8, 1e-5::float8, 123456789012345678::float8;
SELECT 1.5e-7::float8, 2.5e20::float4, 3.0::float4 / 7, 1.0::float8 / 3, 2::float8 / 3, 1e-320::float8;
SELECT 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float8, 'inf'::float4, '-0'::float8, 0.0::float8 * -1;
SELECT 'NaN'::float8 = 'NaN'::float8, 'NaN'::float8 > 1e308, 'Infinity'::float8 + 1, 'Infinity'::float8 - 'Infinity'::float8;
SELECT 'NaN'::numeric(10,2), 'NaN'::numeric(10,2) + 1, 'NaN'::numeric(10,2) > 1;
SELECT 12345678.9::float4, 1234567.89::float4, 16777217::float4, 0.1::float4::float8;
SELECT 1e308::float8 * 10;
SELECT 1e-308::float8 / 1e10;

-- casts
SELECT 1::int2, '12'::int4, CAST('13' AS bigint), 14::text, CAST(15 AS varchar), 3.9::int, -3.9::int, 2.5::int, 3.5::int, (-2.5)::int;
SELECT 2.5::float8::int, 3.5::float8::int, 1e10::float8::bigint, 12.345::numeric(5,1), 12.345::float8::numeric(10,2);
SELECT '1.5'::numeric(4,2), '  -1.5  '::numeric(4,2), '1e2'::numeric(6,2), '1e2'::float8, '.5'::float8, '5.'::numeric(3,1);
SELECT 42::bigint::smallint, 65536::int::bigint, '9223372036854775807'::int8;
SELECT 40000::int::smallint;
SELECT 1e10::float8::int;
SELECT 'abc'::int;
SELECT ''::int;
SELECT '1.5'::int;
SELECT '1.5.5'::numeric(4,2);
SELECT 'x'::float8;
SELECT 1::bool, 0::bool, true::int, false::int;
SELECT 2::bool;
SELECT 'true'::int;
SELECT pg_typeof(1)::text, pg_typeof(1.5)::text, pg_typeof(1::int2 + 1::int2)::text, pg_typeof(3000000000)::text, pg_typeof(1.5::float4 + 1)::text, pg_typeof(1 + 1.5::float4)::text;

DROP TABLE num_t;
