-- Bulk fake data for scripts/seed (multi-row INSERT ... SELECT, generated server-side).
-- Rows get explicit ids (after the current maximum), so later batches can refer to them.

-- name: lock_seeded_tables :exec
-- The seed runs in one transaction: nobody else inserts users or cleanings meanwhile, so
-- the ids after max(id) are ours.
LOCK TABLE users, cleanings IN SHARE ROW EXCLUSIVE MODE

-- name: next_free_ids :one
SELECT (SELECT COALESCE(max(id), 0) + 1 FROM users) AS user_id,
       (SELECT COALESCE(max(id), 0) + 1 FROM cleanings) AS cleaning_id

-- name: sync_identity_sequences :exec
-- After inserting explicit ids, move the identity sequences past them.
SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), 1)),
       setval(pg_get_serial_sequence('cleanings', 'id'), GREATEST((SELECT max(id) FROM cleanings), 1)),
       setval(pg_get_serial_sequence('profiles', 'id'), GREATEST((SELECT max(id) FROM profiles), 1))

-- name: set_random_seed :exec
SELECT setseed(:seed)

-- name: seed_users :exec
-- Users and their profiles; every seeded user logs in with the same password (its hash).
WITH created AS (
    INSERT INTO users (id, username, email, password, email_verified, created_at, updated_at)
    SELECT n, 'seed_' || n, 'seed_' || n || '@example.com', :password_hash, random() < 0.7, t.ts, t.ts
    FROM generate_series(CAST(:first_id AS bigint), CAST(:last_id AS bigint)) AS n,
         LATERAL (SELECT now() - random() * interval '730 days' + n * interval '0 second' AS ts) AS t
    RETURNING id, created_at
)
INSERT INTO profiles (user_id, full_name, phone_number, bio, created_at, updated_at)
SELECT c.id,
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Leslie'])[1 + floor(random() * 10)::int]
       || ' ' ||
       (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Lamport'])[1 + floor(random() * 10)::int],
       CASE WHEN random() < 0.6 THEN '555-' || lpad((floor(random() * 10000))::int::text, 4, '0') END,
       CASE WHEN random() < 0.5 THEN 'Tidy, punctual, brings my own supplies.' ELSE '' END,
       c.created_at, c.created_at
FROM created AS c

-- name: seed_cleanings :exec
-- Cleanings owned by random seeded users; one in five was edited after posting.
INSERT INTO cleanings (id, name, description, cleaning_type, price, owner, created_at, updated_at)
SELECT n,
       (ARRAY['Spring clean', 'Move-out clean', 'Kitchen deep clean', 'Bathroom scrub', 'Office tidy', 'Window wash', 'Carpet refresh', 'Garage sweep'])[1 + floor(random() * 8)::int]
       || ' #' || n,
       CASE WHEN random() < 0.8 THEN (ARRAY['Two bedrooms, one bath.', 'Pets at home, be gentle.', 'Supplies provided.', 'Third floor, no lift.'])[1 + floor(random() * 4)::int] END,
       (ARRAY['dust_up', 'spot_clean', 'full_clean'])[1 + floor(random() * 3)::int],
       round(CAST(10 + random() * 90 AS numeric), 2),
       :first_user_id + floor(random() * :user_count)::bigint,
       t.ts,
       CASE WHEN random() < 0.2 THEN t.ts + random() * interval '3 days' ELSE t.ts END
FROM generate_series(CAST(:first_id AS bigint), CAST(:last_id AS bigint)) AS n,
     LATERAL (SELECT now() - random() * interval '365 days' + n * interval '0 second' AS ts) AS t

-- name: seed_offers :exec
-- Up to :max_offers offers on 60% of the batch's cleanings, by users other than the owner.
-- In 40% of those a cleaner was hired (accepted, or completed two times in three) and the
-- others rejected; elsewhere every offer is pending.
WITH picked AS (
    SELECT c.id AS cleaning_id, c.owner, c.created_at,
           1 + floor(random() * :max_offers)::int AS offers,
           random() < 0.4 AS hired,
           random() < 0.67 AS completed
    FROM cleanings AS c
    WHERE c.id BETWEEN :first_id AND :last_id
      AND random() < 0.6
),
candidates AS (
    SELECT DISTINCT ON (p.cleaning_id, u.user_id)
           p.cleaning_id, u.user_id, p.hired, p.completed, p.created_at, k
    FROM picked AS p,
         LATERAL generate_series(1, p.offers) AS k,
         LATERAL (SELECT :first_user_id + floor(random() * :user_count)::bigint + 0 * k AS user_id) AS u
    WHERE u.user_id <> p.owner
)
INSERT INTO offers (user_id, cleaning_id, status, created_at, updated_at)
SELECT user_id, cleaning_id,
       CASE WHEN NOT hired THEN 'pending'
            WHEN row_number() OVER (PARTITION BY cleaning_id ORDER BY k) > 1 THEN 'rejected'
            WHEN completed THEN 'completed'
            ELSE 'accepted' END,
       created_at + k * interval '1 hour', created_at + k * interval '1 hour'
FROM candidates

-- name: seed_evaluations :exec
-- Completed offers of the batch get an evaluation (ratings skew high, as in life).
INSERT INTO evaluations (cleaning_id, cleaner_id, no_show, headline, comment, professionalism,
                         completeness, efficiency, overall_rating, created_at, updated_at)
SELECT o.cleaning_id, o.user_id, r.no_show,
       (ARRAY['Great job', 'Solid work', 'Okay', 'Would hire again', 'Missed a spot'])[1 + floor(random() * 5)::int],
       CASE WHEN random() < 0.5 THEN 'Left the place spotless.' END,
       CASE WHEN r.no_show THEN 0 ELSE 2 + floor(random() * 4)::int END,
       CASE WHEN random() < 0.7 THEN 2 + floor(random() * 4)::int END,
       CASE WHEN random() < 0.7 THEN 2 + floor(random() * 4)::int END,
       CASE WHEN r.no_show THEN 0 ELSE LEAST(5, 1 + floor(random() * 5.5)::int) END,
       o.updated_at + interval '2 days', o.updated_at + interval '2 days'
FROM offers AS o,
     LATERAL (SELECT random() < 0.03 + 0 * o.user_id AS no_show) AS r
WHERE o.cleaning_id BETWEEN :first_id AND :last_id
  AND o.status = 'completed'

-- name: count_rows :one
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM profiles) AS profiles,
       (SELECT count(*) FROM cleanings) AS cleanings,
       (SELECT count(*) FROM offers) AS offers,
       (SELECT count(*) FROM evaluations) AS evaluations
