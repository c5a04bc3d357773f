-- regrole and to_regrole (qp/pgcatalog/names.py): a role by name, folded as the parser folds
-- identifiers; its name, quoted where needed, on output; errors as PostgreSQL 15's.
CREATE ROLE rr_a;
CREATE ROLE "RR Mixed";
SELECT 'rr_a'::regrole, '"RR Mixed"'::regrole, 'RR_A'::regrole;
SELECT 'rr_a'::regrole::oid = (SELECT oid FROM pg_roles WHERE rolname = 'rr_a');
SELECT oid::regrole FROM pg_roles WHERE rolname LIKE 'rr_%' OR rolname LIKE 'RR%' ORDER BY oid::regrole::text;
SELECT 'nosuch'::regrole;
SELECT 'a.b'::regrole;
SELECT to_regrole('rr_a') IS NOT NULL, to_regrole('nosuch'), '-'::regrole, 0::regrole;
SELECT pg_typeof('rr_a'::regrole), ARRAY['rr_a'::regrole]::text;
SELECT 'pg_database_owner'::regrole;
SELECT pg_get_userbyid(member) FROM pg_auth_members WHERE roleid = 'rr_a'::regrole;
DROP ROLE rr_a;
DROP ROLE "RR Mixed";
