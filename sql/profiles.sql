-- name: get_profile_by_username :one
-- Served by users_username_lower_key and profiles_user_id_key.
SELECT p.id, p.full_name, p.phone_number, p.bio, p.image, u.id AS user_id, u.username,
       u.email, p.created_at, p.updated_at
FROM users AS u
JOIN profiles AS p ON p.user_id = u.id
WHERE lower(u.username) = lower(:username)

-- name: update_profile :one
-- Partial update: each set_<field> flag says whether the body carried that field.
WITH updated AS (
    UPDATE profiles
    SET full_name = CASE WHEN CAST(:set_full_name AS boolean) THEN CAST(:full_name AS text) ELSE full_name END,
        phone_number = CASE WHEN CAST(:set_phone_number AS boolean) THEN CAST(:phone_number AS text) ELSE phone_number END,
        bio = CASE WHEN CAST(:set_bio AS boolean) THEN CAST(:bio AS text) ELSE bio END,
        image = CASE WHEN CAST(:set_image AS boolean) THEN CAST(:image AS text) ELSE image END
    WHERE user_id = :user_id
    RETURNING id, full_name, phone_number, bio, image, user_id, created_at, updated_at
)
SELECT p.id, p.full_name, p.phone_number, p.bio, p.image, p.user_id, u.username, u.email,
       p.created_at, p.updated_at
FROM updated AS p
JOIN users AS u ON u.id = p.user_id
