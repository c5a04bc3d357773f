-- SQL/JSON path: @?, @@ and jsonb_path_exists/match/query/query_array/query_first
-- over member and array accessors, wildcards, filters with comparisons,
-- exists and starts with, $variables from vars, arithmetic, lax and strict.

CREATE TABLE jp (id int PRIMARY KEY, doc jsonb);
INSERT INTO jp VALUES
    (1, '{"a": 1, "b": {"c": [1, 2, 3]}, "tags": ["x", "y"], "name": "alpha"}'),
    (2, '{"a": 5, "b": {"c": [4]}, "tags": [], "name": "beta"}'),
    (3, '{"a": "text", "b": null, "name": "gamma", "items": [{"k": 1, "v": "p"}, {"k": 2, "v": "q"}, {"k": 3}]}'),
    (4, '[1, 2, {"a": 3}]'),
    (5, '7');

SELECT id, doc @? '$.a' FROM jp ORDER BY id;
SELECT id, doc @? '$.b.c[*] ? (@ > 2)', doc @? 'strict $.a' FROM jp ORDER BY id;
SELECT id, doc @@ '$.a > 2', doc @@ '$.a == "text"', doc @@ 'exists($.tags[0])' FROM jp ORDER BY id;
SELECT id FROM jp WHERE doc @? '$.items[*] ? (@.k >= 2 && exists(@.v))' ORDER BY id;
SELECT id FROM jp WHERE doc @@ '$.name starts with "g"' ORDER BY id;
SELECT id, jsonb_path_exists(doc, '$.b.c'), jsonb_path_exists(doc, 'lax $[*].a') FROM jp ORDER BY id;
SELECT id, jsonb_path_query_array(doc, '$.b.c[*]'), jsonb_path_query_first(doc, '$.tags[*]') FROM jp ORDER BY id;
SELECT id, jsonb_path_query(doc, '$.items[*].k') FROM jp WHERE id = 3 ORDER BY 2;
SELECT jsonb_path_query('{"a": [1, 2, 3, 4, 5]}', '$.a[1 to 3]');
SELECT jsonb_path_query('{"a": [1, 2, 3, 4, 5]}', '$.a[last]'), jsonb_path_query_array('{"a": [1, 2, 3, 4, 5]}', '$.a[0, last - 1]');
SELECT jsonb_path_query_array('{"a": {"x": 1, "y": [2]}}', '$.a.*'), jsonb_path_query_array('[[1, 2], [3]]', '$[*][*]');
SELECT jsonb_path_query_array('{"a": [1, 2, 3]}', '$.a ? (@ >= $min && @ <= $max)', '{"min": 2, "max": 3}');
SELECT jsonb_path_query_array('[1, "a", null, true, {"b": 1}, [2]]', '$[*] ? (@ == null)'), jsonb_path_query_array('[1, "a", null]', '$[*] ? (@ != 1)');
SELECT jsonb_path_query_array('{"a": [1, 2]}', '$.a[*] + 10'), jsonb_path_query_first('{"a": 3}', '$.a * 2 - 1'), jsonb_path_query_first('{"a": 7}', '$.a % 4');
SELECT jsonb_path_query_array('[1, -2.5]', '-$[*]'), jsonb_path_query_first('{"a": 1}', '$.a / 4');
SELECT jsonb_path_query_array('{"a": [1, [2, 3]], "b": "s"}', '$.a.size()'), jsonb_path_query_array('[1, "s", null, {}, [], true]', '$[*].type()');
SELECT jsonb_path_query_array('[-1.5, 2.5]', '$[*].abs()'), jsonb_path_query_array('[-1.5, 2.5]', '$[*].floor()'), jsonb_path_query_array('[-1.5, 2.5]', '$[*].ceiling()');
SELECT jsonb_path_query('{"a": 2}', '$.a > 1'), jsonb_path_query('{"a": "x"}', '$.a > 1'), jsonb_path_query('{}', '$.a == 1');
SELECT jsonb_path_match('{"a": 2}', '$.a > 1'), jsonb_path_match('{"a": "x"}', '$.a > 1'), jsonb_path_match('{}', '!(exists($.a))');
SELECT jsonb_path_match('{"a": [1, 2]}', '$.a[*] > 1 || $.a[*] < 0'), jsonb_path_match('{"a": "x"}', '($.a > 1) is unknown');
SELECT jsonb_path_query_array('{"a": [1, 2, 3]}', 'lax $.a ? (@ > 1)'), jsonb_path_query_array('{"a": [1, 2, 3]}', 'strict $.a[*] ? (@ > 1)');
SELECT jsonb_path_query_array('{"a": {"b": 1}}', 'lax $.a[0].b'), jsonb_path_query_array('[{"b": 1}, {"b": 2}]', 'lax $.b');
SELECT jsonb_path_query_array('{"a b": 1, "c": {"d\"e": 2}}', '$."a b"'), jsonb_path_query_array('{"c": {"d\"e": 2}}', '$.c."d\"e"');
SELECT jsonb_path_query_array('[{"k": 1}, {"k": 2}]', '$[*] ? (@.k == $"key")', '{"key": 2}');
SELECT jsonb_path_exists('{"a": 1}', 'strict $.b', '{}', true), jsonb_path_match('1', '$', '{}', true);
SELECT jsonb_path_query_first('[]', '$[0]'), jsonb_path_query_array('{}', '$.nope');

