-- Indexes: size and how often each was used since statistics were reset.
-- An index with 0 scans on a busy system is a candidate for removal (check replicas too).
SELECT s.relname AS "table",
       s.indexrelname AS index,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS size,
       s.idx_scan AS scans,
       s.idx_tup_read AS tuples_read,
       s.idx_tup_fetch AS tuples_fetched,
       i.indisunique AS is_unique
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
ORDER BY s.relname, s.idx_scan DESC;
