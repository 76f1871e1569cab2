"""A name stored with a line break (older data, before the API refused one) never reaches an
e-mail header: the certificate is delivered to a real SMTP server, and resend answers."""

import pytest

from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.rewards.delivery import deliver
from sarafan.rewards.models import Delivery
from sarafan.rewards.tasks import send_resend
from tests.factories import run_queued
from tests.rewards.test_delivery import issue

INJECTED = "Анна\r\nBcc: thief@evil.example\r\n\tX"
RULES = [{"recipient": "referrer", "trigger": "first_order", "kind": "fixed", "amount": "500.00"}]


@pytest.fixture
def campaign(api):
    from tests.factories import create_campaign

    return create_campaign(api, rules=RULES)


def _stored_with_line_breaks(reward) -> None:
    Participant.objects.filter(pk=reward.recipient_id).update(name=INJECTED)
    Project.objects.filter(pk=reward.project_id).update(name="Лавка\r\nX-Evil: 1")


def _headers_are_clean(message) -> None:
    assert message["To"].addresses[0].display_name == "Анна Bcc: thief@evil.example X"
    assert message["To"].addresses[0].addr_spec == "u-7@example.ru"
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_a_name_with_a_line_break_is_delivered_without_it(api, campaign, smtp):
    reward = issue(api)
    Delivery.objects.filter(reward=reward).delete()
    _stored_with_line_breaks(reward)

    delivery = deliver(reward.pk)

    assert delivery is not None and delivery.status == "sent", delivery and delivery.error
    [received] = smtp.inbox.messages
    assert received.rcpt_tos == ["u-7@example.ru"]
    _headers_are_clean(received.message)


def test_resend_to_a_name_with_a_line_break_answers(
    api, campaign, smtp, django_capture_on_commit_callbacks
):
    reward = issue(api)
    _stored_with_line_breaks(reward)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"rewards/{reward.public_id}/resend")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "sending"  # the worker sends it
    assert run_queued(send_resend) == ["sent"]
    last = smtp.inbox.messages[-1]
    assert last.rcpt_tos == ["u-7@example.ru"]
    _headers_are_clean(last.message)
