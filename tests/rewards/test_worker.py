"""`sarafan worker` against the same PostgreSQL database releases rewards whose hold is over."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from sarafan.rewards.models import Reward
from tests.factories import create_campaign, create_referrer, order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]


def test_worker_issues_rewards_once_their_hold_is_over(api, tmp_path):
    create_campaign(
        api,
        rules=[
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "500.00",
                "hold_days": 14,
            }
        ],
    )
    reward_id = order(api, "u-42", "o-1", code=create_referrer(api)["referral_code"]).json()[
        "rewards"
    ][0]["id"]
    Reward.objects.filter(public_id=reward_id).update(
        available_at=timezone.now() - timedelta(minutes=1)
    )
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "SARAFAN_DATA_DIR": str(tmp_path)}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "sarafan"), "worker"], env=env)
    try:
        deadline = time.monotonic() + 30
        # Issued, then e-mailed by the same worker (delivered).
        while Reward.objects.get(public_id=reward_id).status not in {"issued", "delivered"}:
            assert time.monotonic() < deadline, "the worker did not release the reward"
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert api.get(f"rewards/{reward_id}").json()["certificate"]["balance"] == "500.00"
