-- SELECT: projections and aliases, WHERE, ORDER BY (ASC/DESC, NULLS
-- FIRST/LAST, by position, by alias, by expression), LIMIT/OFFSET, DISTINCT.
-- Every ORDER BY here is a total order (ties broken by the key), so the row
-- order is fully determined.

CREATE TABLE sel_p (id int PRIMARY KEY, name text NOT NULL, category text, price numeric(8,2), stock int, active bool);
INSERT INTO sel_p VALUES
    (1, 'apple', 'fruit', 1.20, 50, true),
    (2, 'banana', 'fruit', 0.50, 0, true),
    (3, 'carrot', 'veg', 0.80, 30, true),
    (4, 'daikon', 'veg', 2.10, NULL, false),
    (5, 'eggplant', 'veg', NULL, 12, true),
    (6, 'fig', 'fruit', 3.00, 7, NULL),
    (7, 'grape', NULL, 2.50, 100, true),
    (8, 'Honeydew', 'fruit', 4.75, 3, false),
    (9, 'iceberg', 'veg', 1.10, 25, true),
    (10, 'jackfruit', NULL, NULL, NULL, NULL);

SELECT * FROM sel_p;
SELECT name FROM sel_p WHERE id = 3;
SELECT id, name FROM sel_p WHERE price > 1;
SELECT id, name FROM sel_p WHERE price >= 1.10 AND price < 3;
SELECT id FROM sel_p WHERE category = 'veg' OR stock > 40;
SELECT id FROM sel_p WHERE NOT active;
SELECT id FROM sel_p WHERE active IS NOT TRUE;
SELECT id FROM sel_p WHERE stock <> 0;
SELECT id FROM sel_p WHERE stock != 0 AND category <> 'fruit';
SELECT id, price * stock AS value FROM sel_p WHERE price * stock > 20;
SELECT id AS "Id", name AS label, price AS "price in $" FROM sel_p WHERE id < 3;
SELECT id, name FROM sel_p WHERE name > 'f';
SELECT id, name FROM sel_p WHERE name >= 'Honeydew' AND name < 'b';
SELECT 1 AS one, 'two' AS two, id FROM sel_p WHERE id = 1;
SELECT sel_p.name, p2.id FROM sel_p, sel_p AS p2 WHERE sel_p.id = 1 AND p2.id < 3;

-- ORDER BY
SELECT id, name FROM sel_p ORDER BY name;
SELECT id, name FROM sel_p ORDER BY name DESC;
SELECT id, price FROM sel_p ORDER BY price, id;
SELECT id, price FROM sel_p ORDER BY price DESC, id;
SELECT id, price FROM sel_p ORDER BY price NULLS FIRST, id;
SELECT id, price FROM sel_p ORDER BY price DESC NULLS LAST, id DESC;
SELECT id, category FROM sel_p ORDER BY 2, 1;
SELECT id, category FROM sel_p ORDER BY 2 DESC, 1 DESC;
SELECT id, stock AS s FROM sel_p ORDER BY s, id;
SELECT id, name FROM sel_p ORDER BY length(name), name;
SELECT id, name FROM sel_p ORDER BY lower(name) DESC;
SELECT id, stock FROM sel_p ORDER BY stock % 10, id;
SELECT id, category, price FROM sel_p ORDER BY category NULLS FIRST, price DESC NULLS LAST, id;
SELECT id, active FROM sel_p ORDER BY active, id;
SELECT name FROM sel_p ORDER BY id * -1;
SELECT id FROM sel_p ORDER BY 3;

-- LIMIT and OFFSET
SELECT id, name FROM sel_p ORDER BY id LIMIT 3;
SELECT id, name FROM sel_p ORDER BY id LIMIT 3 OFFSET 2;
SELECT id FROM sel_p ORDER BY id OFFSET 8;
SELECT id FROM sel_p ORDER BY id OFFSET 20;
SELECT id FROM sel_p ORDER BY id LIMIT 0;
SELECT id FROM sel_p ORDER BY id DESC LIMIT 2;
SELECT id FROM sel_p ORDER BY price DESC NULLS LAST, id LIMIT 4;
SELECT id FROM sel_p ORDER BY id LIMIT ALL;
SELECT id FROM sel_p ORDER BY id LIMIT NULL;
SELECT id FROM sel_p ORDER BY id FETCH FIRST 2 ROWS ONLY;
SELECT id FROM sel_p ORDER BY id LIMIT -1;
SELECT id FROM sel_p ORDER BY id OFFSET -1;

-- DISTINCT
SELECT DISTINCT category FROM sel_p;
SELECT DISTINCT category FROM sel_p ORDER BY category;
SELECT DISTINCT active, category FROM sel_p;
SELECT DISTINCT stock > 10 FROM sel_p;
SELECT count(DISTINCT category) FROM sel_p;
SELECT DISTINCT ON (category) category, name FROM sel_p ORDER BY category, name;
SELECT DISTINCT category FROM sel_p ORDER BY price;

-- expressions in the select list, errors
SELECT id, name || ' (' || coalesce(category, '?') || ')' AS label FROM sel_p WHERE id IN (1, 7);
SELECT nosuch FROM sel_p;
SELECT sel_p.nosuch FROM sel_p;
SELECT id FROM sel_p WHERE name = 1;
SELECT id FROM sel_p ORDER BY nosuch;
SELECT id FROM sel_p WHERE price > 'abc';
SELECT * FROM sel_p WHERE stock / 0 > 1;
SELECT id FROM sel_p AS x WHERE sel_p.id = 1;

DROP TABLE sel_p;
