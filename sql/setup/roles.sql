-- Least privilege for one Phresh database (run by scripts/db-roles as a superuser):
--   :owner  owns the schema and runs the migrations (DDL)
--   :app    what the service connects as: rows only (SELECT, INSERT, UPDATE, DELETE),
--           no DDL, no TRUNCATE, no new tables, no other database
-- Idempotent: run it again after restoring a backup or adding a database.
-- psql -v owner=phresh_owner -v app=phresh_app -v dbname=phresh -f sql/setup/roles.sql
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

ALTER DATABASE :"dbname" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO :"app";

\connect :"dbname"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- What earlier migrations (run as another role) created moves to the owner.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner')
FROM pg_tables WHERE schemaname = 'public' \gexec
SELECT format('ALTER VIEW public.%I OWNER TO %I', viewname, :'owner')
FROM pg_views WHERE schemaname = 'public' \gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc AS p
WHERE p.pronamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = p.oid AND d.deptype = 'e') \gexec

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- ... and what later migrations create, as the owner, is granted the same way.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";

-- The app role's session defaults in this database. The app also sends them when it
-- connects directly; behind PgBouncer (DB_POOLER=pgbouncer), which refuses startup
-- parameters, these are the timeouts that hold.
ALTER ROLE :"app" IN DATABASE :"dbname" SET statement_timeout = :'statement_timeout';
ALTER ROLE :"app" IN DATABASE :"dbname" SET lock_timeout = :'lock_timeout';
ALTER ROLE :"app" IN DATABASE :"dbname"
    SET idle_in_transaction_session_timeout = :'idle_in_transaction_timeout';
ALTER ROLE :"app" IN DATABASE :"dbname" SET timezone = 'UTC';
