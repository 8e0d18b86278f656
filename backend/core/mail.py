"""The mail outbox: where password-reset messages go.

Development and test: `LoggingOutbox` writes each message to a folder (`MAIL_OUTBOX_DIR`,
default `.mail/`) and keeps the last ones in memory (tests read reset tokens from it); the
log says only where the message went, never its body (a reset link is a credential).
Production: `SMTPOutbox`, sending in a worker thread.
"""

from __future__ import annotations

import collections
import logging
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import anyio.to_thread

logger = logging.getLogger("phresh.mail")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Outbox(Protocol):
    async def send(self, mail: Mail) -> None: ...


class LoggingOutbox:
    """Keeps mail instead of sending it: in memory, and as `.eml` files in `folder` when
    given. Never use in production: the body carries secrets."""

    def __init__(self, keep: int = 100, folder: Path | None = None) -> None:
        self.sent: collections.deque[Mail] = collections.deque(maxlen=keep)
        self.folder = folder

    async def send(self, mail: Mail) -> None:
        self.sent.append(mail)
        where = "memory"
        if self.folder is not None:
            where = str(await anyio.to_thread.run_sync(self._write, mail))
        logger.info(
            "mail (development outbox) to=%s subject=%s in %s", mail.to, mail.subject, where
        )

    def _write(self, mail: Mail) -> Path:
        assert self.folder is not None
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        message = EmailMessage()
        message["To"], message["Subject"] = mail.to, mail.subject
        message.set_content(mail.body)
        path.write_bytes(bytes(message))
        path.chmod(0o600)
        return path


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str
    starttls: bool
    timeout: float = 10.0


class SMTPOutbox:
    """Sends through an SMTP relay (STARTTLS unless disabled) without blocking the loop."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings

    async def send(self, mail: Mail) -> None:
        await anyio.to_thread.run_sync(self._send_sync, mail)

    def _send_sync(self, mail: Mail) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.sender, mail.to, mail.subject
        message.set_content(mail.body)
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as client:
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
            if s.username and s.password:
                client.login(s.username, s.password)
            client.send_message(message)
        logger.info("mail sent", extra={"subject": mail.subject})


class UnconfiguredOutbox:
    """Production without SMTP settings: refuse loudly in the log, leak nothing."""

    async def send(self, mail: Mail) -> None:
        logger.error("mail not sent: SMTP_HOST is not configured", extra={"subject": mail.subject})
