"""Reward background tasks: thin wrappers that load ids and call services."""

from typing import TYPE_CHECKING

from django.tasks import task
from django.utils import timezone

if TYPE_CHECKING:
    from .models import Delivery, Reward


@task()
def release_due_rewards() -> int:
    from .services import release_due_rewards as release

    return release()


@task()
def deliver_reward(reward_id: int, kind: str = "certificate") -> str:
    """E-mail a reward's certificate (or an expiry reminder); returns the delivery's status."""
    from .delivery import deliver

    delivery = deliver(reward_id, kind=kind)
    return delivery.status if delivery is not None else "skipped"


@task()
def send_resend(delivery_id: int) -> str:
    """Send a resend the console or the API claimed; returns the delivery's status."""
    from .delivery import send_claimed

    delivery = send_claimed(delivery_id)
    return delivery.status if delivery is not None else "skipped"


def queue_resend(reward: "Reward", *, actor: str) -> "Delivery":
    """E-mail a reward's certificate again from the worker (console's Resend, API resend);
    returns its delivery, being sent. Raises Conflict when it cannot be sent."""
    from django.db import transaction

    from .delivery import claim_resend

    delivery, to_send = claim_resend(reward, actor=actor)
    if to_send:
        transaction.on_commit(lambda: send_resend.enqueue(delivery.pk))
    return delivery


@task()
def recover_deliveries() -> int:
    """Send the certificate e-mails a crash interrupted or lost (README, "Certificate e-mails")."""
    from .recovery import recover_deliveries as recover

    return recover()


@task()
def issue_with_issuer(reward_id: int) -> str:
    """One attempt at an external issuer for an approved reward waiting for it (one put off
    as "busy" is picked up again by resume_waiting_rewards)."""
    from .external import attempt_issuer

    return attempt_issuer(reward_id)


@task()
def resume_waiting_rewards() -> int:
    """Issue approved rewards whose wait is over (codes arrived, choice deadline, retries)."""
    from .waiting import resume_waiting

    return resume_waiting()


@task()
def expire_certificates() -> int:
    from .lifecycle import expire_certificates as expire

    return expire()


@task()
def send_expiry_reminders() -> int:
    from .delivery import send_expiry_reminders as remind

    return remind()


@task()
def cancel_at_issuer(certificate_id: int) -> str:
    """Cancel an external certificate at its issuer; put off while its project's outbound
    slots are all taken."""
    from .external import BUSY_DELAY, cancel_issued

    outcome = cancel_issued(certificate_id)
    if outcome == "busy":
        later = cancel_at_issuer.using(run_after=timezone.now() + BUSY_DELAY)
        later.enqueue(certificate_id)
    return outcome


@task()
def sync_issued_externally() -> int:
    from .lifecycle import sync_issued_externally as sync

    return sync()
