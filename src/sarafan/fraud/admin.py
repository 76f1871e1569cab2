"""Console pages of the anti-fraud: block list, stop-rules, flagged signals.

The moderation queue, the case page and decisions are moderation's (moderation/admin.py),
alerts are the alerts app's; what they share with these pages (the project and mode the
moderator works in, the wording of the services' refusals) is the console kit's
(sarafan.console). Every change is validated by fraud.services, as the API's is.
"""

from copy import copy
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import ActionLocation
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from sarafan.console.kit import (
    actor,
    refusal,
)
from sarafan.console.options import LINK_CLASSES, ReadOnlyAdmin, shown, shown_choice
from sarafan.core.errors import InvalidRequest
from sarafan.core.money import AmountFormField
from sarafan.site.scope import current_scope

from .models import (
    BlockKind,
    BlockRule,
    FlaggedSignal,
    SignalKind,
    StopAction,
    StopRule,
    StopRuleKind,
)
from .services import check_block_value

# --- block list -----------------------------------------------------------------------------

BLOCK_EXAMPLES = {
    BlockKind.IP_RANGE: _("“%(value)s” is not an IP address or range such as 203.0.113.0/24."),
    BlockKind.EMAIL_DOMAIN: _("“%(value)s” is not a domain name such as spam.example."),
    BlockKind.EMAIL_PATTERN: _(
        "“%(value)s” is not an e-mail pattern such as *@spam.example or bot*@*."
    ),
}


