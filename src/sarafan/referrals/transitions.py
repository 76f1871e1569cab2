"""The referral state machine: the one table of allowed moves."""

from .models import ReferralStatus as S

# The statuses a referral is created in: attribution's risk decision (pending, review,
# rejected), or qualified at once when the first paid order made it.
INITIAL = frozenset({S.PENDING, S.QUALIFIED, S.REVIEW, S.REJECTED})

TRANSITIONS: dict[str, frozenset[str]] = {
    # Qualified by the first paid order; held for review or rejected by new evidence, a
    # stop-rule or a fraudster mark.
    S.PENDING: frozenset({S.QUALIFIED, S.REVIEW, S.REJECTED}),
    # Held or rejected while its rewards are still in their hold period.
    S.QUALIFIED: frozenset({S.REVIEW, S.REJECTED}),
    # Approved (back to pending or qualified, as it stood) or rejected by a moderator.
    S.REVIEW: frozenset({S.PENDING, S.QUALIFIED, S.REJECTED}),
    # A moderator reversed the rejection.
    S.REJECTED: frozenset({S.REVIEW}),
}


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())
