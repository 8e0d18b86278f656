#!/bin/sh
# The db-replica service: on first start a base backup of `db` (pg_basebackup -R: it then
# streams from it as a hot standby), afterwards just the server.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h db -U "$POSTGRES_USER" \
      -D "$PGDATA" -R -X stream -c fast; do
    echo "waiting for the primary..." >&2; sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby_feedback=on
