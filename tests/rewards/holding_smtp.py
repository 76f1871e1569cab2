"""A real SMTP server that holds messages before answering their DATA, so a test can act
while a sender is in the middle of an e-mail: kill it, or race it.

    server = start_holding_server(hold=1)   # the first message waits; later ones pass
    ... a sender starts an e-mail ...
    server.inbox.holding.wait(timeout)      # the sender is now waiting for the answer
    server.inbox.release.set()              # let the held message through (or kill the sender)

A held message counts as received only once released and answered; one whose sender went
away before (the connection dropped) was never delivered, as a real server sees it.
"""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.rewards.smtp import Inbox, SmtpServer, mailing_to, start_server


@dataclass
class HoldingInbox(Inbox):
    hold: int = 1
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    # Messages whose DATA reached the server (held or not), delivered or not.
    started: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.started += 1
        if self.hold > 0:
            self.hold -= 1
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            # A sender that went away cancelled this handler (aiosmtpd's connection_lost).
        return await super().handle_DATA(server, session, envelope)


def start_holding_server(hold: int = 1) -> SmtpServer:
    return start_server(HoldingInbox(hold=hold))


@pytest.fixture
def holding_smtp(settings: Any) -> Iterator[SmtpServer]:
    """A holding SMTP server (one message held), Django's default mailer sending to it."""
    inbox = HoldingInbox()
    with mailing_to(settings, start_server(inbox)) as server:
        try:
            yield server
        finally:
            inbox.release.set()  # a sender still held is answered before the server stops
