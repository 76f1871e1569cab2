"""Certificate e-mails leave no code, PIN or portal link in a log: the development mailer
writes them readable but masked, and a failed send logs and records its error masked."""

import email
import email.policy
import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sarafan.core.logging import mask_text
from sarafan.participants.models import Participant
from sarafan.rewards.delivery import deliver
from sarafan.rewards.models import Certificate, Delivery, Reward
from tests.factories import create_campaign, create_referrer, order
from tests.rewards.smtp import Inbox, SmtpServer, _Controller, mailer

RULES = [
    {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "1500.00",
        "hold_days": 0,
    }
]
EXPIRES = datetime(2031, 3, 15, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DEVELOPMENT = {"default": {"BACKEND": "sarafan.core.mail.MaskedConsoleBackend"}}


@pytest.fixture
def reward(api, settings) -> Reward:
    # Issued with no mailer that could send it: each test sends it its own way.
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}
    create_campaign(api, rules=RULES)
    code = create_referrer(api, "u-7")["referral_code"]
    response = order(api, "c-1", "o-1", code=code)
    assert response.status_code == 201, response.content
    Participant.objects.filter(external_id="u-7").update(language="en")
    reward = Reward.objects.get(public_id=response.json()["rewards"][0]["id"])
    Certificate.objects.filter(reward=reward).update(expires_at=EXPIRES)
    return reward


def secrets_of(reward: Reward) -> list[str]:
    certificate = Certificate.objects.get(reward=reward)
    return [
        certificate.code_value(),
        certificate.pin_value(),
        reward.recipient.portal_token_value(),
    ]


def test_development_mailer_writes_the_email_readable_with_secrets_masked(reward, settings, capsys):
    settings.MAILERS = DEVELOPMENT
    Delivery.objects.all().delete()
    code, pin, token = secrets_of(reward)

    delivery = deliver(reward.pk)

    assert delivery is not None and delivery.status == "sent"
    out = capsys.readouterr().out
    assert "To: Анна <u-7@example.ru>" in out
    assert "Subject: Your Shop gift certificate for 1,500 ₽" in out
    assert "Nominal: 1,500 ₽" in out
    assert "Valid until: March 15, 2031" in out
    assert mask_text(code) in out  # the code is there, masked: SF-AB…
    assert f"/p/{token[:4]}…" in out
    assert "[text/html alternative, not shown]" in out
    for secret in (code, pin, token, code[3:]):
        assert secret not in out, f"{secret!r} was written:\n{out}"


class QuotingInbox(Inbox):
    """A server whose spam filter rejects the message quoting it, as some really do."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        assert body is not None
        suspicious = [
            line.strip()
            for line in body.get_content().splitlines()
            if re.search(r"code|PIN|/p/", line)
        ]
        return f"554 5.7.1 Rejected as spam: {' | '.join(suspicious)}"


def test_failed_send_logs_and_records_no_secret(reward, settings, caplog, api):
    inbox = QuotingInbox()
    controller = _Controller(inbox)
    controller.start()
    server = SmtpServer(inbox, controller, controller.port)
    code, pin, token = secrets_of(reward)
    try:
        settings.MAILERS = mailer(server.port)
        # The refusal quotes the lines with the code, the PIN and the portal link.
        with caplog.at_level(logging.WARNING, logger="sarafan.rewards.delivery"):
            delivery = deliver(reward.pk)
    finally:
        server.stop()

    assert delivery is not None and delivery.status == "failed"
    assert "554" in delivery.error and "Rejected as spam: Certificate code: SF-" in delivery.error
    assert "e-mail for" in caplog.text and "failed" in caplog.text
    for text in (caplog.text, delivery.error):
        for secret in (code, pin, token):
            if secret:
                assert secret not in text, f"{secret!r} leaked:\n{text}"
