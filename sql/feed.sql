-- name: list_feed_events :many
-- The global activity feed, newest first: a create event per cleaning (at created_at) and
-- an update event per edited cleaning (at updated_at, when it differs). Events are ordered
-- by (event_timestamp, cleaning id), a total order, so keyset pages never skip or repeat an
-- event even when many share a timestamp. Each branch reads at most :limit rows from its
-- own index (cleanings_created_at_id_idx, cleanings_updated_at_id_idx); owners and offers
-- come from the same statement.
WITH events AS (
    (SELECT c.id, c.created_at AS event_timestamp, 'is_create' AS event_type
     FROM cleanings AS c
     WHERE (c.created_at, c.id) < (CAST(:before_ts AS timestamptz), CAST(:before_id AS bigint))
     ORDER BY c.created_at DESC, c.id DESC
     LIMIT :limit)
    UNION ALL
    (SELECT c.id, c.updated_at AS event_timestamp, 'is_update' AS event_type
     FROM cleanings AS c
     WHERE c.updated_at <> c.created_at
       AND (c.updated_at, c.id) < (CAST(:before_ts AS timestamptz), CAST(:before_id AS bigint))
     ORDER BY c.updated_at DESC, c.id DESC
     LIMIT :limit)
),
page AS (
    SELECT id, event_timestamp, event_type
    FROM events
    ORDER BY event_timestamp DESC, id DESC
    LIMIT :limit
)
SELECT row_number() OVER (ORDER BY e.event_timestamp DESC, e.id DESC) AS row_number,
       e.event_timestamp, e.event_type,
       cc.id, cc.name, cc.description, cc.price, cc.cleaning_type, cc.created_at,
       cc.updated_at, cc.owner, cc.total_offers,
       seen.offers
FROM page AS e
JOIN cleaning_rows AS cc ON cc.id = e.id
CROSS JOIN LATERAL offer_rows_seen_by(cc.id, cc.owner_id, :viewer_id) AS seen
ORDER BY e.event_timestamp DESC, e.id DESC
