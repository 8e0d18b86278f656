-- Tables: live rows (statistics estimate), sizes with and without indexes, vacuum state.
SELECT s.relname AS "table",
       s.n_live_tup AS rows_estimate,
       pg_size_pretty(pg_total_relation_size(s.relid)) AS total_size,
       pg_size_pretty(pg_relation_size(s.relid)) AS table_size,
       pg_size_pretty(pg_indexes_size(s.relid)) AS indexes_size,
       s.n_dead_tup AS dead_rows,
       COALESCE(to_char(greatest(s.last_autovacuum, s.last_vacuum), 'YYYY-MM-DD HH24:MI'), 'never') AS last_vacuum,
       COALESCE(to_char(greatest(s.last_autoanalyze, s.last_analyze), 'YYYY-MM-DD HH24:MI'), 'never') AS last_analyze
FROM pg_stat_user_tables AS s
ORDER BY pg_total_relation_size(s.relid) DESC;
