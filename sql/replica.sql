-- Read-replica lag monitor (backend/core/replica.py). Positions are WAL bytes.

-- name: primary_wal_position :value
-- Where the primary's WAL ends now.
SELECT CAST(pg_current_wal_lsn() - CAST('0/0' AS pg_lsn) AS bigint)

-- name: replayed_wal_position :value
-- How far a standby has replayed (a server that is not one: where its WAL ends).
SELECT CAST(
           CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END - CAST('0/0' AS pg_lsn) AS bigint
       )
