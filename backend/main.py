"""The ASGI entry point: `gunicorn backend.main:app -c gunicorn.conf.py` (or uvicorn)."""

from __future__ import annotations

from pydantic import ValidationError

from backend.app import create_app
from backend.config import Settings, describe_settings_error


def load_settings() -> Settings:
    """Settings from the environment; invalid configuration exits non-zero with a message."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit(describe_settings_error(error)) from None


app = create_app(load_settings())
