-- name: create_evaluation :one
INSERT INTO evaluations (
    cleaning_id, cleaner_id, no_show, headline, comment,
    professionalism, completeness, efficiency, overall_rating
)
VALUES (
    :cleaning_id, :cleaner_id, :no_show, :headline, :comment,
    :professionalism, :completeness, :efficiency, :overall_rating
)
RETURNING cleaning_id, cleaner_id, no_show, headline, comment, professionalism,
          completeness, efficiency, overall_rating, created_at, updated_at

-- name: list_evaluations_for_cleaner :many
-- Newest first, one keyset page; served by evaluations_cleaner_id_created_at_idx.
SELECT cleaning_id, cleaner_id, no_show, headline, comment, professionalism,
       completeness, efficiency, overall_rating, created_at, updated_at
FROM evaluations
WHERE cleaner_id = :cleaner_id
  AND (created_at, cleaning_id) < (CAST(:before_ts AS timestamptz), CAST(:before_id AS bigint))
ORDER BY created_at DESC, cleaning_id DESC
LIMIT :limit

-- name: get_evaluation :one
-- Served by evaluations_pkey.
SELECT cleaning_id, cleaner_id, no_show, headline, comment, professionalism,
       completeness, efficiency, overall_rating, created_at, updated_at
FROM evaluations
WHERE cleaning_id = :cleaning_id
  AND cleaner_id = :cleaner_id

-- name: get_evaluation_stats_for_cleaner :one
-- One aggregate pass (evaluations_cleaner_id_created_at_idx); averages of nothing are NULL,
-- counts of nothing are 0.
SELECT CAST(avg(professionalism) AS float8) AS avg_professionalism,
       CAST(avg(completeness) AS float8) AS avg_completeness,
       CAST(avg(efficiency) AS float8) AS avg_efficiency,
       CAST(avg(overall_rating) AS float8) AS avg_overall_rating,
       max(overall_rating) AS max_overall_rating,
       min(overall_rating) AS min_overall_rating,
       count(*) FILTER (WHERE overall_rating = 1) AS one_stars,
       count(*) FILTER (WHERE overall_rating = 2) AS two_stars,
       count(*) FILTER (WHERE overall_rating = 3) AS three_stars,
       count(*) FILTER (WHERE overall_rating = 4) AS four_stars,
       count(*) FILTER (WHERE overall_rating = 5) AS five_stars,
       count(*) AS total_evaluations,
       count(*) FILTER (WHERE no_show) AS total_no_show
FROM evaluations
WHERE cleaner_id = :cleaner_id
