"""The mail outboxes: SMTP delivery (against a minimal local SMTP server), the development
outbox, and refusal without SMTP settings in production."""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import outbox_from_settings
from backend.config import Settings
from backend.core.mail import LoggingOutbox, Mail, SMTPOutbox, SMTPSettings, UnconfiguredOutbox

pytestmark = pytest.mark.anyio


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept one message, quit."""

    def handle(self) -> None:
        received: list[bytes] = self.server.received  # type: ignore[attr-defined]
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 test\r\n")
            elif command == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    body += chunk
                received.append(body)
                self.wfile.write(b"250 queued\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


async def test_smtp_outbox_delivers(smtp_server: tuple[int, list[bytes]]) -> None:
    port, received = smtp_server
    outbox = SMTPOutbox(
        SMTPSettings(
            host="127.0.0.1",
            port=port,
            username=None,
            password=None,
            sender="Phresh <no-reply@example.com>",
            starttls=False,
        )
    )
    await outbox.send(Mail(to="ada@example.com", subject="Reset", body="token=abc\n"))
    assert len(received) == 1
    message = received[0].decode()
    assert "To: ada@example.com" in message
    assert "Subject: Reset" in message
    assert "token=abc" in message


async def test_development_outbox_keeps_files_and_logs_no_body(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    outbox = LoggingOutbox(keep=2, folder=tmp_path / "mail")
    with caplog.at_level(logging.INFO, logger="phresh.mail"):
        for n in range(3):
            await outbox.send(Mail(to=f"u{n}@example.com", subject="s", body=f"token=secret{n}"))
    assert [m.to for m in outbox.sent] == ["u1@example.com", "u2@example.com"]
    assert "u2@example.com" in caplog.text
    assert "secret" not in caplog.text  # the body (a reset link) never reaches the log
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 3
    assert "token=secret2" in files[-1].read_text()
    assert files[-1].stat().st_mode & 0o077 == 0


async def test_production_without_smtp_refuses_and_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(_env_file=None, environment="production", secret_key="k" * 40)
    outbox = outbox_from_settings(settings)
    assert isinstance(outbox, UnconfiguredOutbox)
    with caplog.at_level(logging.INFO, logger="phresh.mail"):
        await outbox.send(Mail(to="ada@example.com", subject="Reset", body="token=secret-value"))
    assert "SMTP_HOST is not configured" in caplog.text
    assert "secret-value" not in caplog.text
    smtp = Settings(_env_file=None, smtp_host="mail.example.com", smtp_password="pw")
    assert isinstance(outbox_from_settings(smtp), SMTPOutbox)
    assert isinstance(outbox_from_settings(Settings(_env_file=None)), LoggingOutbox)
