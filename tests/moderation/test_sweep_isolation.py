"""The periodic anti-fraud sweeps walk every project: one project's broken settings are
logged and skipped, and the other projects' stop-rules and review deadlines still act."""

import logging

from django.test import Client

from sarafan.campaigns.models import Campaign
from sarafan.fraud.models import StopRule, StopRuleKind
from sarafan.moderation.scan import run_stop_rules
from sarafan.moderation.services import apply_review_deadlines
from sarafan.projects.services import create_project
from tests.conftest import ApiClient
from tests.fraud.support import REFEREE_SIGNUP_REWARD, REFERRER_REWARD, campaign, referrer
from tests.fraud.test_stoprules import HELD_SIGNUP, IP, _friends_from_one_source, _referrals
from tests.moderation.test_api import _age, _case


def _second_project() -> ApiClient:
    """Another project, created after the first: the sweeps reach it after the first."""
    _, keys = create_project(name="Second")
    return ApiClient(Client(), keys["secret_key_test"])


def _sweep_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sarafan.sweeps"]


def test_a_project_with_a_broken_stop_rule_does_not_stop_the_others(api, project, caplog):
    # Stored before the API bounded it: a window of 3 800 years reaches before year 1.
    StopRule.objects.filter(project=project, livemode=False, kind=StopRuleKind.VELOCITY_IP).update(
        window_minutes=2_000_000_000
    )
    other = _second_project()
    campaign(other, rules=[REFERRER_REWARD, HELD_SIGNUP])
    _friends_from_one_source(other, 12, {"ip": IP})

    with caplog.at_level(logging.ERROR, "sarafan.sweeps"):
        assert run_stop_rules() == 10
    assert len(_referrals(other, status="review")) == 12
    assert _sweep_errors(caplog) == [
        f"stop-rules failed for project {project.public_id}; the other projects go on"
    ]


def test_a_campaign_with_broken_settings_does_not_stop_other_review_deadlines(api, project, caplog):
    broken = campaign(api, fraud={"review_deadline_days": 3})
    _age(_case(api, code=referrer(api))["referral"]["id"], 4)
    # Stored before the API bounded it: a deadline no date arithmetic can reach.
    Campaign.objects.filter(public_id=broken["id"]).update(fraud={"review_deadline_days": 10**9})
    other = _second_project()
    campaign(
        other,
        rules=[REFERRER_REWARD, REFEREE_SIGNUP_REWARD],
        fraud={"review_deadline_days": 3, "review_deadline_action": "approve"},
    )
    due = _case(other, code=referrer(other))["referral"]["id"]
    _age(due, 4)

    with caplog.at_level(logging.ERROR, "sarafan.sweeps"):
        assert apply_review_deadlines() == 1
    assert other.get(f"referrals/{due}").json()["status"] == "pending"
    assert _sweep_errors(caplog) == [
        f"review deadlines failed for project {project.public_id}; the other projects go on"
    ]
