"""Money is Decimal with two places and an ISO 4217 currency; never float."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import models

CENTS = Decimal("0.01")
DEFAULT_CURRENCY = "RUB"


def quantize(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def money_str(value: Decimal | None) -> str:
    return str(quantize(value if value is not None else Decimal(0)))


class MoneyField(models.DecimalField):
    """A decimal column wide enough for any realistic budget, with two places."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Django's loose signature

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "sarafan.core.money.MoneyField", args, kwargs
