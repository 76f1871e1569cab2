"""Referral status moves: the one writer of a saved referral's status.

Every change of `Referral.status` is checked here against the transitions table
(transitions.py); a move not in it is refused as a conflict. Callers hold the referral's
row lock (or the referee's, as attribution does).
"""

from collections.abc import Sequence

from sarafan.core.errors import Conflict

from .models import Referral
from .transitions import can_move


def move(referral: Referral, to_status: str, *, also: Sequence[str] = ()) -> None:
    """Set the referral's status, checked, and write it with the fields in `also` in one
    UPDATE. The status it already has is no move: it is written again as it was."""
    if referral.status != to_status and not can_move(referral.status, to_status):
        raise Conflict(
            f"A referral cannot go from '{referral.status}' to '{to_status}'.",
            code="invalid_status_transition",
        )
    referral.status = to_status
    referral.save(update_fields=["status", *also])
