"""The gunicorn worker: uvicorn's maintained worker, with a graceful stop that drains
keep-alive connections instead of closing them under the client.

A worker stops gracefully on SIGTERM, on gunicorn's reload (`kill -HUP` the master: new
workers start, the old ones get SIGTERM) and when it has served `max_requests`. uvicorn
then closes every idle keep-alive connection at once; a client that is sending its next
request on one in that instant sees the connection reset, and a POST can never be retried
safely. Here a stopping worker instead:

- stops accepting (the other workers, or the new ones, take new connections);
- lets each request in progress finish, and answers it with `Connection: close`;
- keeps idle connections open until their keep-alive timeout: a request that arrives on
  one is served, with `Connection: close`, so the client reconnects elsewhere;
- exits when no connection is left (gunicorn's `graceful_timeout` bounds the whole).

Closing an idle connection when its keep-alive timeout expires is what every HTTP/1.1
server does all the time; clients reuse connections for less than the server's timeout
(nginx: `keepalive_timeout` of the upstream block below gunicorn's `keepalive`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose `shutdown` drains instead of closing."""

    draining = False

    def shutdown(self) -> None:
        self.draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # the response in progress says Connection: close
        elif self.timeout_keep_alive_task is None and not self.transport.is_closing():
            # Connected but silent so far (no request yet): close after the usual timeout.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    # No proxy-headers middleware: it would only wrap every request (gunicorn.conf.py trusts
    # no forwarder for it); the app reads X-Forwarded-For itself, from TRUSTED_PROXIES only.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": DrainingHttpToolsProtocol,
        "proxy_headers": False,
    }
