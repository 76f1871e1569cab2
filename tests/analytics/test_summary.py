"""GET /api/v1/analytics/summary: totals, groups, period, campaign and mode scoping, errors."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sarafan.analytics.services import summary
from sarafan.campaigns.models import Campaign
from sarafan.links.models import Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from sarafan.tracking.models import Event, Order

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
ADDITIVE = (
    "participants",
    "clicks",
    "shares",
    "signups",
    "first_orders",
    "repeat_orders",
    "revenue",
    "rewards_cost",
)
_serial = count(1)


def at(day: int, hour: int = 12, month: int = 3, minute: int = 0) -> datetime:
    """A moment on a day of 2025 in the project's time zone (settings.TIME_ZONE)."""
    return datetime(2025, month, day, hour, minute, tzinfo=timezone.get_default_timezone())


# --- builders: rows straight through the models, timestamps placed by hand -----------------


def participant(project: Project, external_id: str, created: datetime, *, live: bool = False):
    n = next(_serial)
    row = Participant.objects.create(
        project=project,
        livemode=live,
        external_id=external_id,
        referral_code=f"CODE{n:04d}",
    )
    Participant.objects.filter(pk=row.pk).update(created_at=created)
    return row


def campaign(project: Project, name: str, *, live: bool = False) -> Campaign:
    return Campaign.objects.create(
        project=project, livemode=live, name=name, landing_url="https://shop.example/"
    )


def link(owner: Participant, cmp: Campaign, channel: str = "link", primary: bool = True) -> Link:
    return Link.objects.create(
        project_id=owner.project_id,
        livemode=owner.livemode,
        participant=owner,
        campaign=cmp,
        code=f"L{next(_serial):07d}",
        channel=channel,
        is_primary=primary,
    )


def click(via: Link, when: datetime) -> Click:
    row = Click.objects.create(
        project_id=via.project_id,
        livemode=via.livemode,
        link=via,
        participant_id=via.participant_id,
        campaign_id=via.campaign_id,
        channel=via.channel,
        visitor_id=f"v{next(_serial)}",
    )
    Click.objects.filter(pk=row.pk).update(created_at=when)
    return row


def referral(
    cmp: Campaign,
    referrer: Participant,
    referee: Participant,
    when: datetime,
    *,
    channel: str = "link",
    via: Link | None = None,
    status: str = "pending",
) -> Referral:
    row = Referral.objects.create(
        project_id=cmp.project_id,
        livemode=cmp.livemode,
        campaign=cmp,
        referrer=referrer,
        referee=referee,
        link=via,
        channel=channel,
        source="code",
        status=status,
    )
    Referral.objects.filter(pk=row.pk).update(created_at=when)
    return row


def share(sharer: Participant, when: datetime, channel: str, *, names: str | None = None) -> Event:
    payload: dict[str, Any] = {"type": "share", "participant": sharer.external_id}
    if names:
        payload["campaign"] = names
    return Event.objects.create(
        project_id=sharer.project_id,
        livemode=sharer.livemode,
        type="share",
        participant=sharer,
        channel=channel,
        payload=payload,
        occurred_at=when,
    )


def order(
    buyer: Participant,
    ref: Referral | None,
    amount: str,
    when: datetime,
    *,
    first: bool,
    status: str = "paid",
) -> Order:
    order_id = f"ord-{next(_serial)}"
    event = Event.objects.create(
        project_id=buyer.project_id,
        livemode=buyer.livemode,
        type="order",
        participant=buyer,
        referral=ref,
        order_id=order_id,
        amount=Decimal(amount),
        occurred_at=when,
    )
    return Order.objects.create(
        project_id=buyer.project_id,
        livemode=buyer.livemode,
        order_id=order_id,
        event=event,
        participant=buyer,
        referral=ref,
        amount=Decimal(amount),
        is_first=first,
        status=status,
        occurred_at=when,
    )


