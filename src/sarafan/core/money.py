"""Money is Decimal with two places and an ISO 4217 currency; never float."""

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats
from pydantic import BeforeValidator, Field, WithJsonSchema

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


def _fraction(places: int, *, positive: bool) -> str:
    """A regex of the numbers below 1 with at most `places` places (above 0 if positive)."""
    if not positive:
        return rf"0(?:\.[0-9]{{1,{places}}})?"
    nonzero = "|".join(f"0{{{k}}}[1-9][0-9]{{0,{places - k - 1}}}" for k in range(places))
    return rf"0\.(?:{nonzero})"


def _decimal_schema(
    *, digits: int, places: int, positive: bool, hundred: bool = False
) -> WithJsonSchema:
    """How an input decimal is written: a string (the API's own way) or a JSON number."""
    whole = 3 if hundred else digits - places
    upper = 100 if hundred else 10 ** (digits - places) - 1
    integer = (
        rf"100(?:\.0{{1,{places}}})?|[1-9][0-9]?(?:\.[0-9]{{1,{places}}})?"
        if hundred
        else rf"[1-9][0-9]{{0,{whole - 1}}}(?:\.[0-9]{{1,{places}}})?"
    )
    pattern = f"^(?:{integer}|{_fraction(places, positive=positive)})$"
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": pattern, "examples": ["500.00"]},
                {"type": "integer", "minimum": 1 if positive else 0, "maximum": upper},
            ],
            "max_digits": digits,
            "decimal_places": places,
            "description": f"a decimal string, at most {places} places",
        }
    )


Amount = Annotated[
    Decimal,
    AsciiDecimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    _decimal_schema(digits=14, places=2, positive=False),
]
"""An amount of money the API takes: 0 or more, two places at most."""
PositiveAmount = Annotated[
    Decimal,
    AsciiDecimal,
    Field(gt=0, max_digits=14, decimal_places=2),
    _decimal_schema(digits=14, places=2, positive=True),
]
"""An amount of money above 0."""
Percent = Annotated[
    Decimal,
    AsciiDecimal,
    Field(gt=0, le=100, max_digits=6, decimal_places=3),
    _decimal_schema(digits=6, places=3, positive=True, hundred=True),
]
"""A share of an order: above 0, at most 100, three places."""
Threshold = Annotated[
    Decimal,
    AsciiDecimal,
    Field(gt=0, max_digits=12, decimal_places=2),
    _decimal_schema(digits=12, places=2, positive=True),
]
"""A stop-rule's limit: above 0, two places."""


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
