-- name: create_user :one
-- The new user's id; a taken username or email violates users_*_lower_key.
INSERT INTO users (username, email, password)
VALUES (:username, :email, :password)
RETURNING id

-- name: create_profile_for_user :exec
-- Every user has exactly one profile (profiles_user_id_key), created with the user.
INSERT INTO profiles (user_id)
VALUES (:user_id)

-- name: get_current_user :one
-- Authentication's check on its own (core/auth.py): one primary-key lookup (users_pkey), what
-- the check reads. With a family_id (the access token's login session), no row once that
-- session was ended (logout, a replayed refresh token, a password change): session_ended(),
-- one more probe, served by refresh_tokens_family_id_idx. A NULL family_id matches no token,
-- so it changes nothing.
SELECT u.id, u.is_active, u.token_version
FROM users AS u
CROSS JOIN session_ended(CAST(:family_id AS uuid)) AS login_session
WHERE u.id = :user_id
  AND NOT login_session.ended

-- name: caller_still_valid :value
-- The same check as a condition, with core/auth.py admit()'s rule (the token's version, an
-- active account): folded into a request's first read (core/sql.py guarded()), where
-- PostgreSQL evaluates it once, before the read, with the same lookups as get_current_user.
SELECT EXISTS (
    SELECT 1
    FROM users AS u
    CROSS JOIN session_ended(CAST(:caller_session AS uuid)) AS login_session
    WHERE u.id = :caller_id
      AND u.token_version = :caller_token_version
      AND u.is_active
      AND NOT login_session.ended
)

-- name: get_user_by_id :one
-- A user as UserPublic (their card from the user_cards view: JSON of user_rows, the one
-- definition of that shape), plus token_version (what a new access token carries).
-- Primary-key lookups.
SELECT uc.card, u.token_version
FROM users AS u
JOIN user_cards AS uc ON uc.id = u.id
WHERE u.id = :user_id

-- name: get_user_credentials_by_email :one
-- Served by users_email_lower_key (case-insensitive match).
SELECT id, password, is_active, token_version
FROM users
WHERE lower(email) = lower(:email)

-- name: get_user_id_by_email :value
SELECT id
FROM users
WHERE lower(email) = lower(:email)

-- name: get_user_id_by_username :value
-- Served by users_username_lower_key.
SELECT id
FROM users
WHERE lower(username) = lower(:username)

-- name: get_password_check_by_user_id :one
-- What a password change checks: the current hash, and who the account is (a new password
-- must not be built from the username or email).
SELECT password, username, email
FROM users
WHERE id = :user_id

-- name: update_password_hash :exec
-- A transparent re-hash (new Argon2 parameters): sessions stay valid.
UPDATE users
SET password = :password
WHERE id = :user_id

-- name: change_password :value
-- A real password change: bumping token_version kills every older access token.
UPDATE users
SET password = :password, token_version = token_version + 1
WHERE id = :user_id
RETURNING token_version

-- name: delete_user :value
-- Cascades (ON DELETE CASCADE) to profile, cleanings (and their offers and evaluations),
-- offers, evaluations received and tokens.
DELETE FROM users
WHERE id = :user_id
RETURNING id

-- name: create_refresh_token :exec
-- Every time that several instances must agree on (expiry, use, revocation, rate-limit
-- windows) is the database's clock, never the instance's: app clocks may drift apart.
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (:user_id, :family_id, :token_hash, now() + make_interval(days => :expire_days))

-- name: use_refresh_token :one
-- Rotation, atomically: only one caller can use a live token; a row back means it was ours.
UPDATE refresh_tokens
SET used_at = now()
WHERE token_hash = :token_hash
  AND used_at IS NULL
  AND revoked_at IS NULL
  AND expires_at > now()
RETURNING user_id, family_id

-- name: get_refresh_token_family :value
-- The family of a known token whatever its state (for reuse detection).
SELECT family_id
FROM refresh_tokens
WHERE token_hash = :token_hash

-- name: revoke_refresh_token_family :exec
UPDATE refresh_tokens
SET revoked_at = now()
WHERE family_id = :family_id
  AND revoked_at IS NULL

-- name: revoke_refresh_tokens_for_user :exec
UPDATE refresh_tokens
SET revoked_at = now()
WHERE user_id = :user_id
  AND revoked_at IS NULL

