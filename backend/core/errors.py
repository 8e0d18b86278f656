"""The one error hierarchy: raise these anywhere, one handler renders `{"detail": ...}`."""

from __future__ import annotations

from typing import Any, ClassVar


class HTTPError(Exception):
    """An error with a contract status, a human `detail` and a stable machine `code`."""

    status_code: ClassVar[int] = 500
    default_code: ClassVar[str] = "error"

    def __init__(
        self, detail: Any, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.headers = headers or {}


class BadRequest(HTTPError):
    status_code = 400
    default_code = "bad_request"


class Unauthorized(HTTPError):
    status_code = 401
    default_code = "not_authenticated"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPError):
    status_code = 403
    default_code = "forbidden"


class NotFound(HTTPError):
    status_code = 404
    default_code = "not_found"


class Conflict(HTTPError):
    status_code = 409
    default_code = "conflict"


class PayloadTooLarge(HTTPError):
    status_code = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(HTTPError):
    status_code = 415
    default_code = "unsupported_media_type"


class ValidationFailed(HTTPError):
    """422 with FastAPI's list of `{loc, msg, type}` as `detail`."""

    status_code = 422
    default_code = "validation_error"


class TooManyRequests(HTTPError):
    status_code = 429
    default_code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(HTTPError):
    status_code = 503
    default_code = "service_unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL could not answer in time (down, overloaded, read-only, disk full, ...)."""

    default_code = "database_unavailable"

    def __init__(self, detail: str = "The database is unavailable. Please retry shortly.") -> None:
        super().__init__(detail, retry_after=1)


class SchemaNotMigrated(DatabaseUnavailable):
    """The database lacks a table or column the app expects: it is not migrated to the
    revision this code needs (`alembic upgrade head`). An operator's fix, never the client's."""

    default_code = "schema_not_migrated"

    def __init__(
        self, detail: str = "The database schema is not up to date. Please retry shortly."
    ) -> None:
        super().__init__(detail)
