-- Open jobs nobody has offered on yet: the 50 newest, and how many there are in all.
SELECT c.id, c.name, c.cleaning_type, c.price, u.username AS owner,
       to_char(c.created_at, 'YYYY-MM-DD HH24:MI') AS posted,
       count(*) OVER () AS open_jobs_total
FROM cleanings AS c
JOIN users AS u ON u.id = c.owner
WHERE NOT EXISTS (SELECT 1 FROM offers AS o WHERE o.cleaning_id = c.id)
ORDER BY c.created_at DESC, c.id DESC
LIMIT 50;
