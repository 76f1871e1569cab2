"""Form helpers: console forms save through the same services as the API.

A service states its rules once; the console runs the call at validation time inside a
savepoint that is always rolled back, so a refusal is shown beside the form, and runs
it again for real when the form is saved.
"""

from collections.abc import Callable, Collection
from typing import Any

import pydantic
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from sarafan.core.errors import SarafanError


class _DryRun(Exception):
    """Raised inside the savepoint to undo a call that succeeded."""


def _field_of(param: str | None, fields: Collection[str]) -> str | None:
    head = (param or "").split(".", 1)[0]
    return head if head in fields else None


def check_with_service(call: Callable[[], Any], *, fields: Collection[str] = ()) -> None:
    """Run `call` and undo it; its domain or schema errors become a form ValidationError.

    An error whose `param` names one of `fields` is attached to that field; the others are
    errors of the whole form.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        return
    except SarafanError as exc:
        field = _field_of(exc.param, fields)
        if field:
            raise forms.ValidationError({field: exc.message}) from None
        prefix = f"{exc.param}: " if exc.param else ""
        raise forms.ValidationError(prefix + exc.message) from None
    except pydantic.ValidationError as exc:
        errors: dict[str | None, list[str]] = {}
        for error in exc.errors():
            param = ".".join(str(part) for part in error["loc"])
            field = _field_of(param, fields)
            message = error["msg"] if field else f"{param}: {error['msg']}"
            errors.setdefault(field, []).append(message)
        raise forms.ValidationError(
            {(key or NON_FIELD_ERRORS): value for key, value in errors.items()}
            if fields
            else [message for messages in errors.values() for message in messages]
        ) from None


class HostListField(forms.CharField):
    """A list of host names typed one per line (commas work too)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("One host per line, e.g. shop.example."))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not a str
        if isinstance(value, list):
            return [str(item) for item in value]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]