class BlockRuleForm(forms.ModelForm):
    class Meta:
        model = BlockRule
        fields = ("project", "livemode", "kind", "value", "note")
        help_texts = {
            "value": _(
                "An IP address or range (203.0.113.0/24), a domain (spam.example) or an "
                "e-mail pattern (*@spam.example, bot*@*)."
            )
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            try:
                data["value"] = check_block_value(kind, value)
            except InvalidRequest as exc:
                example = BLOCK_EXAMPLES.get(kind)
                text = str(example % {"value": value.strip()}) if example else refusal(exc)
                self.add_error("value", text)
        return data


@admin.register(BlockRule)
class BlockRuleAdmin(ModelAdmin):
    """Referees whose e-mail or IP address matches an entry are blocked (risk reason
    `blocklisted`); values are checked and normalized by fraud.services.check_block_value."""

    form = BlockRuleForm
    list_display = ("entry", "value", "note", "created_by", "created_at", "livemode", "project")
    list_display_links = ("entry", "value")
    list_filter = ("kind", "livemode", "project")
    list_select_related = ("project",)
    search_fields = ("value", "note")
    show_full_result_count = False

    @admin.display(description=_("kind"), ordering="kind")
    def entry(self, rule: BlockRule) -> str:
        return str(rule.get_kind_display())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # An entry is removed and added again rather than changed: only its note changes.
        if obj is not None:
            return ("project", "livemode", "kind", "value", "created_by", "created_at")
        return ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        scope = current_scope(request, {})
        return {
            "project": scope.project.pk if scope.project else None,
            "livemode": scope.livemode,
            **super().get_changeform_initial_data(request),
        }

    def save_model(self, request: HttpRequest, obj: BlockRule, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = actor(request)
        super().save_model(request, obj, form, change)


# --- stop-rules -----------------------------------------------------------------------------

# What a rule's threshold counts, by kind: how the list shows it and what the form says.
COUNTED: dict[str, Any] = {
    StopRuleKind.VELOCITY_IP: ngettext_lazy("%(value)s customer", "%(value)s customers", "n"),
    StopRuleKind.VELOCITY_DEVICE: ngettext_lazy("%(value)s customer", "%(value)s customers", "n"),
    StopRuleKind.VELOCITY_REFERRER: ngettext_lazy("%(value)s referral", "%(value)s referrals", "n"),
    StopRuleKind.FAST_CONVERSION: ngettext_lazy("%(value)s second", "%(value)s seconds", "n"),
}
TIMES: dict[str, Any] = {
    StopRuleKind.CONVERSION_SPIKE: _("%(value)s × the campaign's conversion"),
    StopRuleKind.BUDGET_BURN: _("%(value)s × the planned spend"),
}
THRESHOLD_HELP: dict[str, Any] = {
    StopRuleKind.VELOCITY_IP: _(
        "More customers than this seen with one IP address within the window."
    ),
    StopRuleKind.VELOCITY_DEVICE: _(
        "More customers than this seen with one device within the window."
    ),
    StopRuleKind.VELOCITY_REFERRER: _(
        "More referred signups and orders than this by one referrer within the window."
    ),
    StopRuleKind.FAST_CONVERSION: _("An order fewer seconds than this after the click."),
    StopRuleKind.CONVERSION_SPIKE: _("A referrer's conversion this many times the campaign's."),
    StopRuleKind.BUDGET_BURN: _("Spending this many times faster than the budget plans."),
}


def threshold_text(rule: StopRule) -> str:
    value = rule.threshold.normalize()
    shown_value = formats.localize(value)
    if rule.kind in COUNTED:
        return str(COUNTED[rule.kind] % {"n": int(value), "value": shown_value})
    if rule.kind in TIMES:
        return str(TIMES[rule.kind] % {"value": shown_value})
    return str(shown_value)


MAX_WINDOW = 90 * 24 * 60  # as the API allows


class StopRuleForm(forms.ModelForm):
    actions = forms.MultipleChoiceField(
        label=_("actions"),
        choices=StopAction.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    threshold = AmountFormField(
        label=_("threshold"),
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        help_text=_(
            "Customers per IP address or device, referrals per referrer, seconds from click "
            "to order, or times the campaign's conversion or the planned spend."
        ),
    )
    window_minutes = forms.IntegerField(
        label=_("window, minutes"), min_value=1, max_value=MAX_WINDOW
    )

    class Meta:
        model = StopRule
        fields = (
            "project",
            "livemode",
            "campaign",
            "kind",
            "threshold",
            "window_minutes",
            "actions",
            "enabled",
        )
        help_texts = {"campaign": _("Empty: the rule watches every campaign of the project.")}

    def clean_actions(self) -> list[str]:
        return sorted(set(self.cleaned_data["actions"]))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        campaign = data.get("campaign")
        project = data.get("project", self.instance.project if self.instance.pk else None)
        livemode = data.get("livemode", self.instance.livemode)
        if (
            campaign is not None
            and project is not None
            and (campaign.project_id, campaign.livemode) != (project.pk, livemode)
        ):
            self.add_error(
                "campaign", _("Choose a campaign of the same project and mode as the rule.")
            )
        return data


@admin.register(StopRule)
class StopRuleAdmin(ModelAdmin):
    """Anomaly thresholds and what crossing them does (hold for review, pause, alert).

    Every project starts with the default rules for all campaigns; they are tuned or
    switched off here, and a campaign may get rules of its own.
    """

    form = StopRuleForm
    list_display = (
        "rule",
        "scope",
        "limit",
        "window",
        "what_it_does",
        "enabled",
        "last_triggered_at",
        "livemode",
        "project",
    )
    list_filter = ("kind", "enabled", "livemode", "project")
    list_select_related = ("campaign", "project")
    search_fields = ("public_id", "campaign__name")
    show_full_result_count = False

    @admin.display(description=_("rule"), ordering="kind")
    def rule(self, rule: StopRule) -> str:
        return str(rule.get_kind_display())

    @admin.display(description=_("campaign"), ordering="campaign__name")
    def scope(self, rule: StopRule) -> str:
        if rule.campaign is None:
            return str(_("every campaign"))
        url = reverse("admin:campaigns_campaign_change", args=[rule.campaign.pk])
        return format_html('<a href="{}" class="{}">{}</a>', url, LINK_CLASSES, rule.campaign)

    @admin.display(description=_("threshold"), ordering="threshold")
    def limit(self, rule: StopRule) -> str:
        return threshold_text(rule)

    @admin.display(description=_("window"), ordering="window_minutes")
    def window(self, rule: StopRule) -> str:
        minutes = rule.window_minutes
        if minutes % (24 * 60) == 0:
            days = minutes // (24 * 60)
            return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
        if minutes % 60 == 0:
            hours = minutes // 60
            return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}

    @admin.display(description=_("actions"))
    def what_it_does(self, rule: StopRule) -> str:
        labels = dict(StopAction.choices)
        return ", ".join(str(labels.get(code, code)) for code in rule.actions) or "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # What a rule watches is fixed; its threshold, window, actions and switch are not.
        if obj is not None:
            return ("project", "livemode", "campaign", "kind", "last_triggered_at", "created_at")
        return ()

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        sets: list[tuple[Any, dict[str, Any]]] = [
            (None, {"fields": ("project", "livemode", "campaign", "kind")}),
            (
                _("Threshold and actions"),
                {"fields": ("threshold", "window_minutes", "actions", "enabled")},
            ),
        ]
        if obj is not None:
            sets.append((_("History"), {"fields": ("last_triggered_at", "created_at")}))
        return sets

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and obj.kind in THRESHOLD_HELP:
            # A copy: base_fields are shared by every form of this class.
            threshold = form.base_fields["threshold"]
            form.base_fields = {**form.base_fields, "threshold": copy(threshold)}
            form.base_fields["threshold"].help_text = THRESHOLD_HELP[obj.kind]
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        scope = current_scope(request, {})
        return {
            "project": scope.project.pk if scope.project else None,
            "livemode": scope.livemode,
            "actions": [StopAction.HOLD, StopAction.ALERT],
            **super().get_changeform_initial_data(request),
        }

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The rules for every campaign are the project's defaults: switch them off instead.
        if obj is not None and obj.campaign_id is None:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(
        self, request: HttpRequest, action_location: Any = ActionLocation.CHANGE_LIST
    ) -> Any:
        # Deleting in bulk would take the defaults too; a campaign's rule goes from its page.
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions


# --- flagged signals ------------------------------------------------------------------------


@admin.register(FlaggedSignal)
class FlaggedSignalAdmin(ReadOnlyAdmin):
    """Signals of participants marked as fraudsters: a later referee sharing one is flagged.
    Only keyed hashes are kept, so the list shows their first characters."""

    list_display = (
        shown_choice("kind", _("signal"), SignalKind),
        "fingerprint",
        shown("participant", _("flagged because of")),
        "reason",
        "created_by",
        "created_at",
        "livemode",
        "project",
    )
    list_filter = ("kind", "livemode", "project")
    list_select_related = ("participant", "project")
    search_fields = ("participant__external_id", "reason", "^value_hash")
    fields = (
        "project",
        "livemode",
        shown_choice("kind", _("signal"), SignalKind),
        "fingerprint",
        shown("participant", _("flagged because of")),
        "reason",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("hash"))
    def fingerprint(self, signal: FlaggedSignal) -> str:
        return format_html("<code>{}…</code>", signal.value_hash[:10])
