-- name: create_offer :one
-- A pending offer; a second offer by the same user violates offers_pkey.
WITH created AS (
    INSERT INTO offers (user_id, cleaning_id)
    VALUES (:user_id, :cleaning_id)
    RETURNING user_id, cleaning_id, status, created_at, updated_at
)
SELECT o.user_id, o.cleaning_id, o.status, uc.card AS user, o.created_at, o.updated_at
FROM created AS o
JOIN user_cards AS uc ON uc.id = o.user_id

-- name: list_offers_for_cleaning :many
-- The cleaning's owner and one keyset page of its offers, oldest first, in one statement:
-- a row per offer, each carrying `cleaning_owner`; a cleaning with no offer on the page
-- gives one row with NULL offer columns, a missing cleaning no row. The page is served by
-- offers_cleaning_id_created_at_user_id_idx, the cleaning by cleanings_pkey. Each offerer is
-- a whole user_rows row (a typed value, decoded in binary), not a JSON card: the route
-- writes the rows without a model, so nothing needs JSON here.
SELECT c.owner AS cleaning_owner,
       o.user_id, o.cleaning_id, o.status, ur AS user, o.created_at, o.updated_at
FROM cleanings AS c
LEFT JOIN LATERAL (
    SELECT p.user_id, p.cleaning_id, p.status, p.created_at, p.updated_at
    FROM offers AS p
    WHERE p.cleaning_id = c.id
      AND (p.created_at, p.user_id) > (CAST(:after_ts AS timestamptz), CAST(:after_id AS bigint))
    ORDER BY p.created_at, p.user_id
    LIMIT :limit
) AS o ON true
LEFT JOIN user_rows AS ur ON ur.id = o.user_id
WHERE c.id = :cleaning_id
ORDER BY o.created_at, o.user_id

-- name: get_offer :one
-- One offer by the cleaning and the offerer's username (users_username_lower_key, offers_pkey).
SELECT o.user_id, o.cleaning_id, o.status, uc.card AS user, o.created_at, o.updated_at
FROM users AS u
JOIN offers AS o ON o.user_id = u.id AND o.cleaning_id = :cleaning_id
JOIN user_cards AS uc ON uc.id = o.user_id
WHERE lower(u.username) = lower(:username)

-- name: get_offer_status_for_update :value
SELECT status
FROM offers
WHERE cleaning_id = :cleaning_id
  AND user_id = :user_id
FOR UPDATE

-- name: set_offer_status :one
-- The offer with its new status; offers_cleaning_id_hired_key refuses a second hire.
WITH changed AS (
    UPDATE offers
    SET status = :status
    WHERE cleaning_id = :cleaning_id
      AND user_id = :user_id
    RETURNING user_id, cleaning_id, status, created_at, updated_at
)
SELECT o.user_id, o.cleaning_id, o.status, uc.card AS user, o.created_at, o.updated_at
FROM changed AS o
JOIN user_cards AS uc ON uc.id = o.user_id

-- name: move_offers_between_statuses :exec
-- Accepting rejects every other pending offer; cancelling puts them back to pending.
UPDATE offers
SET status = :to_status
WHERE cleaning_id = :cleaning_id
  AND status = :from_status

-- name: delete_pending_offer :one
-- Rescind: only a pending offer goes; the deleted offer comes back.
WITH deleted AS (
    DELETE FROM offers
    WHERE cleaning_id = :cleaning_id
      AND user_id = :user_id
      AND status = 'pending'
    RETURNING user_id, cleaning_id, status, created_at, updated_at
)
SELECT o.user_id, o.cleaning_id, o.status, uc.card AS user, o.created_at, o.updated_at
FROM deleted AS o
JOIN user_cards AS uc ON uc.id = o.user_id
