"""Settings: composed URLs, fail-fast validation naming the variable, production secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from backend.config import DEFAULT_SECRET_KEY, Settings, describe_settings_error


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_database_url_is_composed_from_postgres_variables() -> None:
    composed = settings(
        postgres_user="phresh",
        postgres_password="p@ss:word/",
        postgres_server="db",
        postgres_port=6543,
        postgres_db="phresh_db",
    )
    assert composed.dsn == "postgresql://phresh:p%40ss%3Aword%2F@db:6543/phresh_db"
    assert settings(database_url="postgresql://u@h/d").dsn == "postgresql://u@h/d"


def test_production_refuses_the_default_or_a_short_secret() -> None:
    for secret in [DEFAULT_SECRET_KEY, "short"]:
        with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
            settings(environment="production", secret_key=secret)
    assert settings(environment="production", secret_key="k" * 40).environment == "production"


def test_bad_values_are_described_by_variable_name() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(db_pool_max_size=0, database_url="mysql://x", trusted_proxies="not-an-ip")
    message = describe_settings_error(caught.value)
    assert "DB_POOL_MAX_SIZE" in message
    assert "DATABASE_URL" in message
    assert "TRUSTED_PROXIES" in message


def test_lists_accept_comma_separated_values() -> None:
    parsed = settings(
        cors_origins="https://a.example, https://b.example", trusted_proxies="10.0.0.0/8"
    )
    assert parsed.cors_origins == ["https://a.example", "https://b.example"]
    assert parsed.signing_keys[-1] == DEFAULT_SECRET_KEY


def test_the_app_exits_non_zero_with_a_clear_message_in_production_with_the_default_secret(
    tmp_path: os.PathLike[str],
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update(ENVIRONMENT="production", PYTHONPATH=os.getcwd())
    result = subprocess.run(
        [sys.executable, "-c", "import backend.main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "Traceback" not in result.stderr