-- name: delete_expired_refresh_tokens :exec
-- Housekeeping, bounded per call; served by refresh_tokens_expires_at_idx.
DELETE FROM refresh_tokens
WHERE id = ANY(ARRAY(
    SELECT id
    FROM refresh_tokens
    WHERE expires_at < now()
    LIMIT 1000
))

-- name: create_password_reset_token :exec
INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
VALUES (:user_id, :token_hash, now() + make_interval(mins => :expire_minutes))

-- name: use_password_reset_token :one
-- Single use, atomically; the account (id, username, email) when the token was live.
UPDATE password_reset_tokens AS t
SET used_at = now()
FROM users AS u
WHERE t.token_hash = :token_hash
  AND t.used_at IS NULL
  AND t.expires_at > now()
  AND u.id = t.user_id
RETURNING u.id, u.username, u.email

-- name: hit_rate_limit :one
-- Count one hit in (bucket, current window) and return the window's total and the seconds
-- until it ends, atomically across every worker and instance (an UPSERT takes the row lock;
-- no advisory locks). Windows are aligned on the database's clock, so every instance counts
-- into the same one whatever its own clock says.
INSERT INTO rate_limit_counters AS c (bucket, window_start, hits, expires_at)
SELECT :bucket, w.start, 1, w.start + make_interval(secs => CAST(:window_seconds AS integer))
FROM (
    SELECT to_timestamp(
        floor(extract(epoch FROM now()) / CAST(:window_seconds AS integer))
        * CAST(:window_seconds AS integer)
    ) AS start
) AS w
ON CONFLICT (bucket, window_start)
DO UPDATE SET hits = c.hits + 1
RETURNING hits, greatest(1, ceil(extract(epoch FROM c.expires_at - now())))::int AS retry_after

-- name: get_rate_limit_hits :one
-- The current window's total (0 when nothing was counted) and the seconds until it ends.
SELECT coalesce(c.hits, 0) AS hits,
       greatest(1, ceil(extract(epoch FROM w.end_at - now())))::int AS retry_after
FROM (
    SELECT start, start + make_interval(secs => CAST(:window_seconds AS integer)) AS end_at
    FROM to_timestamp(
        floor(extract(epoch FROM now()) / CAST(:window_seconds AS integer))
        * CAST(:window_seconds AS integer)
    ) AS start
) AS w
LEFT JOIN rate_limit_counters AS c
    ON c.bucket = :bucket AND c.window_start = w.start

-- name: clear_rate_limit :exec
DELETE FROM rate_limit_counters
WHERE bucket = :bucket

-- name: delete_expired_rate_limits :exec
-- Housekeeping, bounded per call; served by rate_limit_counters_expires_at_idx.
DELETE FROM rate_limit_counters
WHERE (bucket, window_start) IN (
    SELECT bucket, window_start
    FROM rate_limit_counters
    WHERE expires_at < now()
    LIMIT 1000
)

-- name: purge_expired_refresh_tokens :value
-- Retention (SECURITY.md): a refresh token row is kept 7 days past its expiry. 7 days is the
-- longest access-token lifetime a setting allows, and an access token checks its family's
-- rows for revocation, so a row is never purged while a token of its session can be live.
-- Served by refresh_tokens_expires_at_idx; the database's clock decides.
WITH purged AS (
    DELETE FROM refresh_tokens
    WHERE expires_at < now() - INTERVAL '7 days'
    RETURNING 1
)
SELECT count(*) FROM purged

-- name: purge_expired_password_reset_tokens :value
-- Retention: a reset token row is kept 1 day past its expiry (used or not), for the audit
-- trail of recent resets. Served by password_reset_tokens_expires_at_idx.
WITH purged AS (
    DELETE FROM password_reset_tokens
    WHERE expires_at < now() - INTERVAL '1 day'
    RETURNING 1
)
SELECT count(*) FROM purged

-- name: purge_expired_rate_limits :value
-- Every window that has ended (login limiters also delete a few as they go).
-- Served by rate_limit_counters_expires_at_idx.
WITH purged AS (
    DELETE FROM rate_limit_counters
    WHERE expires_at < now()
    RETURNING 1
)
SELECT count(*) FROM purged
