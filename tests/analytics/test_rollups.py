"""Rolling up: idempotent, catches late and changed rows, resumes, and its entry points."""

from collections import Counter
from datetime import time, timedelta
from io import StringIO
from typing import Any

from django.core.management import call_command

from sarafan.analytics.models import DailyActor, DailyStat, RollupState
from sarafan.analytics.services import raw_summary, rollup_days, summary
from sarafan.analytics.tasks import rollup_analytics
from sarafan.links.models import Click
from sarafan.participants.models import Participant
from sarafan.projects.services import create_project
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.tracking.models import Order
from tests.analytics.support import build_program, dated, moment, ok, today
from tests.analytics.test_summary import campaign, participant, referral, share
from tests.factories import signup


def asked(project, group_by: str | None = "day", days: int = 60) -> dict[str, Any]:
    return {
        "project": project,
        "livemode": False,
        "date_from": today() - timedelta(days=days),
        "date_to": today(),
        "group_by": group_by,
    }


def rows() -> list[Counter[tuple[Any, ...]]]:
    """Both rollup tables' rows, ids left out."""
    tables = []
    for model in (DailyStat, DailyActor):
        fields = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        tables.append(Counter(model.objects.values_list(*fields)))
    return tables


def fresh(project, *groupings: str | None) -> bool:
    """Whether the rolled-up summary equals the raw one for these groupings."""
    return all(summary(**asked(project, g)) == raw_summary(**asked(project, g)) for g in groupings)


def old_paid_order(days_ago: int) -> Order:
    """The latest first order of 1500.00 paid before that day."""
    return Order.objects.filter(
        status="paid", amount="1500.00", occurred_at__lt=moment(days_ago)
    ).latest("occurred_at")


def test_rolling_up_twice_changes_nothing(api, project):
    build_program(api, days=20)
    first = rollup_days()
    before = rows()
    assert rollup_days() == 2 * 3  # the lookback (SARAFAN_ROLLUP_LOOKBACK_DAYS), both modes
    assert rows() == before
    call_command("rollup_analytics", stdout=StringIO())  # everything again
    assert rows() == before
    assert first == (today() - moment(25).date()).days  # from the first day with data
    assert fresh(project, "day", "channel")


def test_lookback_is_a_setting(api, project, settings):
    build_program(api, days=6)
    rollup_days()
    settings.SARAFAN_ROLLUP_LOOKBACK_DAYS = 8
    assert rollup_days(project=project) == 2 * 8  # test and live mode


def test_late_click_inside_the_lookback_is_picked_up_by_the_next_rollup(api, project):
    program = build_program(api, days=9)
    rollup_days()
    with dated(moment(2)):  # clicks that reach the table late (a spool copied after a crash)
        program.click("carl-vk", times=3)
    assert not fresh(project, "channel")
    rollup_days()
    assert fresh(project, None, "channel", "day")


def test_late_order_for_an_older_day_is_picked_up_by_the_next_rollup(api, project):
    program = build_program(api, days=20)
    rollup_days()
    customer = program.customer("anna-telegram")
    # The shop reports, today, an order paid ten days ago: past the lookback.
    program.buy(customer, amount="7000.00", occurred_at=moment(10).isoformat())
    assert not fresh(project, None)
    days = rollup_days()
    assert days == 2 * 3 + 1  # the lookback of both modes, and the order's day
    assert fresh(project, None, "day", "channel", "partner", "campaign")


def test_refund_of_an_old_order_takes_out_its_revenue_and_rewards(api, project):
    program = build_program(api, days=30)
    rollup_days()
    paid = old_paid_order(20)
    rewarded = list(Reward.objects.filter(order=paid, status=RewardStatus.ISSUED))
    assert rewarded, "the order earned its referrer a reward"
    program.refund(paid.order_id)
    assert not fresh(project, None)
    rollup_days()
    assert fresh(project, None, "day", "week", "channel", "campaign")


def test_cancelled_old_reward_stops_costing_after_the_next_rollup(api, project):
    build_program(api, days=30)
    rollup_days()
    reward = Reward.objects.filter(status=RewardStatus.ISSUED, created_at__lt=moment(15)).earliest(
        "created_at"
    )
    ok(api.post(f"rewards/{reward.public_id}/cancel", {"note": "chargeback"}))
    assert not fresh(project, None)
    rollup_days()
    assert fresh(project, None, "day", "partner")


