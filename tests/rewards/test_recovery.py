"""The sweep that sends the certificate e-mails a crash lost (rewards/recovery.py), against a
real SMTP server: what a dead worker or a lost enqueue leaves behind is sent once past the
grace, never twice however the sweep, the task and other sweeps overlap.

In these tests a reward's own e-mail task is never enqueued (on-commit callbacks do not run
inside the test's transaction): each issued reward starts as one whose enqueue was lost.
"""

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.projects.services import create_project
from sarafan.rewards.delivery import deliver
from sarafan.rewards.models import Certificate, Delivery, Reward
from sarafan.rewards.recovery import RECOVERY_WINDOW, recover_deliveries
from sarafan.rewards.tasks import send_resend
from tests.conftest import ApiClient
from tests.factories import create_campaign, resend_now, run_queued
from tests.rewards.holding_smtp import HoldingInbox, holding_smtp
from tests.rewards.smtp import TIMEOUT_SECONDS
from tests.rewards.test_delivery import RULES, issue

__all__ = ["holding_smtp"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(api):
    return create_campaign(api, rules=RULES)


def past_grace(reward: Reward) -> None:
    """The reward was issued longer ago than the grace."""
    grace = settings.SARAFAN_DELIVERY_GRACE_SECONDS
    Reward.objects.filter(pk=reward.pk).update(
        issued_at=timezone.now() - timedelta(seconds=grace + 60)
    )


def left_by_dead_worker(reward: Reward, *, age: float, kind: str = "certificate", attempts=1):
    """The claim a worker killed during the SMTP round trip leaves: "sending" for ever."""
    return Delivery.objects.create(
        project_id=reward.project_id,
        livemode=reward.livemode,
        reward=reward,
        kind=kind,
        to=reward.recipient.email,
        language="ru",
        status="sending",
        claimed_at=timezone.now() - timedelta(seconds=age),
        attempts=attempts,
    )


def stale() -> float:
    return settings.SARAFAN_DELIVERY_GRACE_SECONDS + 60


def status(reward: Reward) -> str:
    return Reward.objects.get(pk=reward.pk).status


# --- e-mails whose task was lost -----------------------------------------------------------


def test_an_issued_reward_whose_task_was_lost_is_emailed_once_past_the_grace(api, campaign, smtp):
    reward = issue(api)

    assert recover_deliveries() == 0  # within the grace: its task may still come
    assert smtp.messages == []
    past_grace(reward)
    assert recover_deliveries() == 1
    assert recover_deliveries() == 0

    [message] = smtp.messages
    assert message["To"] == "Анна <u-7@example.ru>"
    assert status(reward) == "delivered"
    [delivery] = Delivery.objects.filter(reward=reward)
    assert (delivery.status, delivery.attempts, delivery.actor) == ("sent", 1, "system")
    # The task, should it run after all, sends nothing more.
    assert deliver(reward.pk) is None
    assert len(smtp.messages) == 1


def test_the_grace_is_the_installations_setting(api, campaign, smtp, settings):
    reward = issue(api)
    Reward.objects.filter(pk=reward.pk).update(issued_at=timezone.now() - timedelta(minutes=20))

    settings.SARAFAN_DELIVERY_GRACE_SECONDS = 3600
    assert recover_deliveries() == 0
    settings.SARAFAN_DELIVERY_GRACE_SECONDS = 600
    assert recover_deliveries() == 1


def test_rewards_not_due_an_email_are_left_alone(api, campaign, smtp, project):
    failed, erased, quiet, old, banked, bank = (
        issue(api, referrer=f"u-{n}", customer=f"c-{n}") for n in range(6)
    )
    for reward in (failed, erased, quiet, old, banked, bank):
        past_grace(reward)
    # A send that failed was an attempt made: the console shows it and can resend.
    smtp.stop()
    assert deliver(failed.pk).status == "failed"
    Participant.objects.filter(pk=erased.recipient_id).update(erased_at=timezone.now())
    Participant.objects.filter(pk=quiet.recipient_id).update(email="")
    Reward.objects.filter(pk=old.pk).update(
        issued_at=timezone.now() - RECOVERY_WINDOW - timedelta(hours=1)
    )
    # Paid in the bank reward's certificate, e-mailed with it.
    Certificate.objects.filter(reward=banked).delete()
    Reward.objects.filter(pk=banked.pk).update(banked_into=bank)
    Delivery.objects.create(
        project=project, reward=bank, kind="certificate", to="u-5@example.ru", status="sent"
    )
    Reward.objects.filter(pk=bank.pk).update(status="delivered")

    assert recover_deliveries() == 0
    assert Delivery.objects.count() == 2

    Project.objects.filter(pk=project.pk).update(email_rewards=False)
    Participant.objects.filter(pk=quiet.recipient_id).update(email="u-3@example.ru")
    assert recover_deliveries() == 0
    assert Delivery.objects.count() == 2


# --- sends a dead worker interrupted -------------------------------------------------------


def test_a_send_interrupted_by_a_dead_worker_is_sent_again_once_its_claim_is_stale(
    api, campaign, smtp
):
    reward = issue(api)
    past_grace(reward)
    left = left_by_dead_worker(reward, age=5)

    assert recover_deliveries() == 0  # a claim this fresh may still be sending
    assert smtp.messages == []
    Delivery.objects.filter(pk=left.pk).update(claimed_at=timezone.now() - timedelta(hours=1))
    assert recover_deliveries() == 1
    assert recover_deliveries() == 0

    assert len(smtp.messages) == 1
    [delivery] = Delivery.objects.filter(reward=reward)
    assert (delivery.pk, delivery.status, delivery.attempts) == (left.pk, "sent", 2)
    assert status(reward) == "delivered"


def test_an_interrupted_reminder_is_sent_again(api, campaign, smtp):
    reward = issue(api)
    Certificate.objects.filter(reward=reward).update(
        reminded_at=timezone.now(), expires_at=timezone.now() + timedelta(days=2)
    )
    Reward.objects.filter(pk=reward.pk).update(status="delivered")
    left_by_dead_worker(reward, age=stale(), kind="reminder")

    assert recover_deliveries() == 1

    assert len(smtp.messages) == 1
    delivery = Delivery.objects.get(reward=reward)
    assert (delivery.kind, delivery.status) == ("reminder", "sent")


def test_a_send_interrupted_again_and_again_ends_failed(api, campaign, smtp):
    reward = issue(api)
    past_grace(reward)
    left = left_by_dead_worker(reward, age=stale(), attempts=3)

    assert recover_deliveries() == 0
    assert recover_deliveries() == 0

    assert smtp.messages == []
    left.refresh_from_db()
    assert left.status == "failed"
    assert left.error == "Interrupted 3 times (the worker stopped while sending)."
    assert status(reward) == "issued"  # the console can resend it


def test_a_resend_takes_over_an_interrupted_send_and_it_is_not_repeated(api, campaign, smtp):
    reward = issue(api)
    left = left_by_dead_worker(reward, age=stale())
    sent = resend_now(reward, actor="console:olga@shop.example")

    assert recover_deliveries() == 0

    assert len(smtp.messages) == 1
    assert sent.pk == left.pk  # the dead worker's claim, not a second e-mail
    left.refresh_from_db()
    assert (left.status, left.attempts) == ("sent", 2)


def test_a_resend_while_the_e_mail_is_being_sent_sends_nothing_more(api, campaign, smtp):
    reward = issue(api)
    sending = left_by_dead_worker(reward, age=1)  # its worker is alive and sending

    same = resend_now(reward, actor="console:olga@shop.example")

    assert same.pk == sending.pk and same.status == "sending"
    assert smtp.messages == []
    assert Delivery.objects.filter(reward=reward).count() == 1


def test_an_interrupted_send_to_a_person_erased_meanwhile_is_not_sent(api, campaign, smtp):
    reward = issue(api)
    left = left_by_dead_worker(reward, age=stale())
    Participant.objects.filter(pk=reward.recipient_id).update(erased_at=timezone.now())

    assert recover_deliveries() == 0

    assert smtp.messages == []
    assert Delivery.objects.get(pk=left.pk).status == "failed"


# --- isolation -----------------------------------------------------------------------------


def refuse_deliveries_of(reward: Reward) -> None:
    """Make the database refuse to record any delivery of this reward (a trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_delivery() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'this reward cannot be recorded'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_delivery BEFORE INSERT ON rewards_delivery FOR EACH ROW "
                f"WHEN (NEW.reward_id = {int(reward.pk)}) EXECUTE FUNCTION refuse_delivery()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_delivery BEFORE INSERT ON rewards_delivery "
                f"WHEN NEW.reward_id = {int(reward.pk)} "
                "BEGIN SELECT RAISE(ABORT, 'this reward cannot be recorded'); END"
            )


def test_one_broken_reward_does_not_stop_the_others_nor_other_projects(api, campaign, smtp, caplog):
    broken, fine = issue(api, customer="c-1"), issue(api, customer="c-2")
    _, keys = create_project(name="Other shop")
    other_api = ApiClient(Client(), keys["secret_key_test"])
    create_campaign(other_api, rules=RULES)
    elsewhere = issue(other_api, referrer="o-1", customer="c-3")
    for reward in (broken, fine, elsewhere):
        past_grace(reward)
    refuse_deliveries_of(broken)

    with caplog.at_level(logging.ERROR, logger="sarafan.rewards.recovery"):
        assert recover_deliveries() == 2

    assert sorted(m["To"] for m in smtp.messages) == [
        "Анна <o-1@example.ru>",
        "Анна <u-7@example.ru>",
    ]
    assert (status(broken), status(fine), status(elsewhere)) == (
        "issued",
        "delivered",
        "delivered",
    )
    [record] = caplog.records
    assert record.getMessage() == f"could not recover the lost e-mail of reward {broken.pk}"


# --- races, with a sender held in the middle of an e-mail ----------------------------------


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # reported by the test's thread
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def held(server: Any) -> HoldingInbox:
    inbox = server.inbox
    assert isinstance(inbox, HoldingInbox)
    assert inbox.holding.wait(TIMEOUT_SECONDS), "no e-mail reached the server"
    return inbox


def finish(inbox: HoldingInbox, thread: threading.Thread, outcome: list[Any]) -> Any:
    inbox.release.set()
    thread.join(TIMEOUT_SECONDS * 2)
    assert not thread.is_alive()
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.mark.django_db(transaction=True)
def test_two_delivery_tasks_at_once_send_once(api, campaign, holding_smtp):
    reward = issue(api)
    thread, outcome = in_thread(lambda: deliver(reward.pk))
    inbox = held(holding_smtp)

    assert deliver(reward.pk) is None  # the same task, run twice

    assert finish(inbox, thread, outcome).status == "sent"
    assert inbox.started == 1
    assert len(holding_smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_a_sweep_during_a_slow_delivery_sends_nothing(api, campaign, holding_smtp):
    reward = issue(api)
    past_grace(reward)  # the task ran late
    thread, outcome = in_thread(lambda: deliver(reward.pk))
    inbox = held(holding_smtp)

    assert recover_deliveries() == 0

    assert finish(inbox, thread, outcome).status == "sent"
    assert recover_deliveries() == 0
    assert inbox.started == 1
    assert len(holding_smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_the_task_arriving_while_the_sweep_sends_sends_nothing(api, campaign, holding_smtp):
    reward = issue(api)
    past_grace(reward)
    thread, outcome = in_thread(recover_deliveries)
    inbox = held(holding_smtp)

    assert deliver(reward.pk) is None  # the task, come at last
    assert recover_deliveries() == 0  # the next sweep, on another worker

    assert finish(inbox, thread, outcome) == 1
    assert inbox.started == 1
    assert len(holding_smtp.messages) == 1
    assert status(reward) == "delivered"


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_taking_over_one_interrupted_send_send_once(api, campaign, holding_smtp):
    reward = issue(api)
    left_by_dead_worker(reward, age=stale())
    thread, outcome = in_thread(recover_deliveries)
    inbox = held(holding_smtp)

    assert recover_deliveries() == 0

    assert finish(inbox, thread, outcome) == 1
    assert inbox.started == 1
    assert Delivery.objects.get(reward=reward).attempts == 2


def test_resends_never_wait_for_the_mail_server_in_the_request(
    api, campaign, holding_smtp, django_capture_on_commit_callbacks
):
    # A mail server that holds every message: before, each resend held a web thread for as
    # long as the server kept it, and a few parallel ones held them all.
    inbox = holding_smtp.inbox
    assert isinstance(inbox, HoldingInbox)
    inbox.hold = 100
    reward = issue(api)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answer = api.post(f"rewards/{reward.public_id}/resend")
        assert answer.status_code == 200, answer.content
        assert answer.json()["status"] == "sending"
    assert not inbox.holding.is_set()  # no request opened an SMTP session
    # The three requests ask for one e-mail: the first claim is being sent.
    assert Delivery.objects.filter(reward=reward).count() == 1
    inbox.release.set()
    assert run_queued(send_resend) == ["sent"]
    assert len(holding_smtp.messages) == 1
