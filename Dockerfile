# syntax=docker/dockerfile:1
# Phresh API image: gunicorn + uvicorn workers, non-root, no build tools in the final stage.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile -r requirements.txt

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
# pg_dump for scripts/migrate's production backup (Debian 12's client: PostgreSQL 15).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 phresh \
    && useradd --system --uid 10001 --gid phresh --home-dir /app --shell /usr/sbin/nologin phresh \
    && install -d -o phresh -g phresh /backups
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code stays owned by root: the app user can read it, not change it.
COPY backend ./backend
COPY sql ./sql
COPY migrations ./migrations
COPY scripts/migrate scripts/backup scripts/dev-db scripts/dbtool.py ./scripts/
COPY alembic.ini gunicorn.conf.py ./
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/ready\", timeout=2)"]
CMD ["gunicorn", "backend.main:app", "-c", "gunicorn.conf.py"]
