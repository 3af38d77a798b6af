"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from aiosmtpd.controller import Controller

from iphs_flow.engine.calendar import STOCKHOLM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    to: str
    subject: str
    message_id: str
    language: str
    body: str
    date: str  # the Date header as Stockholm wall-clock time

    @classmethod
    def parse(cls, rcpt: str, raw: bytes) -> Received:
        message: EmailMessage = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
        sent = parsedate_to_datetime(message["Date"]).astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
        return cls(to=rcpt, subject=str(message["Subject"]), message_id=str(message["Message-ID"]),
                   language=str(message["Content-Language"]), body=message.get_content(), date=sent)


class _Collector:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.server.delay:
            time.sleep(self.server.delay)
        with self.server.lock:
            for rcpt in envelope.rcpt_tos:
                self.server.messages.append(Received.parse(rcpt, envelope.original_content or envelope.content))
        return "250 OK"


class MailServer:
    """Start/stop it at will on a fixed port, to play an SMTP outage."""

    def __init__(self, port: int | None = None, delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.delay = delay
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> MailServer:
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait until `count` distinct messages have arrived (or the timeout; the test then fails)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len({m.message_id for m in got}) >= count:
                return got
            time.sleep(0.05)
        return self.received()
