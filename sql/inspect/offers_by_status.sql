-- Offers by status, with the share of each and how many cleanings they touch.
SELECT status,
       count(*) AS offers,
       round(100.0 * count(*) / NULLIF(sum(count(*)) OVER (), 0), 1) AS percent,
       count(DISTINCT cleaning_id) AS cleanings
FROM offers
GROUP BY status
ORDER BY offers DESC;
