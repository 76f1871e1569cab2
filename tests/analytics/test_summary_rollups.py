"""The summary read through daily rollups answers exactly what the raw rows answer."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sarafan.analytics.models import DailyStat, RollupState
from sarafan.analytics.services import GROUPINGS, raw_summary, rollup_days, summary
from sarafan.campaigns.models import Campaign
from tests.analytics.support import build_program, moment, today

# (from, to) in days before today; once rolled up, the watermark is today.
RANGES = {
    "everything": (60, 0),
    "starts mid-rollup": (20, 0),
    "ends mid-rollup": (30, 5),
    "one rolled-up day": (7, 7),
    "across the watermark": (2, 0),
    "today only": (0, 0),
    "before the first day": (90, 42),
}


def query(project, days: tuple[int, int], **more: Any) -> dict[str, Any]:
    start, end = (today() - timedelta(days=n) for n in days)
    return {"project": project, "livemode": False, "date_from": start, "date_to": end, **more}


def mismatches(project, campaigns, groupings=(None, *GROUPINGS)) -> list[tuple[Any, ...]]:
    """Every (grouping, range, campaign) whose rolled-up answer differs from the raw one."""
    found = []
    for group_by in groupings:
        for name, days in RANGES.items():
            for campaign in campaigns:
                asked = query(project, days, campaign=campaign, group_by=group_by)
                if summary(**asked) != raw_summary(**asked):
                    found.append((group_by, name, campaign and campaign.name))
    return found


def test_rolled_up_summary_equals_raw_for_every_grouping_range_and_campaign(api, project):
    program = build_program(api)
    assert rollup_days() > 40
    assert RollupState.objects.get(project=project, livemode=False).complete_until == today()
    campaigns = [None, *Campaign.objects.filter(public_id__in=[program.a, program.b])]
    assert mismatches(project, campaigns) == []
    # The data set has what the comparison needs to mean something: every kind of row,
    # on many days, in both campaigns and several channels.
    totals = summary(**query(project, RANGES["everything"]))["totals"]
    assert totals["active_referrers"] == 3
    assert min(totals[name] for name in ("clicks", "shares", "signups", "repeat_orders")) >= 10
    groups = summary(**query(project, RANGES["everything"], group_by="channel"))["groups"]
    assert {group["key"] for group in groups} >= {"link", "telegram", "partner", "vk", "email"}


@pytest.mark.parametrize("group_by", ["day", "channel", "campaign"])
def test_rollups_equal_raw_in_live_mode_too(api, live_api, project, group_by):
    build_program(live_api, days=9)
    rollup_days(project=project)
    asked = {**query(project, RANGES["everything"], group_by=group_by), "livemode": True}
    assert summary(**asked) == raw_summary(**asked)
    assert summary(**asked)["totals"]["clicks"] > 0
    assert summary(**query(project, RANGES["everything"]))["totals"]["clicks"] == 0


def test_days_before_the_watermark_are_read_from_rollups_not_raw_clicks(api, project):
    build_program(api, days=12)
    rollup_days()
    with CaptureQueriesContext(connection) as rolled:
        summary(**query(project, (12, 1), group_by="channel"))
    with CaptureQueriesContext(connection) as today_only:
        summary(**query(project, (0, 0), group_by="channel"))
    assert not any("links_click" in q["sql"] for q in rolled.captured_queries)
    assert any("analytics_dailystat" in q["sql"] for q in rolled.captured_queries)
    assert any("links_click" in q["sql"] for q in today_only.captured_queries)
    assert not any("analytics_dailystat" in q["sql"] for q in today_only.captured_queries)


def test_rollup_rows_are_the_local_days_with_data_before_today(api, project):
    build_program(api, days=9)  # 14 days ago the referrers joined; activity 9, 6, 3 days ago
    rollup_days()
    days = set(DailyStat.objects.values_list("day", flat=True))
    assert days == {moment(n).date() for n in (14, 9, 6, 3)}


def test_rollups_made_in_another_time_zone_are_not_read_and_are_rebuilt(api, project, settings):
    build_program(api, days=12)
    rollup_days()
    settings.TIME_ZONE = "America/New_York"
    campaigns = [None]
    assert mismatches(project, campaigns, groupings=("day", "channel")) == []
    rollup_days()
    state = RollupState.objects.get(project=project, livemode=False)
    assert (state.time_zone, state.complete_until) == ("America/New_York", today())
    assert mismatches(project, campaigns, groupings=("day", "week")) == []


def test_summary_query_count_does_not_grow_with_days(api, project):
    def queries(days: int) -> dict[str | None, int]:
        counts = {}
        for group_by in (None, *GROUPINGS):
            with CaptureQueriesContext(connection) as captured:
                summary(**query(project, (days, 0), group_by=group_by))
            counts[group_by] = len(captured.captured_queries)
        return counts

    build_program(api, days=4, step=2)
    rollup_days()
    few = queries(4)
    build_program(api, days=40, step=4, tag="more-")
    rollup_days()
    assert queries(40) == few
    # The watermark, DailyStat, four raw tables for today, and who was active (totals and
    # groups, DailyActor and today's referrals and shares in one query each).
    assert max(few.values()) <= 8