-- jsonpath values: normalized text, binary in the extended protocol
SELECT '$.a[*] ? (@ > 1 && exists(@.b))'::jsonpath, 'strict $."a b"[1 to 2, last]'::jsonpath, '$x.size()'::jsonpath;
SELECT '$.a + 1 * 2'::jsonpath, '($.a + 1) * 2'::jsonpath, '-$.a'::jsonpath, '- -1'::jsonpath, '$.a - 1 - 2'::jsonpath;
SELECT '$ ? (!(@ == 1) || @ starts with "x")'::jsonpath, '$.a ? ((@ > 1) is unknown)'::jsonpath, '$.a > 1'::jsonpath;
SELECT pg_typeof('$'::jsonpath), '$.a'::jsonpath::text, jsonb_path_query_array('[1, 2]', p) FROM (SELECT '$[*] ? (@ > 1)'::jsonpath AS p) AS s;
SELECT ARRAY['$.a'::jsonpath, '$.b'::jsonpath];
SELECT '{"a": 1}'::jsonb @? 'a'::text;
SELECT '$.a +'::jsonpath;

-- errors
SELECT jsonb_path_query('1', 'strict $.a');
SELECT jsonb_path_query('{}', 'strict $.a');
SELECT jsonb_path_query('[1]', 'strict $[5]');
SELECT jsonb_path_query('1', 'strict $[*]');
SELECT jsonb_path_query('1', 'strict $.*');
SELECT jsonb_path_query('{}', '$x');
SELECT jsonb_path_match('1', '$');
SELECT jsonb_path_query('"a"', '$ + 1');
SELECT jsonb_path_query('[1, 2]', '$ + 1');
SELECT jsonb_path_query('1', '$ / 0');
SELECT jsonb_path_query('{}', '$.a +');
SELECT jsonb_path_query('{}', '@.a');
SELECT jsonb_path_query('{}', '$.a', '[1]');
SELECT '{"a": 1}'::jsonb @? '$.a ==';



-- outside the supported subset: refused, never answered differently
-- @dsql-error 0A000
SELECT jsonb_path_query('{"a": {"b": 1}}', '$.**');
-- @dsql-error 0A000
SELECT jsonb_path_query('["abc"]', '$[*] ? (@ like_regex "^a")');
-- @dsql-error 0A000
SELECT jsonb_path_query('"2024-01-01"', '$.datetime()');
DROP TABLE jp;
