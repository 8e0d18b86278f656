-- Top 20 cleaners by average overall rating (at least 3 evaluations), then by volume.
SELECT u.username,
       count(*) AS evaluations,
       round(avg(e.overall_rating), 2) AS avg_overall,
       count(*) FILTER (WHERE e.overall_rating = 5) AS five_stars,
       count(*) FILTER (WHERE e.no_show) AS no_shows
FROM evaluations AS e
JOIN users AS u ON u.id = e.cleaner_id
GROUP BY u.username
HAVING count(*) >= 3
ORDER BY avg_overall DESC, evaluations DESC
LIMIT 20;
