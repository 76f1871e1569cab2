"""Money is Decimal with two places and an ISO 4217 currency; never float."""

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats
from pydantic import BeforeValidator

CENTS = Decimal("0.01")
DEFAULT_CURRENCY = "RUB"


# Python's Decimal also reads "１０００", "١٠٠٠" and "1_000": an amount is ASCII digits, an
# optional sign and an optional point, nothing else (no exponent either).
PLAIN_DECIMAL = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*", re.ASCII)


def is_plain_decimal(text: str) -> bool:
    return PLAIN_DECIMAL.fullmatch(text) is not None


# str.isalpha() and isupper() also take "ÄÖÜ" or "ΑΒΓ": a currency is three ASCII capitals.
CURRENCY_CODE = re.compile(r"[A-Z]{3}", re.ASCII)


def is_currency_code(text: str) -> bool:
    return CURRENCY_CODE.fullmatch(text) is not None


def _ascii_decimal(value: object) -> object:
    if isinstance(value, str) and not is_plain_decimal(value):
        raise ValueError("an amount is written in ASCII digits with an optional '.', e.g. 4990.00")
    return value


# Put in the Annotated[Decimal, …] of every amount a schema takes (JSON numbers pass as before).
AsciiDecimal = BeforeValidator(_ascii_decimal)


class AmountFormField(forms.DecimalField):
    """The console's amount field: the locale's separators, but only ASCII digits."""

    def to_python(self, value: Any) -> Any:  # django-stubs inherit IntegerField's int | None
        if value in self.empty_values:
            return None
        text = str(formats.sanitize_separators(value) if self.localize else value)
        if not is_plain_decimal(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return Decimal(text.strip())


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

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": AmountFormField, **kwargs})

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "sarafan.core.money.MoneyField", args, kwargs
