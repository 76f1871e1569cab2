"""What recording an event did, as domain facts: the router shapes its answer from them.

`record_event` returns a `Recorded` for an event it accepted now, or a `Repeated` for an
order (or a refund) it had accepted before: that one carries the first answer as it was
stored, which a replay repeats unchanged (answers stored by earlier versions included).
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward

from .models import Event


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The order an event is about: its amount and whether it counted (an order event), or
    its status (a refund)."""

    id: str
    amount: Decimal | None = None
    currency: str | None = None
    first: bool | None = None
    qualifies: bool | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event accepted now: the event, its referral, the rewards it created (or, for a
    refund, cancelled), why rewards were not created, and the facts of its type."""

    new: ClassVar[bool] = True

    event: Event
    referral: Referral | None
    rewards: tuple[Reward, ...]
    reasons: tuple[str, ...]
    order: OrderFacts | None = None
    clawed_back: Decimal | None = None  # a refund: what was taken back
    channel: str | None = None  # a share: where it was shared
    # The answer shaped from these facts and kept with the event (see Shape).
    answer: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Repeated:
    """An order (or refund) already accepted: the answer given to its first copy."""

    new: ClassVar[bool] = False

    answer: dict[str, Any]


Shape = Callable[[Recorded], dict[str, Any]]
"""How the caller shapes its answer (JSON, as its response schema says) from a new event's facts.
`record_event` keeps that answer with the event, in the event's own transaction and
without a round trip of its own, so that a replay of the order repeats it."""
