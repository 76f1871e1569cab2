"""Console pages of alerts: the notices, newest first; acknowledging one keeps it listed."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from sarafan.console.kit import ObjectAction, actor, back, label, posted_object
from sarafan.console.options import ReadOnlyAdmin, public_id, shown

from .models import Alert
from .services import acknowledge

ACKNOWLEDGE = "alerts.change_alert"

ALERT_KINDS = {
    "fraud.review_required": _("cases held for review"),
    "fraud.anomaly": _("anomaly"),
    "campaign.paused": _("campaign paused"),
}


class AcknowledgedFilter(admin.SimpleListFilter):
    title = _("acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("new")), ("yes", _("acknowledged"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "no")
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Notices raised by stop-rules, newest first; acknowledging one keeps it in the list."""

    list_display = (
        "created_at",
        "message",
        "kind_label",
        shown("campaign", _("campaign")),
        "state",
        "livemode",
        "project",
    )
    list_filter = (AcknowledgedFilter, "kind", "livemode", "project")
    list_select_related = ("campaign", "project")
    search_fields = ("public_id", "message", "subject")
    fields = (
        "project",
        "livemode",
        public_id,
        "created_at",
        "kind_label",
        "message",
        shown("campaign", _("campaign")),
        shown("rule", _("stop-rule")),
        "subject",
        shown("data", _("details")),
        "acknowledged_at",
        "acknowledged_by",
    )
    readonly_fields = fields
    actions = ("acknowledge_selected",)
    change_form_outer_after_template = "console/object_actions.html"

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, alert: Alert) -> str:
        return str(ALERT_KINDS.get(alert.kind, alert.kind))

    @admin.display(description=_("acknowledged"), ordering="acknowledged_at")
    def state(self, alert: Alert) -> str:
        if alert.acknowledged_at is None:
            return label(_("new"), "warning")
        return alert.acknowledged_by or "✓"

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ACKNOWLEDGE)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.acknowledge_view)
        return [
            path("<path:object_id>/acknowledge/", view, name="alerts_alert_acknowledge"),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        alert = posted_object(
            self, request, object_id, allowed=self.has_acknowledge_permission(request)
        )
        if isinstance(alert, HttpResponse):
            return alert
        acknowledge(alert, actor=actor(request))
        self.message_user(request, _("Alert acknowledged."), messages.SUCCESS)
        return back(request, reverse("admin:alerts_alert_changelist"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        alert = self.get_object(request, unquote(object_id))
        if (
            alert is not None
            and alert.acknowledged_at is None
            and self.has_acknowledge_permission(request)
        ):
            action = ObjectAction(
                key="acknowledge",
                title=_("Acknowledge the alert"),
                url=reverse("admin:alerts_alert_acknowledge", args=[alert.pk]),
                next=reverse("admin:alerts_alert_changelist"),
                buttons=[("acknowledge", _("Acknowledge"), "primary")],
            )
            extra_context = {**(extra_context or {}), "object_actions": [action]}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Acknowledge selected alerts"), permissions=["acknowledge"])
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        alerts = list(queryset.filter(acknowledged_at__isnull=True))
        for alert in alerts:
            acknowledge(alert, actor=actor(request))
        self.message_user(
            request,
            ngettext("%(count)d alert acknowledged.", "%(count)d alerts acknowledged.", len(alerts))
            % {"count": len(alerts)},
            messages.SUCCESS,
        )
