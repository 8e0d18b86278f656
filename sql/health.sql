-- name: get_schema_revision :value
-- The revision `alembic upgrade` left; a missing table (never migrated) raises
-- SchemaNotMigrated, which readiness reports as "no revision".
SELECT version_num
FROM alembic_version
LIMIT 1
