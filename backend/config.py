"""Typed settings, read from the environment (and an optional `.env` file)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-in-production"
# The tutorial's React frontend (`yarn start`) runs here; development allows it by default.
DEVELOPMENT_CORS_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000")
MIN_PRODUCTION_SECRET_LENGTH = 32

Environment = Literal["development", "test", "production"]
CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Database: DATABASE_URL wins; otherwise it is composed from phresh's POSTGRES_* variables.
    database_url: str | None = None
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_server: str = "localhost"
    postgres_port: int = Field(5432, ge=1, le=65535)
    postgres_db: str = "postgres"

    db_pool_min_size: int = Field(0, ge=0, le=100)
    db_pool_max_size: int = Field(10, ge=1, le=100)
    db_pool_warm_size: int = Field(2, ge=0, le=100)
    db_connect_timeout_seconds: float = Field(1.0, gt=0, le=60)
    db_pool_acquire_timeout_seconds: float = Field(2.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(5000, ge=0)
    db_lock_timeout_ms: int = Field(2000, ge=0)
    db_idle_in_transaction_timeout_ms: int = Field(10000, ge=0)
    db_statement_cache_size: int = Field(100, ge=0, le=10000)
    # "pgbouncer": PgBouncer in transaction mode between the app and PostgreSQL. The app then
    # uses no prepared-statement cache and sends no startup parameters: the timeouts live on
    # the database role (scripts/db-roles sets them).
    db_pooler: Literal["none", "pgbouncer"] = "none"
    # A streaming replica for public reads (the feed, other users' cleanings, profiles,
    # evaluations) while it is at most REPLICA_MAX_LAG_SECONDS behind; else the primary.
    database_replica_url: str | None = None
    replica_max_lag_seconds: float = Field(1.0, gt=0, le=60)
    request_timeout_seconds: float = Field(10.0, gt=0, le=300)

    # Auth
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    secret_key_fallbacks: Annotated[list[SecretStr], NoDecode] = []
    access_token_expire_minutes: int = Field(60, ge=1, le=60 * 24 * 7)
    refresh_token_expire_days: int = Field(30, ge=1, le=365)
    password_reset_expire_minutes: int = Field(60, ge=1, le=60 * 24)
    token_clock_leeway_seconds: int = Field(5, ge=0, le=300)
    argon2_time_cost: int = Field(3, ge=1, le=20)
    argon2_memory_cost_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(4, ge=1, le=64)

    login_rate_limit_per_account: int = Field(10, ge=1)
    login_rate_limit_window_seconds: int = Field(900, ge=1)
    auth_rate_limit_per_address: int = Field(60, ge=1)
    auth_rate_limit_window_seconds: int = Field(60, ge=1)
    trusted_proxies: CommaList = []

    # Mail (password reset). Without SMTP_HOST, development/test log the mail instead.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Phresh <no-reply@phresh.invalid>"
    smtp_starttls: bool = True
    password_reset_url: str = "http://localhost:3000/password-reset?token={token}"
    # Development/test: where the outbox writes each mail as an .eml file (never logged).
    mail_outbox_dir: str = ".mail"

    # HTTP
    cors_origins: CommaList = []
    # Host names this service answers to (`*.example.com` for subdomains); others get 400.
    allowed_hosts: CommaList = ["*"]
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    web_concurrency: int = Field(2, ge=1, le=64)
    metrics_token: SecretStr | None = None

    @field_validator("cors_origins", "trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("secret_key_fallbacks", mode="before")
    @classmethod
    def _comma_separated_secrets(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # raises ValueError naming the bad item
        return value

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
            raise ValueError(
                "SECRET_KEY must be set to a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters when ENVIRONMENT=production "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return self

    @model_validator(mode="after")
    def _production_lists_its_origins(self) -> Settings:
        if self.environment == "production" and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS must list the allowed origins in production, not '*' "
                "(e.g. CORS_ORIGINS=https://app.example.com)"
            )
        return self

    @property
    def allowed_origins(self) -> list[str]:
        """CORS origins: CORS_ORIGINS when set (empty = none); unset, development allows the
        tutorial frontend's origin and every other environment allows none."""
        if "cors_origins" in self.model_fields_set or self.environment != "development":
            return list(self.cors_origins)
        return list(DEVELOPMENT_CORS_ORIGINS)

    @property
    def dsn(self) -> str:
        """The PostgreSQL URL the app connects to."""
        if self.database_url:
            return self.database_url
        password = quote(self.postgres_password.get_secret_value(), safe="")
        credentials = quote(self.postgres_user, safe="") + (f":{password}" if password else "")
        return (
            f"postgresql://{credentials}@{self.postgres_server}:{self.postgres_port}"
            f"/{self.postgres_db}"
        )

    @property
    def signing_keys(self) -> list[str]:
        """Keys for itsdangerous: oldest first, the current key last (it signs)."""
        fallbacks = [key.get_secret_value() for key in self.secret_key_fallbacks]
        return [*fallbacks, self.secret_key.get_secret_value()]


def describe_settings_error(error: Exception) -> str:
    """A one-screen explanation of invalid configuration, naming each variable."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return f"Invalid configuration: {error}"
    lines = ["Invalid configuration:"]
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper() or "SETTINGS"
        lines.append(f"  {name}: {item['msg']}")
    return "\n".join(lines)
