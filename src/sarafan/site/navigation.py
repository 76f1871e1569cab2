"""The console's sidebar: programs, tracking, rewards, anti-fraud and settings.

Built per request (UNFOLD["SIDEBAR"]["navigation"] names this function) so each item is
shown only to people who may view its page, and titles follow the chosen language.
"""

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

# (group title, [(model label, Material Symbols icon), …]); an entry may name a page of
# its model other than the list, with its own title: (label, icon, url name, title).
GROUPS: tuple[tuple[Any, tuple[tuple[Any, ...], ...]], ...] = (
    (
        _("Programs"),
        (
            ("campaigns.Campaign", "campaign"),
            ("participants.Participant", "group"),
            ("links.Link", "link"),
        ),
    ),
    (
        _("Tracking"),
        (
            ("links.Click", "ads_click"),
            ("tracking.Event", "bolt"),
            ("tracking.Order", "shopping_cart"),
            ("referrals.Referral", "handshake"),
        ),
    ),
    (
        _("Rewards"),
        (
            ("rewards.Reward", "redeem"),
            ("rewards.Certificate", "card_giftcard"),
            ("rewards.Redemption", "point_of_sale"),
            ("rewards.Delivery", "outgoing_mail"),
            ("rewards.Brand", "storefront"),
            ("rewards.CertificatePool", "inventory_2"),
            ("rewards.Issuer", "hub"),
        ),
    ),
    (
        _("Anti-fraud"),
        (
            ("referrals.Referral", "gavel", "referrals_referral_queue", _("Moderation queue")),
            ("alerts.Alert", "notifications"),
            ("moderation.Decision", "fact_check"),
            ("fraud.BlockRule", "block"),
            ("fraud.StopRule", "front_hand"),
            ("fraud.FlaggedSignal", "flag"),
        ),
    ),
    (
        _("Settings"),
        (
            ("projects.Project", "work"),
            ("auth.User", "person"),
            ("auth.Group", "groups"),
            ("django_tasks_database.DBTaskResult", "schedule"),
        ),
    ),
)
# Sidebar counters: what waits for a moderator in the current project and mode.
BADGES = {
    "referrals_referral_queue": "sarafan.site.navigation.cases_in_review",
    "alerts_alert_changelist": "sarafan.site.navigation.open_alerts",
}


def cases_in_review(request: HttpRequest) -> int | None:
    from sarafan.moderation.selectors import cases_in_review as counts
    from sarafan.site.scope import current_scope

    scope = current_scope(request)
    if scope.project is None:
        return None
    return counts(livemode=scope.livemode).get(scope.project.pk) or None


def open_alerts(request: HttpRequest) -> int | None:
    from sarafan.alerts.selectors import open_alerts as alerts
    from sarafan.site.scope import current_scope

    scope = current_scope(request)
    if scope.project is None:
        return None
    return alerts(project_id=scope.project.pk, livemode=scope.livemode).count() or None


def _on(url_name: str) -> Callable[[HttpRequest], bool]:
    """Unfold marks an item active when its link is a prefix of the path; the queue lives
    under the referrals' list, so the two say for themselves which page they are."""

    def active(request: HttpRequest) -> bool:
        match = request.resolver_match
        if url_name == "referrals_referral_queue":
            return match is not None and match.url_name == url_name
        link = reverse(f"admin:{url_name}")
        queue = match is not None and match.url_name == "referrals_referral_queue"
        return request.path.startswith(link) and not queue

    return active


def _item(request: HttpRequest, entry: tuple[Any, ...]) -> dict[str, Any] | None:
    label, icon, *page = entry
    model = apps.get_model(label)
    meta = model._meta
    user = request.user
    if not (
        user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
        or user.has_perm(f"{meta.app_label}.change_{meta.model_name}")
    ):
        return None
    url_name, title = page if page else (f"{meta.app_label}_{meta.model_name}_changelist", None)
    item: dict[str, Any] = {
        "title": title or capfirst(meta.verbose_name_plural),
        "icon": icon,
        "link": reverse(f"admin:{url_name}"),
    }
    if label == "referrals.Referral":
        item["active"] = _on(url_name)
    if url_name in BADGES:
        item["badge"] = BADGES[url_name]
        item["badge_variant"] = "warning"
    return item


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {"items": [{"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}]}
    ]
    for title, entries in GROUPS:
        items = [item for entry in entries if (item := _item(request, entry))]
        if items:
            groups.append({"title": title, "separator": True, "items": items})
    return groups
