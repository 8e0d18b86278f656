-- The 15 statements with the most total execution time (pg_stat_statements).
SELECT EXISTS (
    SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'
) AS has_pg_stat_statements \gset
\if :has_pg_stat_statements
SELECT calls,
       round(total_exec_time::numeric, 1) AS total_ms,
       round(mean_exec_time::numeric, 2) AS mean_ms,
       round(max_exec_time::numeric, 2) AS max_ms,
       rows,
       left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT 15;
\else
\echo 'pg_stat_statements is not installed in this database. To enable it:'
\echo '  1. postgresql.conf: shared_preload_libraries = ''pg_stat_statements'' (restart PostgreSQL)'
\echo '  2. psql: CREATE EXTENSION pg_stat_statements;'
\echo 'Meanwhile, the slowest statements show in the server log with log_min_duration_statement = 250ms.'
\endif
