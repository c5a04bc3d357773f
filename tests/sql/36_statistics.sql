-- CREATE STATISTICS (kept, shown in pg_statistic_ext) and DROP STATISTICS;
-- a statistics object goes with its table or any of its columns.

CREATE TABLE st (a int, b int, c text);
CREATE STATISTICS st_ab ON a, b FROM st;
CREATE STATISTICS st_ac (ndistinct, mcv) ON a, c FROM st;
CREATE STATISTICS st_one ON a FROM st;
CREATE STATISTICS st_bad (nope) ON a, b FROM st;
CREATE STATISTICS st_ab ON a, b FROM st;
CREATE STATISTICS IF NOT EXISTS st_ab ON a, b FROM st;
CREATE STATISTICS st_x ON a, zz FROM st;
CREATE STATISTICS st_y ON a, b FROM nost;
SELECT stxname, stxkeys::text, stxkind::text, stxrelid = 'st'::regclass FROM pg_statistic_ext ORDER BY stxname;
SELECT pg_get_statisticsobjdef(oid), pg_get_statisticsobjdef_columns(oid) FROM pg_statistic_ext ORDER BY stxname;
DROP STATISTICS st_ab;
DROP STATISTICS st_ab;
DROP STATISTICS IF EXISTS st_ab;
SELECT stxname FROM pg_statistic_ext ORDER BY stxname;
ALTER TABLE st DROP COLUMN c;
SELECT stxname FROM pg_statistic_ext ORDER BY stxname;
CREATE STATISTICS st_ac ON a, b FROM st;
SELECT stxname, stxkeys::text FROM pg_statistic_ext ORDER BY stxname;
DROP TABLE st;
SELECT stxname FROM pg_statistic_ext ORDER BY stxname;
