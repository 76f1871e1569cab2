"""Console page of the external issuers: providers' HTTP APIs that issue certificates.

Settings are saved through rewards.issuers (create_issuer, update_issuer), whose checks
run first on a rolled-back call so a refusal is shown beside its field. The API token is
write-only: the form never renders it, an empty field keeps it, and the page only says
whether one is set. The circuit's state shows whether calls to the provider are paused.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from sarafan.console.kit import label, local_time
from sarafan.console.options import public_id
from sarafan.core.circuit import CircuitState, circuit_state
from sarafan.core.errors import SarafanError

from .. import issuers
from ..errors import RewardError
from ..models import Brand, Issuer
from .pools import ScopedAdmin, ScopedForm, adopt
from .shared import rehearse

# The issuers service's refusals, by the setting they are about.
REFUSED: dict[str, Any] = {
    "name": _("Enter a name of 1 to 200 characters."),
    "url": _(
        "Enter the provider's http:// or https:// API address, without a user name, "
        "password, query or fragment (at most 500 characters)."
    ),
    "token": _("The token is at most 2000 printable ASCII characters, without spaces."),
    "brand": _("Choose a brand of the issuer's project and mode."),
    "timeout_seconds": _("Enter a timeout from 0.5 seconds up to the installation's limit."),
    "max_attempts": _("Enter a number of attempts from 1 to 50."),
}
# Refusals with a code of their own, whatever the setting.
SETTINGS = ("name", "url", "brand", "timeout_seconds", "max_attempts")
CIRCUIT_VARIANTS = {
    CircuitState.CLOSED: "success",
    CircuitState.OPEN: "danger",
    CircuitState.HALF_OPEN: "warning",
}


class IssuerForm(ScopedForm):
    token = forms.CharField(
        label=capfirst(_("API token")),
        required=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password"}),
        help_text=_("Sent as “Authorization: Bearer …”. Stored encrypted and never shown again."),
    )
    remove_token = forms.BooleanField(
        label=capfirst(_("remove the token")), required=False, widget=UnfoldBooleanWidget
    )
    timeout_seconds = forms.FloatField(
        label=capfirst(_("timeout, seconds")),
        min_value=0.5,
        max_value=60,
        localize=True,
        initial=10.0,
        widget=UnfoldAdminTextInputWidget,
    )
    max_attempts = forms.IntegerField(
        label=capfirst(_("attempts per reward")),
        min_value=1,
        max_value=50,
        initial=8,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("After this many failed calls the reward waits for a person."),
    )

    class Meta:
        model = Issuer
        fields = SETTINGS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["brand"]
        field.queryset = Brand.objects.filter(
            project=self.scope.project, livemode=self.scope.livemode
        )
        field.help_text = _("The brand on the certificates this provider issues (optional).")
        if self.instance.pk is None:
            del self.fields["remove_token"]
        else:
            self.fields["token"].label = capfirst(_("new API token"))
            self.fields["token"].help_text = _(
                "Stored encrypted and never shown; leave empty to keep the current one."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            try:
                rehearse(self.save_through_service)
            except SarafanError as exc:
                field = exc.param if exc.param in self.fields else None
                message = (
                    RewardError.ADDRESS_NOT_ALLOWED.message
                    if exc.code == RewardError.ADDRESS_NOT_ALLOWED
                    else REFUSED.get(exc.param or "")
                )
                self.add_error(field, str(message or exc.message))
        return data

    def changes(self) -> dict[str, Any]:
        """What update_issuer is asked to change: the edited settings, and the token only
        when a new one is typed or its removal is ticked."""
        data = self.cleaned_data
        found = {field: data[field] for field in SETTINGS if field in self.changed_data}
        if data.get("remove_token"):
            found["token"] = ""
        elif data.get("token"):
            found["token"] = data["token"]
        return found

    def save_through_service(self) -> Issuer:
        data = self.cleaned_data
        if self.instance.pk is None:
            assert self.scope.project is not None
            return issuers.create_issuer(
                project=self.scope.project,
                livemode=self.scope.livemode,
                name=data["name"],
                url=data["url"],
                token=data.get("token") or "",
                brand=data.get("brand"),
                timeout_seconds=data["timeout_seconds"],
                max_attempts=data["max_attempts"],
            )
        # The stored row, not the form's instance: the form has already copied its values
        # onto the instance, and update_issuer compares with what was there (a new URL or
        # token closes the circuit).
        stored = Issuer.objects.get(pk=self.instance.pk)
        return issuers.update_issuer(stored, **self.changes())


@admin.register(Issuer)
class IssuerAdmin(ScopedAdmin):
    """Providers whose API issues certificates for campaigns with an issuer source."""

    form = IssuerForm
    list_display = (
        "name",
        "url",
        "brand",
        "circuit",
        "consecutive_failures",
        "error",
        "last_success_at",
        "livemode",
        "project",
    )
    list_filter = ("livemode", "project")
    list_select_related = ("brand", "project")
    search_fields = ("name", "public_id", "url")
    readonly_fields = (
        "project",
        "livemode",
        public_id,
        "token_set",
        "circuit",
        "consecutive_failures",
        "circuit_open_until",
        "last_error",
        "last_success_at",
        "created_at",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        settings_ = ("name", "url", "token", "brand", "timeout_seconds", "max_attempts")
        if obj is None:
            return ((None, {"fields": settings_}),)
        return (
            (None, {"fields": ("project", "livemode", public_id)}),
            (
                _("Settings"),
                {
                    "fields": (
                        "name",
                        "url",
                        "token_set",
                        "token",
                        "remove_token",
                        "brand",
                        "timeout_seconds",
                        "max_attempts",
                    )
                },
            ),
            (
                _("Circuit"),
                {
                    "fields": (
                        "circuit",
                        "consecutive_failures",
                        "circuit_open_until",
                        "last_error",
                        "last_success_at",
                        "created_at",
                    )
                },
            ),
        )

    @admin.display(description=_("circuit"))
    def circuit(self, issuer: Issuer) -> str:
        state = circuit_state(issuer)
        text = label(state.label, CIRCUIT_VARIANTS[state])
        if state == CircuitState.OPEN and issuer.circuit_open_until is not None:
            until = _("until %(when)s") % {"when": local_time(issuer.circuit_open_until)}
            return format_html('<span data-circuit="{}">{} {}</span>', state, text, until)
        return format_html('<span data-circuit="{}">{}</span>', state, text)

    @admin.display(description=_("last error"), ordering="last_error")
    def error(self, issuer: Issuer) -> str:
        text = issuer.last_error
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=_("API token"))
    def token_set(self, issuer: Issuer) -> str:
        return str(_("set") if issuer.token_encrypted else _("not set"))

    def save_model(self, request: HttpRequest, obj: Issuer, form: Any, change: bool) -> None:
        adopt(obj, form.save_through_service())
