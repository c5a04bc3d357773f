-- GRANTED BY (qp/bind/ddl/grants.py): on privileges, PostgreSQL 15 accepts only the current
-- user (0A000 "grantor must be current user" for any other role); on role memberships it
-- records the role named as the grantor. An unknown role is 42704 either way.
CREATE ROLE gb_owner;
CREATE ROLE gb_a;
CREATE ROLE gb_b;
CREATE ROLE gb_c;
GRANT CREATE ON SCHEMA public TO gb_owner;
SET ROLE gb_owner;
CREATE TABLE gb_t (x int);
GRANT SELECT ON gb_t TO gb_a GRANTED BY CURRENT_USER;
GRANT SELECT ON gb_t TO gb_b GRANTED BY gb_a;
GRANT INSERT ON gb_t TO gb_b GRANTED BY CURRENT_ROLE;
GRANT UPDATE ON gb_t TO gb_b GRANTED BY gb_owner;
REVOKE SELECT ON gb_t FROM gb_a GRANTED BY CURRENT_USER;
REVOKE INSERT ON gb_t FROM gb_b GRANTED BY gb_a;
GRANT SELECT ON gb_t TO gb_b GRANTED BY nosuch;
SELECT relacl::text[] FROM pg_class WHERE relname = 'gb_t';
RESET ROLE;
GRANT gb_a TO gb_b GRANTED BY gb_c;
GRANT gb_c TO gb_a GRANTED BY gb_owner;
SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), pg_get_userbyid(grantor)
FROM pg_auth_members WHERE pg_get_userbyid(roleid) LIKE 'gb_%' ORDER BY 1, 2;
REVOKE gb_a FROM gb_b GRANTED BY gb_c;
REVOKE gb_c FROM gb_a GRANTED BY gb_b;
GRANT gb_a TO gb_b GRANTED BY nosuch;
SELECT pg_get_userbyid(roleid), pg_get_userbyid(member)
FROM pg_auth_members WHERE pg_get_userbyid(roleid) LIKE 'gb_%' ORDER BY 1, 2;
DROP TABLE gb_t;
REVOKE CREATE ON SCHEMA public FROM gb_owner;
DROP ROLE gb_owner;
DROP ROLE gb_a;
DROP ROLE gb_b;
DROP ROLE gb_c;
