-- regexp_instr / regexp_substr / regexp_count, json[b]_to_record[set] with
-- column definition lists, pg_sleep, and multidimensional arrays in expressions.

SELECT regexp_count('abcabcabc', 'b'), regexp_count('ABCabc', 'b', 1, 'i'), regexp_count('abcabc', 'b', 3), regexp_count('aaa', 'a*');
SELECT regexp_instr('abcabc', 'b'), regexp_instr('abcabc', 'b', 3), regexp_instr('abcabc', 'b', 1, 2), regexp_instr('abcabc', 'b', 1, 1, 1), regexp_instr('abcabc', 'x');
SELECT regexp_instr('abcdef', 'c(d)(e)', 1, 1, 0, '', 2), regexp_instr('ABC', 'b', 1, 1, 0, 'i');
SELECT regexp_substr('abcabc', 'b.'), regexp_substr('abcabc', 'b.', 3), regexp_substr('abcabc', 'b.', 1, 2), regexp_substr('abc', 'x');
SELECT regexp_substr('abcdef', 'c(d)(e)', 1, 1, '', 1), regexp_substr('ABC', 'b', 1, 1, 'i');
SELECT regexp_count('abc', 'b', 0);
SELECT regexp_instr('abc', 'b', 1, 0);

SELECT * FROM json_to_record('{"a": 1, "b": "x", "c": [1, 2], "d": {"k": true}}') AS t(a int, b text, c int[], d json);
SELECT * FROM jsonb_to_record('{"a": 1, "b": "x", "e": null}') AS t(a int, b text, e text, missing numeric);
SELECT * FROM json_to_recordset('[{"a": 1, "b": "x"}, {"a": 2}, {"b": "z", "c": 3}]') AS t(a int, b text) ORDER BY a;
SELECT * FROM jsonb_to_recordset('[{"a": 1.5, "b": true}, {"a": -2, "b": false}]') AS t(a numeric, b boolean) ORDER BY a;
SELECT t.a + 1, t.b FROM jsonb_to_record('{"a": 41, "b": "q"}') AS t(a int, b text);
SELECT * FROM jsonb_to_recordset('[]') AS t(a int);
SELECT * FROM json_to_record('{"a": "x"}') AS t(a int);
SELECT * FROM jsonb_to_record('[1, 2]') AS t(a int);
SELECT * FROM jsonb_to_record('{"a": 1}');
SELECT * FROM json_to_record('{"a": [[1, 2], [3, 4]], "b": {"x":  1}, "c": "str", "d": 1.50, "e": [1, "x"], "f": "{1,2}"}') AS t(a int[], b text, c json, d text, e jsonb, f int[]);
SELECT * FROM jsonb_to_record('{"a": [[1, 2], [3, 4]], "b": {"x":  1}, "c": "str", "d": 1.50, "e": [1, "x"], "f": "2024-01-02"}') AS t(a int[], b text, c json, d text, e jsonb, f date);
SELECT * FROM json_to_record('{"a": {"x": 1}}') AS t(a int);
SELECT * FROM json_to_record('{"a": [[1, 2], [3]]}') AS t(a int[]);
SELECT * FROM json_to_recordset('{"a": 1}') AS t(a int);
SELECT * FROM json_to_recordset('[1]') AS t(a int);
SELECT * FROM jsonb_to_record('7') AS t(a int);
SELECT json_to_record('{"a": 1}');
SELECT * FROM generate_series(1, 2) AS g(x int);
SELECT s.id, r.* FROM (VALUES (1, '{"k": "one"}'), (2, '{"k": "two"}')) AS s(id, doc), jsonb_to_record(s.doc::jsonb) AS r(k text) ORDER BY s.id;

SELECT pg_sleep(0.01);
SELECT pg_sleep(0);

SELECT ARRAY[[1, 2], [3, 4]], (ARRAY[[1, 2], [3, 4]])[2][1], (ARRAY[[1, 2], [3, 4]])[1], (ARRAY[1, 2])[1][1];
SELECT array_dims(ARRAY[[1, 2, 3], [4, 5, 6]]), array_ndims(ARRAY[[1, 2], [3, 4]]), array_ndims(ARRAY[1, 2]), array_dims(ARRAY[1]);
SELECT ARRAY[[[1, 2], [3, 4]], [[5, 6], [7, 8]]], (ARRAY[[[1, 2], [3, 4]], [[5, 6], [7, 8]]])[2][1][2];
SELECT array_length(ARRAY[[1, 2, 3], [4, 5, 6]], 1), array_length(ARRAY[[1, 2, 3], [4, 5, 6]], 2), cardinality(ARRAY[[1, 2], [3, 4]]);
SELECT ARRAY[['a', NULL], ['c', 'd']], (ARRAY[[1, 2], [3, 4]])[3][1], (ARRAY[[1, 2], [3, 4]])[1][3], (ARRAY[[1, 2], [3, 4]])[NULL][1];
SELECT ARRAY[ARRAY[1, 2], ARRAY[3, 4]], ARRAY[[1, 2], [3, 4]] = ARRAY[[1, 2], [3, 4]];
SELECT '{{1,2},{3,4}}'::int[], ('{{1,2},{3,4}}'::int[])[2][2], array_dims('{{1,2},{3,4}}'::int[]);
SELECT ARRAY[[1, 2], [3]];
SELECT ARRAY[[1, 2], [3.5, 4]], ARRAY[ARRAY['a'], ARRAY['b']], array_ndims(ARRAY[[[1]]]);
SELECT ARRAY[ARRAY[1, 2], NULL];
SELECT ARRAY[ARRAY[]::int[], ARRAY[]::int[]];
SELECT ARRAY[1, ARRAY[2]];
SELECT a[1][2], a[2], array_upper(a, 2), array_to_string(a, ',') FROM (SELECT ARRAY[[1, 2, 3], [4, 5, 6]] AS a) AS s;
SELECT x, (ARRAY[[x, x + 1], [x * 10, x * 20]])[2][2] FROM generate_series(1, 3) AS x ORDER BY x;
SELECT unnest(ARRAY[[1, 2], [3, 4]]);
