#!/bin/sh
# The db service's first start (/docker-entrypoint-initdb.d): let the replica stream from
# it, and put the statement/lock/idle timeouts on the app's role, where they hold when the
# app connects through PgBouncer (no startup parameters there; see scripts/db-roles).
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
ALTER ROLE "$POSTGRES_USER" SET statement_timeout = '5s';
ALTER ROLE "$POSTGRES_USER" SET lock_timeout = '2s';
ALTER ROLE "$POSTGRES_USER" SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE "$POSTGRES_USER" SET timezone = 'UTC';
SQL
