"""Every console page renders for a superuser in Russian and English, searches and filters
find the right row, and list pages cost the same number of queries for 3 rows as for 13."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from .data import FRAUD_PAGES, FULFILMENT_PAGES, Chain, make_chain


@dataclass(frozen=True)
class Page:
    """A model's console pages: a query that must find `shows(chain)`, and the object to open."""

    query: Callable[[Chain], dict[str, Any]]
    shows: Callable[[Chain], str]
    obj: Callable[[Chain], Model]


PAGES: dict[str, Page] = {
    "projects.project": Page(
        lambda c: {"q": c.project.public_id}, lambda c: c.project.name, lambda c: c.project
    ),
    "campaigns.campaign": Page(
        lambda c: {
            "q": c.campaign.public_id,
            "status__exact": "active",
            "livemode__exact": "0",
            "project__id__exact": c.project.pk,
        },
        lambda c: c.campaign.name,
        lambda c: c.campaign,
    ),
    "participants.participant": Page(
        lambda c: {
            "q": c.referrer.email,
            "livemode__exact": "0",
            "project__id__exact": c.project.pk,
        },
        lambda c: c.referrer.external_id,
        lambda c: c.referrer,
    ),
    "links.link": Page(
        lambda c: {
            "q": c.link.code,
            "channel__exact": "link",
            "livemode__exact": "0",
            "project__id__exact": c.project.pk,
        },
        lambda c: c.link.code,
        lambda c: c.link,
    ),
    "links.click": Page(
        lambda c: {
            "q": c.click.visitor_id,
            "livemode__exact": "0",
            "channel": "link",
            "created_at__year": c.click.created_at.year,
        },
        lambda c: c.click.visitor_id,
        lambda c: c.click,
    ),
    "tracking.event": Page(
        lambda c: {"q": c.event.order_id, "type__exact": "order", "livemode__exact": "0"},
        lambda c: c.event.public_id,
        lambda c: c.event,
    ),
    "tracking.order": Page(
        lambda c: {
            "q": c.order.order_id,
            "status__exact": "paid",
            "livemode__exact": "0",
            "is_first__exact": "1",
        },
        lambda c: c.order.order_id,
        lambda c: c.order,
    ),
    "referrals.referral": Page(
        lambda c: {
            "q": c.referee.external_id,
            "status__exact": "qualified",
            "livemode__exact": "0",
            "source__exact": "click",
            "risk_decision": "review",
        },
        lambda c: c.referral.public_id,
        lambda c: c.referral,
    ),
    "rewards.reward": Page(
        lambda c: {
            "q": c.referrer.email,
            "status__exact": "issued",
            "livemode__exact": "0",
            "campaign__id__exact": c.campaign.pk,
            "brand__id__exact": c.brand.pk,
        },
        lambda c: c.reward.public_id,
        lambda c: c.reward,
    ),
    "rewards.certificate": Page(
        lambda c: {
            "q": c.certificate.code_value(),
            "status__exact": "active",
            "kind__exact": "internal",
            "livemode__exact": "0",
        },
        lambda c: c.certificate.code_value(),
        lambda c: c.certificate,
    ),
    "rewards.redemption": Page(
        lambda c: {"q": c.certificate.code_value(), "certificate__livemode__exact": "0"},
        lambda c: c.redemption.order_id,
        lambda c: c.redemption,
    ),
    "auth.user": Page(
        lambda c: {"q": c.user.username, "is_staff__exact": "0"},
        lambda c: c.user.email,
        lambda c: c.user,
    ),
    "auth.group": Page(lambda c: {"q": c.group.name}, lambda c: c.group.name, lambda c: c.group),
    "django_tasks_database.dbtaskresult": Page(
        lambda c: {"q": c.task_id, "status__exact": "READY", "queue_name": "default"},
        lambda c: c.task_id,
        lambda c: DBTaskResult.objects.get(pk=c.task_id),
    ),
}
PAGES.update({label: Page(*spec) for label, spec in FRAUD_PAGES.items()})
PAGES.update({label: Page(*spec) for label, spec in FULFILMENT_PAGES.items()})


def _changelist(label: str) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def _change(label: str, obj: Model) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])


def _speaking(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_every_registered_model_has_its_pages_tested() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered == set(PAGES)


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("label", sorted(PAGES))
def test_search_and_filters_find_the_row_and_its_page_opens(
    admin_client: Client, language: str, label: str
) -> None:
    page = PAGES[label]
    wanted, other = make_chain(1), make_chain(2)
    client = _speaking(admin_client, language)

    response = client.get(_changelist(label), page.query(wanted))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    html = response.content.decode()
    assert page.shows(wanted) in html
    assert page.shows(other) not in html

    response = client.get(_change(label, page.obj(wanted)))
    assert response.status_code == 200
    assert page.shows(wanted) in response.content.decode()


@pytest.mark.parametrize("label", sorted(PAGES))
def test_list_pages_cost_the_same_queries_for_3_rows_as_for_13(
    admin_client: Client, label: str
) -> None:
    url = _changelist(label)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    for n in range(1, 4):
        make_chain(n)
    admin_client.get(url)  # caches (content types, sessions) settle on the first request
    with_3 = queries()
    for n in range(4, 14):
        make_chain(n)
    assert queries() == with_3