def reward(recipient: Participant, ref: Referral, amount: str, status: str, when: datetime):
    row = Reward.objects.create(
        project_id=recipient.project_id,
        livemode=recipient.livemode,
        campaign=ref.campaign,
        referral=ref,
        recipient=recipient,
        amount=Decimal(amount),
        status=status,
        available_at=when,
        dedupe_key=f"dedupe-{next(_serial)}",
    )
    Reward.objects.filter(pk=row.pk).update(created_at=when)
    return row


@dataclass
class Shop:
    """A month of a small program in test mode; the numbers below are counted by hand."""

    a: Campaign
    b: Campaign


def build_march(project: Project, *, live: bool = False) -> Shop:
    """Campaign A (anna, old) and B (boris, through a partner link), March 2025.

    Rows dated outside March are there to be left out.
    """
    a, b = campaign(project, "A", live=live), campaign(project, "B", live=live)
    anna = participant(project, "anna", at(1), live=live)
    boris = participant(project, "boris", at(2), live=live)
    old = participant(project, "old", at(10, month=2), live=live)
    c1 = participant(project, "c1", at(3), live=live)
    c2 = participant(project, "c2", at(3), live=live)
    c3 = participant(project, "c3", at(5), live=live)
    c4 = participant(project, "c4", at(5), live=live)
    c5 = participant(project, "c5", at(20, month=2), live=live)

    anna_link = link(anna, a)
    link(boris, b)
    partner_link = link(boris, b, channel="partner", primary=False)
    link(old, a)

    r1 = referral(a, anna, c1, at(3))
    r2 = referral(a, anna, c2, at(3), channel="telegram")
    r3 = referral(b, boris, c3, at(5), channel="partner", via=partner_link)
    referral(a, old, c4, at(5), status="rejected")
    r5 = referral(a, old, c5, at(20, month=2))

    click(anna_link, at(1, hour=0, minute=30))  # 21:30 UTC on Feb 28, still March here
    click(anna_link, at(1))
    click(partner_link, at(4))
    click(anna_link, at(28, hour=23, minute=30, month=2))  # outside

    share(anna, at(2), "telegram")  # names no campaign: anna's primary link's, A
    share(anna, at(2), "vk")
    share(boris, at(4), "email", names=a.public_id)  # named A, though boris's link is B
    share(anna, at(25, month=2), "telegram")  # outside

    order(c1, r1, "1000.00", at(4), first=True)
    order(c1, r1, "500.00", at(10), first=False)
    order(c3, r3, "2000.00", at(6), first=True)
    order(c2, r2, "300.00", at(7), first=True, status="refunded")  # not paid
    order(anna, None, "700.00", at(8), first=True)  # not referred
    order(c1, r1, "100.00", at(2, month=4), first=False)  # outside

    reward(anna, r1, "500.00", "issued", at(4))
    reward(c1, r1, "300.00", "pending", at(3))
    reward(boris, r3, "700.00", "approved", at(6))
    reward(anna, r2, "500.00", "cancelled", at(7))  # costs nothing
    reward(old, r5, "200.00", "issued", at(20, month=2))  # outside
    return Shop(a=a, b=b)


@pytest.fixture
def shop(project: Project) -> Shop:
    return build_march(project)


