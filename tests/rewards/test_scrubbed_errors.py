"""Errors recorded before the outbound guard quoted what a provider (or any server the URL
pointed at) answered; the migration cuts them back to the fixed reasons, and nothing of the
answer is shown by the API afterwards."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from sarafan.alerts.models import Alert
from sarafan.rewards.models import Issuer, Reward, RewardStatus, Waiting
from tests.factories import create_campaign, create_referrer, order

pytestmark = pytest.mark.django_db
LEAKED = 'ami-id\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI "Code": "Success"'
migration = importlib.import_module("sarafan.rewards.migrations.0004_scrub_provider_messages")


@pytest.mark.parametrize(
    ("recorded", "kept"),
    [
        (f"HTTP 503: {LEAKED}", "HTTP 503."),
        (
            f"The issuer refused: The provider refused (HTTP 404): {LEAKED}",
            "The issuer refused: The provider refused (HTTP 404).",
        ),
        (
            f"The issuer failed 5 times; last: Cannot reach the provider: [Errno 111] {LEAKED}.",
            "The issuer failed 5 times; last: Cannot reach the provider.",
        ),
        # Fixed reasons are kept as they are.
        (
            "HTTP 302: the provider redirects; set the issuer's url to the final address.",
            "HTTP 302: the provider redirects; set the issuer's url to the final address.",
        ),
        ("No answer within 10 s.", "No answer within 10 s."),
    ],
)
def test_a_recorded_error_keeps_only_the_fixed_reason(recorded, kept):
    assert migration.scrubbed(recorded) == kept


def test_the_migration_scrubs_rewards_issuers_and_alerts(api, project):
    issuer = api.post("issuers", {"name": "Подарочки", "url": "https://gifts.example/v1"}).json()
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "500.00",
                "hold_days": 0,
            }
        ],
        reward_source={"type": "issuer", "issuer": issuer["id"]},
    )
    code = create_referrer(api, "ref-1")["referral_code"]
    reward_id = order(api, "cust-1", "o-1", code=code).json()["rewards"][0]["id"]
    Reward.objects.filter(public_id=reward_id).update(
        status=RewardStatus.APPROVED,
        waiting=Waiting.ISSUER_FAILED,
        last_error=f"HTTP 500: {LEAKED}",
    )
    Issuer.objects.filter(public_id=issuer["id"]).update(
        last_error=f"Cannot reach the provider: {LEAKED}"
    )
    alert = Alert.objects.create(
        project=project,
        livemode=False,
        kind="issuer.failed",
        message=f"Reward {reward_id} was not issued: HTTP 500: {LEAKED}",
    )

    # The models as the migration sees them (alerts were still fraud's then).
    loader = MigrationLoader(connection)
    migration.scrub(loader.project_state(("rewards", "0004_scrub_provider_messages")).apps, None)

    shown = (
        api.get(f"rewards/{reward_id}").content.decode()
        + api.get(f"issuers/{issuer['id']}").content.decode()
    )
    assert "wJalrXUtnFEMI" not in shown
    assert api.get(f"rewards/{reward_id}").json()["waiting"]["last_error"] == "HTTP 500."
    assert api.get(f"issuers/{issuer['id']}").json()["circuit"]["last_error"] == (
        "Cannot reach the provider."
    )
    alert.refresh_from_db()
    assert alert.message == f"Reward {reward_id} was not issued: HTTP 500."
