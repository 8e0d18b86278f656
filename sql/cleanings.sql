-- name: create_cleaning :one
-- The new cleaning as CleaningPublic: its owner's user_rows row joined, no offers yet.
WITH created AS (
    INSERT INTO cleanings (name, description, price, cleaning_type, owner)
    VALUES (:name, :description, :price, :cleaning_type, :owner_id)
    RETURNING id, name, description, price, cleaning_type, owner, created_at, updated_at
)
SELECT c.id, c.name, c.description, c.price, c.cleaning_type, c.created_at, c.updated_at,
       ur AS owner,
       0 AS total_offers,
       CAST('{}' AS offer_rows[]) AS offers
FROM created AS c
JOIN user_rows AS ur ON ur.id = c.owner

-- name: get_cleaning_by_id :one
-- CleaningPublic in one statement: the cleaning (owner, offer count) and the offers the
-- viewer may see (offer_rows_seen_by: all of them for the owner, else the viewer's own),
-- as typed rows (user_rows, offer_rows[]): no JSON is built.
SELECT cc.id, cc.name, cc.description, cc.price, cc.cleaning_type, cc.created_at,
       cc.updated_at, cc.owner, cc.total_offers,
       seen.offers
FROM cleaning_rows AS cc
CROSS JOIN LATERAL offer_rows_seen_by(cc.id, cc.owner_id, :viewer_id) AS seen
WHERE cc.id = :cleaning_id

-- name: list_cleanings_for_owner :many
-- The owner's cleanings, newest first, one keyset page (limit + 1 rows tell if more exist).
-- Served by cleanings_owner_created_at_id_idx; no cursor = (+infinity-ish, max id).
-- The owner sees every offer on their own cleanings.
SELECT cc.id, cc.name, cc.description, cc.price, cc.cleaning_type, cc.created_at,
       cc.updated_at, cc.owner, cc.total_offers,
       seen.offers
FROM cleaning_rows AS cc
CROSS JOIN LATERAL offer_rows_seen_by(cc.id, cc.owner_id, cc.owner_id) AS seen
WHERE cc.owner_id = :owner_id
  AND (cc.created_at, cc.id) < (CAST(:before_ts AS timestamptz), CAST(:before_id AS bigint))
ORDER BY cc.created_at DESC, cc.id DESC
LIMIT :limit

-- name: get_cleaning_for_update :one
-- Locks the cleaning row: accepting, cancelling, evaluating, editing and deleting serialise
-- on it. Read anything that depends on other rows in a LATER statement: this one's snapshot
-- predates the lock wait (a subquery here would miss what the lock holder committed).
SELECT owner, price, cleaning_type
FROM cleanings
WHERE id = :cleaning_id
FOR UPDATE

-- name: get_cleaning_for_share :one
-- Shares the row lock: a new offer waits for a concurrent accept (and vice versa).
SELECT owner, price, cleaning_type
FROM cleanings
WHERE id = :cleaning_id
FOR SHARE

-- name: cleaning_has_hired_offer :value
-- Served by offers_cleaning_id_hired_key.
SELECT EXISTS (
    SELECT 1
    FROM offers
    WHERE cleaning_id = :cleaning_id
      AND status IN ('accepted', 'completed')
)

-- name: update_cleaning :exec
-- Partial update: each set_<field> flag says whether the body carried that field.
UPDATE cleanings
SET name = CASE WHEN CAST(:set_name AS boolean) THEN CAST(:name AS text) ELSE name END,
    description = CASE WHEN CAST(:set_description AS boolean) THEN CAST(:description AS text) ELSE description END,
    price = CASE WHEN CAST(:set_price AS boolean) THEN CAST(:price AS numeric) ELSE price END,
    cleaning_type = CASE WHEN CAST(:set_cleaning_type AS boolean) THEN CAST(:cleaning_type AS text) ELSE cleaning_type END
WHERE id = :cleaning_id

-- name: delete_cleaning :value
-- Cascades to the cleaning's offers and evaluations.
DELETE FROM cleanings
WHERE id = :cleaning_id
RETURNING id

-- name: get_cleaning_owner :value
-- Who owns the cleaning (None: no such cleaning); served by cleanings_pkey.
SELECT owner
FROM cleanings
WHERE id = :cleaning_id
