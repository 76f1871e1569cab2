"""Console pages for campaigns and their reward rules.

A campaign and its rules are saved together through `create_campaign` / `update_campaign`,
the same services the API calls, so the console cannot make a campaign the API would
refuse (a fixed reward without an amount, a status move TRANSITIONS forbids). The money
counters (spent, rewards) are only shown.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import ModelForm
from django.http import HttpRequest
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import PaginationInlineFormSet
from unfold.widgets import UnfoldAdminTextInputWidget

from sarafan.console.forms import HostListField, check_with_service
from sarafan.console.options import public_id
from sarafan.core.errors import SarafanError
from sarafan.core.money import AmountFormField
from sarafan.rewards.sources import CAMPAIGN_SOURCES

from .models import Campaign, CampaignStatus, RewardRule
from .schemas import CampaignIn, CampaignPatch
from .services import change_status, create_campaign, update_campaign

RULE_FIELDS = (
    "recipient",
    "trigger",
    "kind",
    "amount",
    "percent",
    "max_amount",
    "min_order_amount",
    "hold_days",
    "tiers",
)


def _rule_data(data: dict[str, Any]) -> dict[str, Any]:
    rule = {field: data.get(field) for field in RULE_FIELDS}
    rule["hold_days"] = rule["hold_days"] or 0
    rule["tiers"] = rule["tiers"] or None
    return rule


def _campaign_data(campaign: Campaign, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's campaign body for what the form holds; the service validates it."""
    return {
        "name": campaign.name,
        "landing_url": campaign.landing_url,
        "allowed_redirect_hosts": list(campaign.allowed_redirect_hosts or []),
        "attribution_window_days": campaign.attribution_window_days,
        "new_customers_only": campaign.new_customers_only,
        "currency": campaign.currency,
        "status": campaign.status,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "rules": rules,
        "limits": {
            "per_referrer_per_month": campaign.limit_per_referrer_per_month,
            "per_referrer_amount_per_month": campaign.limit_per_referrer_amount_per_month,
            "budget": campaign.budget,
            "max_rewards": campaign.max_rewards,
        },
    }


class RewardRuleFormSet(PaginationInlineFormSet):
    """The rules of one campaign; validating them runs the campaign's service on the whole."""

    service_call: Callable[[], Campaign] | None = None

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        campaign: Campaign = self.instance
        if campaign.project_id is None:
            return  # the campaign form already says what is missing
        rules = [
            _rule_data(form.cleaned_data)
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        data = _campaign_data(campaign, rules)

        def call() -> Campaign:
            if campaign._state.adding:
                return create_campaign(
                    project=campaign.project,
                    livemode=campaign.livemode,
                    data=CampaignIn.model_validate(data),
                    sources=CAMPAIGN_SOURCES,
                )
            return update_campaign(
                campaign=campaign,
                data=CampaignPatch.model_validate(data),
                sources=CAMPAIGN_SOURCES,
            )

        check_with_service(call)
        self.service_call = call


class RewardRuleInline(TabularInline):
    model = RewardRule
    formset = RewardRuleFormSet
    fields = RULE_FIELDS
    extra = 0
    verbose_name = _("reward rule")
    verbose_name_plural = _("reward rules")
    show_title = False

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "percent":
            kwargs["form_class"] = AmountFormField  # ASCII digits, like the amounts
        if db_field.name == "tiers":
            # One line of JSON, e.g. [{"from": 1, "amount": "500.00"}], not a tall text box.
            kwargs["widget"] = UnfoldAdminTextInputWidget
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # Rules are part of the campaign: whoever may edit the campaign may edit its rules.
    def _may_edit_campaign(self, request: HttpRequest, obj: Campaign | None) -> bool:
        perm = "campaigns.add_campaign" if obj is None else "campaigns.change_campaign"
        return request.user.has_perm(perm)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("campaigns.view_campaign") or self._may_edit_campaign(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit_campaign(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit_campaign(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit_campaign(request, obj)


class CampaignForm(forms.ModelForm):
    allowed_redirect_hosts = HostListField(label=capfirst(_("allowed redirect hosts")))

    class Meta:
        model = Campaign
        fields = (
            "project",
            "livemode",
            "name",
            "status",
            "landing_url",
            "allowed_redirect_hosts",
            "attribution_window_days",
            "new_customers_only",
            "currency",
            "starts_at",
            "ends_at",
            "limit_per_referrer_per_month",
            "limit_per_referrer_amount_per_month",
            "budget",
            "max_rewards",
        )


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    form = CampaignForm
    inlines = (RewardRuleInline,)
    list_display = (
        "name",
        "status",
        "livemode",
        "spent",
        "rewards_count",
        "project",
        "created_at",
    )
    list_filter = ("status", "livemode", "project")
    list_select_related = ("project",)
    search_fields = ("name", "public_id")
    readonly_fields = (public_id, "spent", "rewards_count", "created_at", "updated_at")
    actions = ("pause", "resume")
    fieldsets = (
        (None, {"fields": ("project", "livemode", public_id, "name", "status", "landing_url")}),
        (
            _("Attribution"),
            {
                "fields": (
                    "allowed_redirect_hosts",
                    "attribution_window_days",
                    "new_customers_only",
                    "starts_at",
                    "ends_at",
                )
            },
        ),
        (
            _("Limits and budget"),
            {
                "fields": (
                    "currency",
                    "budget",
                    "max_rewards",
                    "limit_per_referrer_per_month",
                    "limit_per_referrer_amount_per_month",
                    "spent",
                    "rewards_count",
                )
            },
        ),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # A campaign never moves to another project or mode: its rows are scoped by them.
        return (*fields, "project", "livemode") if obj is not None else fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "status" in form.base_fields:
            # A new campaign starts as a draft or active (CampaignIn); pausing comes later.
            status = form.base_fields["status"]
            status.choices = [
                choice
                for choice in CampaignStatus.choices
                if choice[0] in {CampaignStatus.DRAFT, CampaignStatus.ACTIVE}
            ]
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a draft may go: a campaign that ran owns clicks, referrals and rewards.
        return (
            obj is not None
            and obj.status == CampaignStatus.DRAFT
            and super().has_delete_permission(request, obj)
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        """Nothing here: save_related saves the campaign together with its rules."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        rules = next((fs for fs in formsets if isinstance(fs, RewardRuleFormSet)), None)
        if rules is None or rules.service_call is None:
            raise RuntimeError("a campaign is saved only with its validated rules")
        saved = rules.service_call()
        for field in Campaign._meta.concrete_fields:
            setattr(form.instance, field.attname, getattr(saved, field.attname))
        form.instance._state.adding = False
        for formset in formsets:
            # The service replaced the rules; the admin's change message reads these.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _move(self, request: HttpRequest, queryset: QuerySet[Campaign], status: str) -> None:
        moved = 0
        for campaign in queryset:
            try:
                change_status(campaign=campaign, status=status)
            except SarafanError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.WARNING)
            else:
                moved += 1
        if moved:
            self.message_user(
                request,
                ngettext("%(count)d campaign updated.", "%(count)d campaigns updated.", moved)
                % {"count": moved},
                messages.SUCCESS,
            )

    @admin.action(description=_("Pause selected campaigns"), permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._move(request, queryset, CampaignStatus.PAUSED)

    @admin.action(description=_("Resume selected campaigns"), permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._move(request, queryset, CampaignStatus.ACTIVE)
