"""The console's sidebar: programs, tracking, rewards and settings.

Built per request (UNFOLD["SIDEBAR"]["navigation"] names this function) so each item is
shown only to people who may view its page, and titles follow the chosen language.
"""

from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

# (group title, [(model label, Material Symbols icon), …])
GROUPS = (
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


def _item(request: HttpRequest, label: str, icon: str) -> dict[str, Any] | None:
    model = apps.get_model(label)
    meta = model._meta
    user = request.user
    if not (
        user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
        or user.has_perm(f"{meta.app_label}.change_{meta.model_name}")
    ):
        return None
    return {
        "title": capfirst(meta.verbose_name_plural),
        "icon": icon,
        "link": reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
    }


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {"items": [{"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}]}
    ]
    for title, entries in GROUPS:
        items = [item for label, icon in entries if (item := _item(request, label, icon))]
        if items:
            groups.append({"title": title, "separator": True, "items": items})
    return groups
