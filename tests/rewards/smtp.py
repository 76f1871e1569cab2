"""A real SMTP server for e-mail tests: aiosmtpd on 127.0.0.1, keeping what it receives."""

import asyncio
import contextlib
import email
import email.message
import email.policy
import socket
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
# How long the server may take to start, and a client to be answered, on a loaded machine.
TIMEOUT_SECONDS = 60.0


@dataclass
class Received:
    """One message as the server got it: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage


@dataclass
class Inbox:
    """Collects every message delivered to the server (aiosmtpd's DATA handler)."""

    messages: list[Received] = field(default_factory=list)
    # Addresses the server answers "550 no such user", as a real one does for a typo.
    refused: set[str] = field(default_factory=set)

    # aiosmtpd calls a handler's handle_<SMTP verb>.
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    inbox: Inbox
    controller: Controller
    port: int
    running: bool = True

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [received.message for received in self.inbox.messages]

    def stop(self) -> None:
        """Take the server down: the next send is refused a connection."""
        if self.running:
            self.controller.stop()
            self.running = False


class _Controller(Controller):
    """aiosmtpd's controller on a socket bound here to a port the system picks: the port is
    never free between choosing it and serving on it."""

    def __init__(self, handler: Any) -> None:
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        port = int(self.listener.getsockname()[1])
        super().__init__(handler, hostname=HOST, port=port, ready_timeout=TIMEOUT_SECONDS)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(
            self._factory_invoker, sock=self.listener, ssl=self.ssl_context
        )


def start_server(inbox: Inbox | None = None) -> SmtpServer:
    """An SMTP server on a free loopback port, collecting into `inbox` (a new Inbox)."""
    inbox = Inbox() if inbox is None else inbox
    controller = _Controller(inbox)
    try:
        controller.start()
    except BaseException:
        controller.listener.close()
        raise
    return SmtpServer(inbox, controller, controller.port)


def mailer(port: int) -> dict[str, Any]:
    """Django's MAILERS pointing at an SMTP server on 127.0.0.1:port."""
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": HOST, "port": port, "timeout": TIMEOUT_SECONDS},
        }
    }


@contextlib.contextmanager
def mailing_to(settings: Any, server: SmtpServer) -> Iterator[SmtpServer]:
    """Django's default mailer sending to `server` while this lasts; the server stops after."""
    settings.MAILERS = mailer(server.port)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """A running SMTP server, and Django's default mailer sending to it for this test."""
    with mailing_to(settings, start_server()) as server:
        yield server
