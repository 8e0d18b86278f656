"""The gunicorn worker's accept: one connection per event-loop turn, so that other workers
sharing the listening socket get the rest of a burst. (Serving, draining and reloads
through it are tested against a real gunicorn: the lifecycle, security and fault suites.)"""

from __future__ import annotations

import asyncio
import socket

import pytest
from uvicorn.config import Config

from backend.core.worker import DrainingHttpToolsProtocol, FairAcceptServer

pytestmark = pytest.mark.anyio


async def test_each_readiness_takes_one_connection_and_leaves_the_rest_queued() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    server = FairAcceptServer(Config(app="backend.main:app", http=DrainingHttpToolsProtocol))
    try:
        await asyncio.sleep(0.05)  # the handshakes are done: three connections are queued
        server._accept_one(listener)
        assert len(server._accepting) == 1
        others = [listener.accept()[0] for _ in range(2)]  # still there for another worker
        for other in others:
            other.close()
        with pytest.raises(BlockingIOError):
            listener.accept()
        server._accept_one(listener)  # nothing left: no error, nothing started
        assert len(server._accepting) <= 1
    finally:
        pending = list(server._accepting)
        for task in pending:
            task.cancel()  # not served here: this server has no app
        await asyncio.gather(*pending, return_exceptions=True)
        for client in clients:
            client.close()
        listener.close()


class RecordingProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.shut_down = False
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def shutdown(self) -> None:
        self.shut_down = True


async def test_a_connection_set_up_after_the_stop_began_is_drained_too() -> None:
    """Accepting and setting a connection up take a loop turn or two: one accepted just
    before the stop is not among the connections the stop tells to drain, so it is told
    itself once set up (else it would serve keep-alive requests until graceful_timeout)."""
    server = FairAcceptServer(Config(app="backend.main:app", http=DrainingHttpToolsProtocol))
    made: list[RecordingProtocol] = []

    def new_protocol() -> asyncio.Protocol:
        made.append(RecordingProtocol())
        return made[-1]

    server._new_protocol = new_protocol  # type: ignore[method-assign]
    for stopping in (False, True):
        server._stopping = stopping
        ours, theirs = socket.socketpair()
        try:
            ours.setblocking(False)
            await server._serve_connection(ours)
            assert made[-1].shut_down is stopping
        finally:
            if made and made[-1].transport is not None:
                made[-1].transport.close()
            ours.close()
            theirs.close()