def get_summary(api, **query: Any) -> dict[str, Any]:
    response = api.get("analytics/summary", **query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def added(groups: list[dict[str, Any]], field: str) -> Any:
    values = [group[field] for group in groups]
    if isinstance(values[0], str):
        return str(sum((Decimal(v) for v in values), Decimal("0.00")))
    return sum(values)


# --- totals --------------------------------------------------------------------------------


def test_totals_match_the_hand_counted_month(api, shop):
    data = get_summary(api, **MARCH)
    assert data["period"] == {"from": "2025-03-01", "to": "2025-03-31"}
    assert data["groups"] == []
    assert data["totals"] == {
        "participants": 6,  # anna, boris, c1–c4; old and c5 joined in February
        "active_referrers": 3,  # anna, boris, old
        "clicks": 3,
        "shares": 3,
        "signups": 3,  # the rejected referral of c4 is not a signup
        "first_orders": 2,
        "repeat_orders": 1,
        "revenue": "3500.00",
        "rewards_cost": "1500.00",
        "spend": "0.00",
        "k_factor": 0.3333,  # 6 invitations / 6 participants × 2 customers / 6 invitations
        "cac": "750.00",
        "roi": 1.3333,  # (3500 − 1500) / 1500
        "participation_rate": 0.5,
        "share_rate": 0.3333,  # anna and boris shared
        "conversion_rate": 0.6667,
    }


def test_empty_project_answers_zeros(api):
    totals = get_summary(api, **MARCH)["totals"]
    assert totals["participants"] == 0
    assert totals["revenue"] == "0.00"
    assert totals["cac"] == "0.00"
    assert totals["k_factor"] == totals["roi"] == totals["conversion_rate"] == 0.0


def test_period_leaves_out_rows_before_and_after_it(api, shop):
    totals = get_summary(api, **{"from": "2025-03-02", "to": "2025-03-05"})["totals"]
    # Mar 1: anna and both of her clicks drop out; Mar 6–10: o2, o3 and boris's reward drop out.
    assert totals["participants"] == 5
    assert totals["clicks"] == 1
    assert totals["shares"] == 3
    assert totals["signups"] == 3
    assert totals["first_orders"] == 1
    assert totals["repeat_orders"] == 0
    assert totals["revenue"] == "1000.00"
    assert totals["rewards_cost"] == "800.00"


def test_period_days_are_read_in_the_projects_time_zone(api, shop):
    totals = get_summary(api, **{"from": "2025-03-01", "to": "2025-03-01"})["totals"]
    # The click at 00:30 Moscow time is Feb 28 in UTC; the one at 23:30 on Feb 28 is not in.
    assert totals["clicks"] == 2


def test_default_period_is_the_last_30_days(api, project):
    today = timezone.localdate()
    anna = participant(project, "anna", timezone.now())
    participant(project, "older", timezone.now() - timedelta(days=45))
    click(link(anna, campaign(project, "A")), timezone.now())
    data = get_summary(api)
    assert data["period"] == {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
    }
    assert data["totals"]["participants"] == 1
    assert data["totals"]["clicks"] == 1


def test_only_to_given_means_the_30_days_before_it(api):
    data = get_summary(api, to="2025-03-31")
    assert data["period"] == {"from": "2025-03-02", "to": "2025-03-31"}


# --- groups --------------------------------------------------------------------------------


def test_group_by_channel_splits_traffic_and_adds_up_to_the_totals(api, shop):
    data = get_summary(api, group_by="channel", **MARCH)
    groups = {group["key"]: group for group in data["groups"]}
    assert [group["key"] for group in data["groups"]] == [
        "email",
        "link",
        "partner",
        "telegram",
        "vk",
        None,  # anna and boris were not referred: no channel
    ]
    for field in ADDITIVE:
        assert added(data["groups"], field) == data["totals"][field], field
    link_group = groups["link"]
    assert link_group == {
        "key": "link",
        "participants": 2,  # c1, c4
        "active_referrers": 2,  # anna, old
        "clicks": 2,
        "shares": 0,
        "signups": 1,
        "first_orders": 1,
        "repeat_orders": 1,
        "revenue": "1500.00",
        "rewards_cost": "800.00",
        "spend": "0.00",
        "k_factor": 0.5,
        "cac": "800.00",
        "roi": 0.875,
        "participation_rate": 1.0,
        "share_rate": 0.0,
        "conversion_rate": 0.5,
    }
    assert groups["telegram"]["shares"] == 1
    assert groups["telegram"]["signups"] == 1
    assert groups["partner"]["revenue"] == "2000.00"
    assert groups[None]["participants"] == 2


def test_group_by_day_adds_up_to_the_totals(api, shop):
    data = get_summary(api, group_by="day", **MARCH)
    keys = [group["key"] for group in data["groups"]]
    assert keys == sorted(keys)
    assert keys[0] == "2025-03-01"
    for field in ADDITIVE:
        assert added(data["groups"], field) == data["totals"][field], field
    march_3 = next(group for group in data["groups"] if group["key"] == "2025-03-03")
    assert march_3["participants"] == 2  # c1, c2
    assert march_3["active_referrers"] == 1  # anna, twice
    assert march_3["signups"] == 2
    assert march_3["rewards_cost"] == "300.00"


def test_group_by_week_and_month_key_by_monday_and_first_day(api, shop):
    weeks = get_summary(api, group_by="week", **MARCH)
    # Mar 1, 2025 is a Saturday: its week started on Monday, Feb 24.
    assert [group["key"] for group in weeks["groups"]] == ["2025-02-24", "2025-03-03", "2025-03-10"]
    assert weeks["groups"][0]["clicks"] == 2
    assert weeks["groups"][2]["repeat_orders"] == 1
    months = get_summary(api, group_by="month", **MARCH)
    [month] = months["groups"]
    assert month == {"key": "2025-03-01", **months["totals"]}


def test_group_by_partner_keys_partner_link_traffic_by_its_owner(api, shop):
    data = get_summary(api, group_by="partner", **MARCH)
    groups = {group["key"]: group for group in data["groups"]}
    assert set(groups) == {"boris", None}
    boris = groups["boris"]
    assert (boris["participants"], boris["clicks"], boris["signups"]) == (1, 1, 1)
    assert (boris["first_orders"], boris["revenue"], boris["rewards_cost"]) == (
        1,
        "2000.00",
        "700.00",
    )
    assert groups[None]["shares"] == 3  # boris's own share was on e-mail, not as a partner
    for field in ADDITIVE:
        assert added(data["groups"], field) == data["totals"][field], field


def test_group_by_campaign_rows_equal_the_campaign_filter(api, shop):
    data = get_summary(api, group_by="campaign", **MARCH)
    groups = {group["key"]: group for group in data["groups"]}
    assert set(groups) == {shop.a.public_id, shop.b.public_id}
    for cmp in (shop.a, shop.b):
        filtered = get_summary(api, campaign=cmp.public_id, **MARCH)["totals"]
        assert groups[cmp.public_id] == {"key": cmp.public_id, **filtered}


def test_unknown_keys_sort_last_and_read_null(api, shop):
    groups = get_summary(api, group_by="channel", **MARCH)["groups"]
    assert groups[-1]["key"] is None


# --- campaign filter -----------------------------------------------------------------------


def test_campaign_filter_counts_only_that_campaigns_activity(api, shop):
    totals = get_summary(api, campaign=shop.a.public_id, **MARCH)["totals"]
    assert totals == {
        "participants": 5,  # anna, old and their referees c1, c2, c4
        "active_referrers": 2,
        "clicks": 2,
        "shares": 3,  # anna's two (her primary link is A) and boris's, which named A
        "signups": 2,
        "first_orders": 1,
        "repeat_orders": 1,
        "revenue": "1500.00",
        "rewards_cost": "800.00",
        "spend": "0.00",
        "k_factor": 0.2,
        "cac": "800.00",
        "roi": 0.875,
        "participation_rate": 0.4,
        "share_rate": 0.4,
        "conversion_rate": 0.5,
    }
    other = get_summary(api, campaign=shop.b.public_id, **MARCH)["totals"]
    assert (other["participants"], other["clicks"], other["shares"]) == (2, 1, 0)
    assert (other["first_orders"], other["revenue"], other["rewards_cost"]) == (
        1,
        "2000.00",
        "700.00",
    )


def test_campaign_participants_count_a_referee_who_also_refers_once(api, project):
    a = campaign(project, "A")
    anna, bob, carl = (participant(project, name, at(1)) for name in ("anna", "bob", "carl"))
    referral(a, anna, bob, at(3))
    referral(a, bob, carl, at(4))
    data = get_summary(api, campaign=a.public_id, group_by="day", **MARCH)
    assert data["totals"]["participants"] == 3
    assert data["totals"]["active_referrers"] == 2
    # Each day sees its own pair; bob is in both.
    assert [(g["key"], g["participants"]) for g in data["groups"]] == [
        ("2025-03-03", 2),
        ("2025-03-04", 2),
    ]


# --- scoping, queries, errors --------------------------------------------------------------


def test_live_key_sees_none_of_the_test_data(api, live_api, project, shop):
    live = get_summary(live_api, group_by="channel", **MARCH)
    assert live["groups"] == []
    assert all(value in (0, 0.0, "0.00") for value in live["totals"].values())
    build_march(project, live=True)
    Click.objects.filter(livemode=True).delete()
    assert get_summary(live_api, **MARCH)["totals"]["clicks"] == 0
    assert get_summary(api, **MARCH)["totals"]["clicks"] == 3
    # A campaign of the other mode is unknown to this key.
    response = live_api.get("analytics/summary", campaign=shop.a.public_id)
    assert response.status_code == 404


def test_another_projects_data_is_invisible(api, db):
    from sarafan.projects.services import create_project

    other, _ = create_project(name="Other")
    build_march(other)
    totals = get_summary(api, **MARCH)["totals"]
    assert totals["participants"] == totals["clicks"] == totals["signups"] == 0


def grow(project: Project, times: int) -> None:
    """More of every kind of row, all inside March."""
    cmp = campaign(project, f"G{times}")
    for n in range(times):
        referrer = participant(project, f"g{times}-{n}", at(6))
        referee = participant(project, f"h{times}-{n}", at(7))
        ref = referral(cmp, referrer, referee, at(7), channel=f"ch{n}")
        click(link(referrer, cmp, channel=f"ch{n}"), at(8 + n % 10))
        share(referrer, at(9), f"ch{n}")
        order(referee, ref, "10.00", at(11 + n % 10), first=True)
        reward(referrer, ref, "1.00", "issued", at(12))


@pytest.mark.parametrize("group_by", [None, "channel", "partner", "campaign", "day", "week"])
def test_query_count_does_not_grow_with_rows(project, group_by, django_assert_max_num_queries):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            summary(
                project=project,
                livemode=False,
                date_from=at(1).date(),
                date_to=at(31).date(),
                group_by=group_by,
            )
        return len(captured.captured_queries)

    grow(project, 2)
    few = queries()
    grow(project, 25)
    assert queries() == few
    # The watermark, four tables' additive figures, who was active (totals and groups).
    with django_assert_max_num_queries(7):
        summary(
            project=project,
            livemode=False,
            date_from=at(1).date(),
            date_to=at(31).date(),
            group_by=group_by,
        )


def test_api_query_count_is_bounded(api, project, shop, django_assert_max_num_queries):
    grow(project, 20)
    # The key, the campaign, the watermark, three tables' additive figures (participants
    # come from the referrals with a campaign), who was active (totals and groups).
    with django_assert_max_num_queries(8):
        get_summary(api, campaign=shop.a.public_id, group_by="day", **MARCH)


def assert_error(response: Any, status: int, type_: str, param: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == type_
    assert error["param"] == param
    assert error["message"]
    return dict(error)


@pytest.mark.parametrize("bad", ["2025-13-01", "01.03.2025", "2025-3-1", "yesterday"])
def test_malformed_date_is_422_naming_the_param(api, bad):
    assert_error(api.get("analytics/summary", **{"from": bad}), 422, "invalid_request", "from")
    assert_error(api.get("analytics/summary", to=bad), 422, "invalid_request", "to")


def test_from_after_to_is_422(api):
    response = api.get("analytics/summary", **{"from": "2025-03-31", "to": "2025-03-01"})
    error = assert_error(response, 422, "invalid_request", "from")
    assert error["code"] == "invalid_period"


def test_unknown_group_by_is_422_naming_group_by(api):
    response = api.get("analytics/summary", group_by="hour")
    assert_error(response, 422, "invalid_request", "group_by")


def test_unknown_campaign_is_404(api):
    response = api.get("analytics/summary", campaign="cmp_nope")
    assert_error(response, 404, "not_found", "campaign")


def test_missing_key_is_401(anon_api):
    response = anon_api.get("analytics/summary")
    assert_error(response, 401, "authentication", None)


def test_publishable_key_is_refused(project_keys):
    from django.test import Client

    from tests.conftest import ApiClient

    widget = ApiClient(Client(), project_keys.keys["publishable_key_test"])
    assert_error(widget.get("analytics/summary"), 403, "permission", None)
