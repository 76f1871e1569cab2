"""A person's erasure (GDPR, 152-FZ), and what it takes out of their rewards.

`erase_participant` runs the erasure in one transaction across the apps that hold the
person's data: the participant's own fields and clicks (`participants.services`), their
identity signals (`fraud.services`) and, here, the addresses their e-mails went to.
Rewards, certificates and their history stay (they are money the business accounts for);
the delivery rows lose the address, and the texts written about the person (a delivery's
error, a history note such as "e-mailed to a***@example.ru", a manual reward's reason) lose
their e-mail, phone and name.
"""

import re

from django.db import transaction

from sarafan.fraud.services import forget_signals
from sarafan.participants.models import Participant
from sarafan.participants.services import blank_personal_data, locked_for_erasure

from .delivery import mask_email
from .models import Delivery, Reward, RewardEvent

ERASED = "…"
# A name shorter than this is not searched for in texts (it would match inside words).
MIN_NAME = 2


def _pattern(participant: Participant) -> re.Pattern[str] | None:
    values = [participant.email, participant.phone]
    if participant.email:
        values.append(mask_email(participant.email))
    if len(participant.name.strip()) >= MIN_NAME:
        values.append(participant.name.strip())
    # Longest first, so an address is taken out whole before its masked form could match.
    found = sorted({value for value in values if value}, key=len, reverse=True)
    if not found:
        return None
    return re.compile("|".join(re.escape(value) for value in found), re.IGNORECASE)


def _scrub(pattern: re.Pattern[str] | None, text: str) -> str:
    return pattern.sub(ERASED, text) if pattern is not None and text else text


def forget_recipient(*, participant: Participant) -> None:
    """Blank the addresses of a person's deliveries and take them out of the texts about them.

    Runs inside the erasure's transaction, before the participant's own fields are blanked
    (they are what is searched for).
    """
    pattern = _pattern(participant)
    deliveries = Delivery.objects.filter(reward__recipient=participant)
    for delivery in deliveries.exclude(error="").only("pk", "error"):
        clean = _scrub(pattern, delivery.error)
        if clean != delivery.error:
            Delivery.objects.filter(pk=delivery.pk).update(error=clean)
    deliveries.exclude(to="").update(to="")
    if pattern is None:
        return
    notes = RewardEvent.objects.filter(reward__recipient=participant).exclude(note="")
    for event in notes.only("pk", "note"):
        clean = _scrub(pattern, event.note)
        if clean != event.note:
            RewardEvent.objects.filter(pk=event.pk).update(note=clean)
    reasons = Reward.objects.filter(recipient=participant).exclude(reason="")
    for reward in reasons.only("pk", "reason"):
        clean = _scrub(pattern, reward.reason)
        if clean != reward.reason:
            Reward.objects.filter(pk=reward.pk).update(reason=clean)


def erase_participant(*, participant: Participant) -> Participant:
    """Erase a person's personal data (GDPR, 152-FZ) and keep what the business must account for.

    Contact details, attributes, tags, consent, the external_id and the portal token go, as
    do the user agent, referer and IP hash of clicks on their links and the addresses their
    certificate e-mails went to; codes, counts, rewards and money stay. Erasing twice
    changes nothing.
    """
    with transaction.atomic():
        participant = locked_for_erasure(participant=participant)
        if participant.erased_at is not None:
            return participant
        forget_recipient(participant=participant)
        blank_personal_data(participant=participant)
        # Their identity signals go too; a fraudster mark's flagged signals stay.
        forget_signals(participant=participant)
    return participant
