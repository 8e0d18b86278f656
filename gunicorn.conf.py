"""gunicorn settings: `gunicorn backend.main:app -c gunicorn.conf.py`.

Workers are uvicorn's maintained ASGI worker; their number is WEB_CONCURRENCY and the bind
address HOST:PORT (the app's settings, validated here so a bad configuration stops the
master with a clear message instead of crash-looping workers).
"""

from __future__ import annotations

import os
import sys
import tempfile

from pydantic import ValidationError

from backend.config import Settings, describe_settings_error

try:
    _settings = Settings()
except ValidationError as error:
    sys.exit(describe_settings_error(error))

bind = os.environ.get("GUNICORN_BIND", f"{_settings.host}:{_settings.port}")
workers = _settings.web_concurrency
worker_class = "uvicorn_worker.UvicornWorker"
# SIGTERM: stop accepting, let in-flight requests finish (up to graceful_timeout), then
# run the lifespan shutdown, which closes the database pool.
graceful_timeout = 30
timeout = 60
keepalive = 5
# The app writes its own JSON access log (with route template and request id).
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
# One control socket per master: two instances on one host never fight over the default
# ~/.gunicorn/gunicorn.ctl.
control_socket = os.environ.get(
    "GUNICORN_CONTROL_SOCKET",
    os.path.join(tempfile.gettempdir(), f"phresh-gunicorn-{os.getpid()}.ctl"),
)
