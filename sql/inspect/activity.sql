-- Connections to this database by state and application, then every lock that is waited
-- for (who waits, on what, and who holds it).
SELECT application_name, state, count(*) AS connections,
       max(greatest(now() - state_change, interval '0')) AS longest_in_state,
       max(now() - xact_start) FILTER (WHERE xact_start IS NOT NULL) AS longest_transaction
FROM pg_stat_activity
WHERE datname = current_database()
GROUP BY application_name, state
ORDER BY connections DESC;

SELECT waiting.pid AS waiting_pid,
       left(waiting.query, 60) AS waiting_query,
       now() - waiting.query_start AS waiting_for,
       blocking.pid AS blocking_pid,
       left(blocking.query, 60) AS blocking_query,
       blocking.state AS blocking_state
FROM pg_stat_activity AS waiting
JOIN LATERAL unnest(pg_blocking_pids(waiting.pid)) AS b(pid) ON true
JOIN pg_stat_activity AS blocking ON blocking.pid = b.pid
WHERE waiting.datname = current_database();
