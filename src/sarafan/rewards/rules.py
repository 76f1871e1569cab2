"""Pure reward arithmetic: which rules apply to an event and what each pays."""

from dataclasses import dataclass
from decimal import Decimal

from sarafan.core.money import quantize


@dataclass(frozen=True)
class RuleTerms:
    """The parts of a RewardRule the arithmetic needs (decoupled from the ORM for testing)."""

    trigger: str
    kind: str
    amount: Decimal | None = None
    percent: Decimal | None = None
    max_amount: Decimal | None = None
    min_order_amount: Decimal | None = None
    tiers: tuple[tuple[int, Decimal], ...] = ()


def applies(terms: RuleTerms, *, trigger: str, order_amount: Decimal | None) -> bool:
    """A rule applies to its own trigger, and to orders at or above its minimum."""
    if terms.trigger != trigger:
        return False
    if terms.min_order_amount is not None:
        return order_amount is not None and order_amount >= terms.min_order_amount
    return True


def amount_for(
    terms: RuleTerms, *, order_amount: Decimal | None, referrer_successes: int
) -> Decimal | None:
    """What the rule pays, or None when it pays nothing.

    fixed: the amount; percent: that share of the order, capped; tiered: the amount of the
    highest tier whose `from` the referrer's successful referrals (this one included) reach.
    """
    if terms.kind == "fixed":
        return terms.amount
    if terms.kind == "percent":
        if order_amount is None or terms.percent is None:
            return None
        value = quantize(order_amount * terms.percent / Decimal(100))
        if terms.max_amount is not None:
            value = min(value, terms.max_amount)
        return value if value > 0 else None
    if terms.kind == "tiered":
        reached = [amount for start, amount in terms.tiers if referrer_successes >= start]
        return reached[-1] if reached else None
    return None
