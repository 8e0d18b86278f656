#!/bin/sh
# The db service's first start (/docker-entrypoint-initdb.d), on an empty volume:
# - least privilege, as scripts/db-roles does it (sql/setup/roles.sql): `phresh_owner` owns
#   the schema and runs the migrations, `phresh_app` (what the server connects as) reads and
#   writes rows only, with the statement, lock and idle timeouts on it (where they hold
#   behind PgBouncer too); their passwords from PHRESH_OWNER_PASSWORD / PHRESH_APP_PASSWORD;
# - the replica (scaleout profile) may stream from it as POSTGRES_USER.
# An existing volume skips this: run scripts/db-roles against it once instead.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner=phresh_owner -v app=phresh_app -v dbname="$POSTGRES_DB" \
  -v statement_timeout=5s -v lock_timeout=2s -v idle_in_transaction_timeout=10s \
  -f /etc/phresh/roles.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="${PHRESH_OWNER_PASSWORD:?set PHRESH_OWNER_PASSWORD in .env}" \
  -v app_password="${PHRESH_APP_PASSWORD:?set PHRESH_APP_PASSWORD in .env}" <<'SQL'
ALTER ROLE phresh_owner PASSWORD :'owner_password';
ALTER ROLE phresh_app PASSWORD :'app_password';
SQL
