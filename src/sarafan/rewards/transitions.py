"""The reward state machine: the one table of allowed moves."""

from .models import RewardStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.APPROVED, S.REVIEW, S.REJECTED, S.CANCELLED}),
    # Back to pending: approved in review while its hold period still runs (or a reversed
    # approval); rejected back to review: a moderator reversed the rejection.
    S.REVIEW: frozenset({S.PENDING, S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.ISSUED, S.CANCELLED}),
    S.ISSUED: frozenset({S.DELIVERED, S.REDEEMED, S.CANCELLED, S.EXPIRED}),
    S.DELIVERED: frozenset({S.REDEEMED, S.CANCELLED, S.EXPIRED}),
    S.REDEEMED: frozenset(),
    S.REJECTED: frozenset({S.REVIEW}),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}

# Statuses whose amount counts against budgets and limits.
COUNTED = frozenset({S.PENDING, S.REVIEW, S.APPROVED, S.ISSUED, S.DELIVERED, S.REDEEMED})


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())
