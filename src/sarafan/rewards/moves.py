"""Reward status moves: the one writer of a reward's status.

Every change of `Reward.status` is checked here against the transitions table
(transitions.py) and logged in the reward's history (RewardEvent): `move` for a saved
reward, `start` for a new reward written at the end of its first path, `mark_issued` and
`issue_banked` for fulfilment's approved → issued. Callers hold the reward's row lock
(or are inserting the reward).
"""

from collections.abc import Sequence
from datetime import datetime

from sarafan.core.errors import Conflict

from . import announce
from .errors import RewardError
from .models import Reward, RewardEvent, RewardStatus
from .transitions import can_move

S = RewardStatus


def _check(from_status: str, to_status: str) -> None:
    if not can_move(from_status, to_status):
        raise Conflict(
            f"A reward cannot go from '{from_status}' to '{to_status}'.",
            code=RewardError.INVALID_STATUS_TRANSITION,
        )


def move(reward: Reward, to_status: str, *, actor: str = "system", note: str = "") -> None:
    """One checked status change of a locked reward: logged, and written in one UPDATE."""
    _check(reward.status, to_status)
    step = RewardEvent(
        reward=reward, from_status=reward.status, to_status=to_status, actor=actor, note=note
    )
    RewardEvent.objects.bulk_create([step])
    reward.status = to_status
    reward.save(update_fields=["status", "updated_at"])
    announce.reward_moved(reward)


def start(
    reward: Reward, path: Sequence[str], notes: Sequence[str], *, actor: str = "system"
) -> list[RewardEvent]:
    """Set a new, unsaved reward at the end of `path` from pending; returns its history.

    The steps get their reward once it is inserted (the caller writes both).
    """
    steps = [RewardEvent(to_status=S.PENDING, actor=actor, note="created")]
    current = reward.status
    for index, to_status in enumerate(path):
        _check(current, to_status)
        note = notes[index] if index < len(notes) else ""
        steps.append(RewardEvent(from_status=current, to_status=to_status, actor=actor, note=note))
        current = to_status
    reward.status = current
    return steps


def mark_issued(reward: Reward, *, now: datetime) -> None:
    """approved → issued on a reward in memory, its wait over; the caller saves it (or
    inserts it) and logs `issued_step`."""
    _check(reward.status, S.ISSUED)
    reward.status = S.ISSUED
    reward.waiting = ""
    reward.last_error = ""
    reward.next_attempt_at = None
    reward.issued_at = now


def issued_step(reward: Reward, *, actor: str, note: str) -> RewardEvent:
    return RewardEvent(
        reward=reward, from_status=S.APPROVED, to_status=S.ISSUED, actor=actor, note=note
    )


def issue_banked(
    member: Reward, *, into: Reward, now: datetime, actor: str, note: str
) -> RewardEvent:
    """A banked (approved) reward paid inside `into`'s certificate is issued with it, in one
    UPDATE; returns its history step."""
    Reward.objects.filter(pk=member.pk).update(
        status=S.ISSUED, waiting="", banked_into=into, issued_at=now, updated_at=now
    )
    return issued_step(member, actor=actor, note=note)
