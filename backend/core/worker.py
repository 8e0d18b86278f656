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

It also accepts one connection per event-loop turn (`FairAcceptServer`), so that a burst of
new connections spreads over the workers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any, ClassVar, cast

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

logger = logging.getLogger("phresh.worker")


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

    async def _serve(self) -> None:
        # uvicorn_worker's own, with the fairer accept below.
        self.config.app = self.wsgi
        server = FairAcceptServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class FairAcceptServer(Server):
    """uvicorn's server, accepting one connection per event-loop turn.

    gunicorn's workers share one listening socket. asyncio and uvloop accept every pending
    connection when it becomes readable, so a burst of new connections (a client pool
    opening, nginx reconnecting after a reload) lands mostly on whichever worker woke first,
    and stays there for the life of the keep-alive connections (64 connections opened at once
    on 2 workers, four runs: 41/23, 51/13, 32/32, 12/52; the lopsided runs' p99 was 1.7-1.9x
    the even one's). Taking one connection per loop turn lets every woken worker take its
    turn, and a busy worker (long loop turns) takes fewer (39/25, 39/25, 42/22, 21/43)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._listeners: list[socket.socket] = []
        self._accepting: set[asyncio.Task[Any]] = set()
        self._stopping = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None or self.config.ssl is not None:
            await super().startup(sockets)
            return
        await super().startup(sockets=[])  # the lifespan only: no listener yet
        loop = asyncio.get_running_loop()
        for sock in sockets:
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._accept_one, sock)
            self._listeners.append(sock)

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError:  # out of file descriptors: stop for a moment, as asyncio does
            logger.exception("accept failed; pausing new connections for 1 s")
            loop = asyncio.get_running_loop()
            loop.remove_reader(listener.fileno())
            loop.call_later(1.0, self._resume, listener)
            return
        connection.setblocking(False)
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.ensure_future(self._serve_connection(connection))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)
        task.add_done_callback(lambda done: self._close_unserved(done, connection))

    @staticmethod
    def _close_unserved(task: asyncio.Task[Any], connection: socket.socket) -> None:
        if task.cancelled():  # stopped before a transport took the socket over
            connection.close()

    def _resume(self, listener: socket.socket) -> None:
        if listener in self._listeners and not self.should_exit:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept_one, listener)

    async def _serve_connection(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.connect_accepted_socket(self._new_protocol, connection)
        except OSError:
            connection.close()  # reset before it was set up: nothing to serve
            return
        if self._stopping:  # accepted just before the stop, set up just after: drain it too
            cast("HttpToolsProtocol", protocol).shutdown()

    def _new_protocol(self) -> asyncio.Protocol:
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stopping = True
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            loop.remove_reader(listener.fileno())
        self._listeners.clear()
        await super().shutdown(sockets)
