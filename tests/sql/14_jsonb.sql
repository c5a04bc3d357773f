-- jsonb: input normalisation and text output (key order, spacing, duplicate
-- keys, numbers), the -> ->> #> #>> @> <@ ? operators, jsonb_typeof and a few
-- builders, jsonb columns, and invalid input.

SELECT '{"b": 1, "a": [1, 2, {"c": null}]}'::jsonb, '[1,"a",true,null]'::jsonb, '"str"'::jsonb, '12.50'::jsonb, 'null'::jsonb, '{}'::jsonb, '[]'::jsonb;
SELECT '{"a":1,"a":2}'::jsonb, '{"bb":1,"a":2,"ccc":3}'::jsonb, '  { "x" :  [ 1 , 2 ] }  '::jsonb, '1e3'::jsonb, '-0.0'::jsonb;
SELECT '{"a": "\u00e9\n"}'::jsonb, '["tab\tx"]'::jsonb;
SELECT '{"a": 1'::jsonb;
SELECT '{a: 1}'::jsonb;
SELECT '{"a": {"b": [10, 20, 30]}, "s": "text", "n": null}'::jsonb -> 'a';
SELECT j -> 'a' -> 'b' -> 1, j -> 'a' -> 'b' ->> 1, j ->> 's', j -> 's', j ->> 'n', j -> 'n', j -> 'missing', j -> 'a' -> 'b' -> -1, j -> 'a' -> 'b' -> 9
  FROM (SELECT '{"a": {"b": [10, 20, 30]}, "s": "text", "n": null}'::jsonb AS j) AS t;
SELECT j #> '{a,b,0}', j #>> '{a,b}', j #> '{x}'
  FROM (SELECT '{"a": {"b": [10, 20, 30]}}'::jsonb AS j) AS t;
SELECT '[1,2,3]'::jsonb -> 0, '[1,2,3]'::jsonb ->> 2, '{"1": "x"}'::jsonb -> '1', '5'::jsonb -> 'a';
SELECT '{"a":1,"b":2}'::jsonb @> '{"a":1}', '{"a":1}'::jsonb @> '{"a":1,"b":2}', '{"a":1}'::jsonb <@ '{"a":1,"b":2}', '[1,2,3]'::jsonb @> '[3,1]', '{"a":[1,2]}'::jsonb @> '{"a":[2]}';
SELECT '{"a":1,"b":null}'::jsonb ? 'b', '{"a":1}'::jsonb ? 'z', '["x","y"]'::jsonb ? 'y', '{"a":1,"b":2}'::jsonb ?| array['z','b'], '{"a":1,"b":2}'::jsonb ?& array['a','z'];
SELECT jsonb_typeof('{}'), jsonb_typeof('[]'), jsonb_typeof('1'), jsonb_typeof('"s"'), jsonb_typeof('true'), jsonb_typeof('null');
SELECT '{"a":1}'::jsonb = '{ "a" : 1 }'::jsonb, '[1,2]'::jsonb = '[2,1]'::jsonb, '1.0'::jsonb = '1'::jsonb;
SELECT '{"a":1}'::jsonb || '{"b":2}'::jsonb, '{"a":1,"b":2}'::jsonb - 'a', '[1,2,3]'::jsonb - 0, jsonb_array_length('[1,2,3]');
SELECT jsonb_build_object('a', 1, 'b', 'x', 'c', NULL), jsonb_build_array(1, 'two', true, NULL), to_jsonb('text'::text), to_jsonb(1.50);
SELECT ('{"n": 42}'::jsonb ->> 'n')::int + 1, ('{"f": 1.5}'::jsonb -> 'f')::numeric(4,2), ('{"t": true}'::jsonb -> 't')::bool;
SELECT '{"a":1}'::jsonb::text, '{"a":1}'::jsonb -> 'a' = '1'::jsonb;
SELECT '{"a":1}'::jsonb -> 1;
SELECT '{"a":1}'::jsonb + 1;

CREATE TABLE js_t (id int PRIMARY KEY, doc jsonb);
INSERT INTO js_t VALUES
    (1, '{"name": "ada", "tags": ["x", "y"], "age": 36}'),
    (2, '{"name": "bo", "tags": [], "age": null}'),
    (3, '{"name": "cy", "address": {"city": "oslo"}}'),
    (4, NULL),
    (5, '[1, 2]');
INSERT INTO js_t VALUES (6, 'not json');
SELECT * FROM js_t ORDER BY id;
SELECT id, doc ->> 'name' AS name, doc -> 'tags' AS tags FROM js_t;
SELECT id FROM js_t WHERE doc @> '{"name": "ada"}';
SELECT id FROM js_t WHERE doc ? 'address';
SELECT id FROM js_t WHERE doc -> 'address' ->> 'city' = 'oslo';
SELECT id FROM js_t WHERE (doc ->> 'age')::int > 30;
SELECT id, jsonb_typeof(doc -> 'age') FROM js_t;
SELECT doc ->> 'name', count(*) FROM js_t GROUP BY doc ->> 'name';
UPDATE js_t SET doc = doc || '{"seen": true}' WHERE id = 1 RETURNING doc;
UPDATE js_t SET doc = jsonb_set(doc, '{address,city}', '"paris"') WHERE id = 3 RETURNING doc;
SELECT id, doc FROM js_t WHERE id IN (1, 3) ORDER BY id;

DROP TABLE js_t;
