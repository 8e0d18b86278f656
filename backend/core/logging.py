"""Structured (JSON) logs; every line carries the id of the request it belongs to."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "phresh_request_id", default=None
)

security_logger = logging.getLogger("phresh.security")


def security_event(
    event: str, *, outcome: str, level: int = logging.INFO, **fields: object
) -> None:
    """One `security_event` line (logins, lockouts, token reuse, password changes and
    resets): what happened, to which user id, from which client address. Never a password,
    token, hash, link or key: callers pass ids and addresses only."""
    security_logger.log(
        level,
        "security_event %s %s",
        event,
        outcome,
        extra={"security_event": event, "outcome": outcome, **fields},
    )


_SKIPPED_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            wanted = key not in _SKIPPED_ATTRS and not key.startswith("_")
            if wanted and (value is not None or key != "request_id"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp each record with the current request's id when it is created (formatting may
    happen later, outside the request)."""
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    return record


def configure_logging(level: str) -> None:
    """Route the app's and uvicorn's loggers to one JSON handler on stderr (idempotent;
    other handlers on the root logger, such as pytest's, stay)."""
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    # Our middleware writes the access log (with route template and request id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
