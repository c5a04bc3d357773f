-- Strings: text, varchar(n) and char(n) semantics, concatenation, LIKE/ILIKE,
-- and common string functions (length, lower, upper, substring, position,
-- trim, lpad/rpad, replace, concat, split_part, left/right, repeat, reverse,
-- initcap...), including NULL arguments and multibyte characters.

SELECT 'abc' || 'def', 'x' || 1, 1 || 'x', 'a' || NULL || 'b', concat('a', NULL, 'b', 1, true);
SELECT concat_ws('-', 'a', NULL, 'b'), concat_ws(NULL, 'a', 'b');
SELECT length('hello'), length(''), length(NULL::text), char_length('héllo'), octet_length('héllo');
SELECT lower('MiXeD'), upper('MiXeD'), initcap('hello wORLD foo-bar'), lower(NULL);
SELECT substring('abcdef' FROM 2 FOR 3), substring('abcdef' FROM 4), substring('abcdef', 2, 2), substr('abcdef', 3);
SELECT substring('abcdef' FROM 0 FOR 3), substring('abcdef' FROM -1 FOR 3), substring('abc' FROM 10);
SELECT substring('abc' FROM 1 FOR -1);
SELECT position('c' IN 'abcabc'), position('z' IN 'abc'), position('' IN 'abc'), strpos('abcabc', 'ca');
SELECT trim('  x  '), ltrim('  x  '), rtrim('  x  '), trim(BOTH 'x' FROM 'xxaxx'), trim(LEADING 'x' FROM 'xxaxx'), trim(TRAILING 'x' FROM 'xxaxx');
SELECT btrim('xyaxy', 'xy'), ltrim('xxay', 'x'), rtrim('ayyy', 'y');
SELECT lpad('7', 3, '0'), lpad('hello', 3), rpad('ab', 5, '*'), lpad('x', 5), rpad('x', 0), lpad('ab', 6, 'xy');
SELECT replace('banana', 'an', 'AN'), replace('aaa', 'a', ''), replace('abc', '', 'x'), translate('hello', 'el', 'ip');
SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', 4), split_part('a,,c', ',', 2), split_part('a,b,c', ',', -1);
SELECT left('abcdef', 2), right('abcdef', 2), left('abc', -1), right('abc', -1), left('ab', 10);
SELECT repeat('ab', 3), repeat('x', 0), repeat('x', -1), reverse('abc'), reverse('');
SELECT ascii('A'), chr(66), md5('abc'), starts_with('hello', 'he');
SELECT 'abc' < 'abd', 'abc' < 'ab', 'Z' < 'a', '' < 'a', 'a' = 'a ';
SELECT format('%s-%s', 'a', 1), format('%L', 'it''s'), format('%I', 'Col');
SELECT quote_ident('x y'), quote_literal('a''b'), quote_nullable(NULL);
SELECT 'it''s', E'tab\there', 'back\slash', $$dollar 'quoted'$$, U&'\0041';
SELECT length(repeat('é', 10)), upper('é'), substring('héllo' FROM 2 FOR 2), reverse('añb');

-- LIKE, ILIKE and escapes
CREATE TABLE str_t (id int PRIMARY KEY, s text, v varchar(5), c char(4));
INSERT INTO str_t VALUES (1, 'apple', 'ab', 'ab'), (2, 'Apple pie', 'abc', 'abcd'), (3, 'banana', NULL, NULL), (4, '100%', 'x y', ' x'), (5, 'a_b', '', ''), (6, NULL, 'Z', 'z');
SELECT id FROM str_t WHERE s LIKE 'a%';
SELECT id FROM str_t WHERE s ILIKE 'a%';
SELECT id FROM str_t WHERE s LIKE '%an%';
SELECT id FROM str_t WHERE s LIKE '_pple';
SELECT id FROM str_t WHERE s NOT LIKE '%a%';
SELECT id FROM str_t WHERE s NOT ILIKE '%A%';
SELECT id FROM str_t WHERE s LIKE '%\%';
SELECT id FROM str_t WHERE s LIKE 'a\_b';
SELECT id FROM str_t WHERE s LIKE 'a#_b' ESCAPE '#';
SELECT id FROM str_t WHERE s LIKE 'apple';
SELECT id FROM str_t WHERE s ~~ '%e';
SELECT 'abc' LIKE 'ABC', 'abc' ILIKE 'ABC', NULL LIKE 'a', 'a' LIKE NULL, '' LIKE '%', 'x' LIKE '';

-- varchar(n) and char(n)
SELECT id, v, length(v), c, length(c), octet_length(c), c || '|' FROM str_t;
SELECT id FROM str_t WHERE c = 'ab';
SELECT id FROM str_t WHERE c = 'ab  ';
SELECT id FROM str_t WHERE v = 'ab  ';
INSERT INTO str_t (id, v) VALUES (7, 'toolong');
INSERT INTO str_t (id, c) VALUES (7, 'toolong');
INSERT INTO str_t (id, v, c) VALUES (7, 'ok   ', 'ok    ');
SELECT v, length(v), c, length(c) FROM str_t WHERE id = 7;
SELECT 'toolong'::varchar(3), 'toolong'::char(3), 'a'::char(3), 'a'::char(3) || 'b', CAST('abc' AS varchar(2));
SELECT upper(v), lower(c), v || c FROM str_t WHERE id = 2;
SELECT max(v), min(c) FROM str_t;
SELECT id, s FROM str_t ORDER BY s NULLS FIRST, id;

-- functions on columns
SELECT id, upper(s), length(s), left(s, 3), replace(s, 'a', '4') FROM str_t;
SELECT string_agg(s, '|' ORDER BY id) FROM str_t;
SELECT id FROM str_t WHERE position('p' IN s) > 0;
SELECT id, split_part(s, ' ', 1) FROM str_t WHERE s IS NOT NULL;
SELECT lower(s) AS l, count(*) FROM str_t GROUP BY lower(s) HAVING count(*) > 0;

-- errors
SELECT length(1, 2);
SELECT nosuchfunc('a');
SELECT substring('abc' FROM 'x' FOR 1);
SELECT repeat('a', 'b');
SELECT chr(-1);

DROP TABLE str_t;
