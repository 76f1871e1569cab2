"""Bots' clicks are recorded but counted nowhere: not in the summary read from the raw rows,
nor in the daily rollups, whatever the grouping or campaign."""

from datetime import timedelta
from typing import Any

from django.db.models import Sum

from sarafan.analytics.models import DailyStat
from sarafan.analytics.services import GROUPINGS, raw_summary, rollup_days, summary
from sarafan.campaigns.models import Campaign
from sarafan.links.models import Click
from tests.analytics.support import Program, build_program, dated, moment, today

# A link preview, a search robot, a script, a headless browser and no User-Agent at all.
BOTS = (
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " HeadlessChrome/120.0.6099.109 Safari/537.36",
    "",
)
DAYS = 9
BOT_ONLY_DAY = 5  # build_program(days=9, step=3) has activity 9, 6 and 3 days ago, and today


def bot_visits(program: Program, days_ago: int) -> None:
    with dated(moment(days_ago)):
        for agent in BOTS:
            for link in ("anna", "anna-telegram", "boris-partner", "carl-vk"):
                program.click(link, user_agent=agent)


def answers(api: Any, program: Program) -> dict[tuple[str | None, str | None], Any]:
    """GET /analytics/summary over the whole program, per grouping and campaign."""
    period = {"from": str(today() - timedelta(days=DAYS + 5)), "to": str(today())}
    found = {}
    for group_by in (None, *GROUPINGS):
        for campaign in (None, program.a, program.b):
            query = dict(period)
            if group_by is not None:
                query["group_by"] = group_by
            if campaign is not None:
                query["campaign"] = campaign
            response = api.get("analytics/summary", **query)
            assert response.status_code == 200, response.content
            found[group_by, campaign] = response.json()
    return found


def test_bot_clicks_are_recorded_but_not_in_the_raw_summary(api, project):
    program = build_program(api, days=DAYS)
    before = answers(api, program)
    people = Click.objects.count()
    assert before[None, None]["totals"]["clicks"] == people > 0

    for days_ago in (DAYS, BOT_ONLY_DAY, 0):
        bot_visits(program, days_ago)

    assert Click.objects.filter(is_bot=True).count() == 3 * 4 * len(BOTS)
    assert Click.objects.filter(is_bot=False).count() == people
    assert answers(api, program) == before


def test_bot_clicks_are_not_rolled_up(api, project):
    program = build_program(api, days=DAYS)
    before = answers(api, program)
    for days_ago in (DAYS, BOT_ONLY_DAY, 0):
        bot_visits(program, days_ago)

    assert rollup_days() > DAYS
    scope = {"project": project, "livemode": False}
    rolled_people = Click.objects.filter(
        **scope, is_bot=False, created_at__lt=moment(0).replace(hour=0, minute=0)
    ).count()
    assert DailyStat.objects.filter(**scope).aggregate(clicks=Sum("clicks"))["clicks"] == (
        rolled_people
    )
    assert not DailyStat.objects.filter(day=today() - timedelta(days=BOT_ONLY_DAY)).exists()
    # Read through the rollups now (every day but today), the summary has not moved.
    assert answers(api, program) == before
    campaigns = [None, *Campaign.objects.filter(public_id__in=[program.a, program.b])]
    for group_by in (None, *GROUPINGS):
        for campaign in campaigns:
            asked = {
                "project": project,
                "livemode": False,
                "date_from": today() - timedelta(days=DAYS + 5),
                "date_to": today(),
                "campaign": campaign,
                "group_by": group_by,
            }
            assert summary(**asked) == raw_summary(**asked), (group_by, campaign)
