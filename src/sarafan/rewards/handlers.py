"""What rewards/ does when an event arrives from the outbox (settings SARAFAN_EVENT_HANDLERS).

Each handler runs in the dispatcher's transaction that also records it done: a task it
enqueues on the database task backend commits with that record, or not at all.
"""

from sarafan.events.models import OutboxEvent
from sarafan.participants.models import Participant

from . import queue
from .models import CertificatePool, Reward
from .waiting import resume_held_for_tax


def deliver_certificate(event: OutboxEvent) -> None:
    """reward.issued: e-mail the certificate, when the project e-mails rewards."""
    reward = (
        Reward.objects.select_related("project", "recipient")
        .filter(
            project_id=event.project_id,
            livemode=event.livemode,
            public_id=event.payload["reward"],
        )
        .first()
    )
    if reward is None or not reward.project.email_rewards or not reward.recipient.email:
        return
    queue.enqueue("deliver_reward", reward.pk)  # in the dispatcher's transaction


def resume_refilled_pool(event: OutboxEvent) -> None:
    """pool.refilled: let the worker issue the rewards that waited for codes."""
    from .pools import resume_waiting_for

    pool = CertificatePool.objects.filter(
        project_id=event.project_id, livemode=event.livemode, public_id=event.payload["pool"]
    ).first()
    if pool is not None:
        resume_waiting_for(pool)


def resume_tax_held(event: OutboxEvent) -> None:
    """participant.tax_details_recorded: issue the rewards held for the tax details."""
    participant = Participant.objects.filter(
        project_id=event.project_id,
        livemode=event.livemode,
        public_id=event.payload["participant"],
    ).first()
    if participant is not None:
        # In the dispatcher's transaction: a reward issued here commits with the handler
        # recorded done, and one already issued is not waiting any more.
        resume_held_for_tax(participant.pk)
