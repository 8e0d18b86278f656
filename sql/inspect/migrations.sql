-- Migration state: the Alembic revision this database is at (compare: alembic heads).
SELECT version_num AS alembic_revision
FROM alembic_version;