def test_referral_of_a_participant_who_joined_earlier_moves_them_to_its_channel(api, project):
    program = build_program(api, days=20)
    with dated(moment(12)):
        program.join("dora")
    rollup_days()
    ok(signup(api, "dora", program.codes["boris-partner"]))
    assert Participant.objects.get(external_id="dora").referrals_received.exists()
    assert not fresh(project, "channel")
    rollup_days()
    assert fresh(project, "channel", "partner", "day")


def test_days_missed_while_no_worker_ran_are_rolled_up(api, project):
    build_program(api, days=20)
    rollup_days()
    # As if the last run had been twelve days ago.
    RollupState.objects.filter(project=project).update(complete_until=moment(12).date())
    DailyStat.objects.filter(day__gte=moment(12).date()).delete()
    assert fresh(project, None, "day")  # the days after the watermark are read raw
    assert rollup_days(project=project) == 2 * 12
    assert DailyStat.objects.filter(day__gte=moment(12).date()).exists()
    assert fresh(project, None, "day", "channel")


def test_full_rebuild_drops_rows_of_days_whose_data_is_gone(api, project):
    build_program(api, days=9)
    rollup_days()
    Click.objects.filter(
        created_at__gte=moment(6, time.min), created_at__lt=moment(5, time.min)
    ).delete()
    out = StringIO()
    call_command("rollup_analytics", "--days", "2", stdout=out)
    assert "Rolled up 2 project-days." in out.getvalue()  # live mode has no data
    assert not fresh(project, None)
    call_command("rollup_analytics", stdout=out)
    assert fresh(project, None, "day", "channel")


def test_a_project_without_data_is_rolled_up_to_today(db):
    project, _ = create_project(name="Empty")
    assert rollup_days(project=project) == 0
    states = RollupState.objects.filter(project=project)
    assert {(s.livemode, s.complete_until) for s in states} == {(False, today()), (True, today())}
    assert not DailyStat.objects.exists()


def test_task_rolls_up_every_project(api, project):
    build_program(api, days=6)
    create_project(name="Other")
    rollup_analytics.call()
    assert RollupState.objects.filter(complete_until=today()).count() == 4
    assert DailyStat.objects.filter(project=project).exists()
    assert fresh(project, "day")


def test_late_share_for_an_older_day_is_picked_up_by_the_next_rollup(api, project):
    program = build_program(api, days=20)
    rollup_days()
    program.share("carl", "vk", occurred_at=moment(11).isoformat())
    assert not fresh(project, None)
    rollup_days()
    assert fresh(project, None, "day", "channel", "partner", "campaign")


def test_distinct_counts_over_rolled_up_days_count_each_person_once(api, project):
    """anna refers on three days through two channels; bob is referred, then refers."""
    cmp = campaign(project, "A")
    anna, bob, carl, dan = (participant(project, n, moment(20)) for n in ("anna", "bob", "c", "d"))
    referral(cmp, anna, bob, moment(9), channel="link")
    referral(cmp, bob, carl, moment(8), channel="email")
    referral(cmp, anna, dan, moment(7), channel="email")
    referral(cmp, anna, participant(project, "e", moment(1)), moment(0), channel="link")
    share(anna, moment(9), "vk")
    share(anna, moment(2), "vk")
    share(anna, moment(0), "telegram")  # today: read raw, still anna once
    rollup_days()
    query = asked(project, None, days=30)
    totals = summary(**query)["totals"]
    assert (totals["active_referrers"], totals["signups"], totals["shares"]) == (2, 4, 3)
    assert totals["share_rate"] == round(1 / totals["participants"], 4)  # one sharer
    in_campaign = summary(**{**query, "campaign": cmp})["totals"]
    assert in_campaign["participants"] == 5  # anna, bob (both roles, once), carl, dan, e
    by_channel = {g["key"]: g for g in summary(**{**query, "group_by": "channel"})["groups"]}
    assert by_channel["email"]["active_referrers"] == 2  # bob and anna
    assert by_channel["link"]["active_referrers"] == 1  # anna on two days
    by_week = summary(**{**query, "group_by": "week", "campaign": cmp})["groups"]
    assert sum(g["participants"] for g in by_week) >= in_campaign["participants"]
    for grouping in (None, "day", "week", "month", "channel", "campaign"):
        for filtered in (None, cmp):
            query = {**asked(project, grouping, days=30), "campaign": filtered}
            assert summary(**query) == raw_summary(**query), (grouping, filtered)
