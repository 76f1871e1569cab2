"""`sarafan worker` against the same PostgreSQL database releases rewards whose hold is over."""

import os
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from sarafan.rewards.models import Reward
from tests.factories import create_campaign, create_referrer, order
from tests.processes import SARAFAN, kill_session, wait_session_gone, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]
# How long the worker may take, on a loaded machine, to start and release the reward.
RELEASE_SECONDS = 120.0


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
    # The same SECRET_KEY as this process: the worker encrypts the certificate's code under
    # it, and the test reads it back, as every process of one installation does.
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SARAFAN_DATA_DIR": str(tmp_path),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    # In a session of its own: the supervisor and its worker processes can all be awaited,
    # and killed if they do not stop.
    worker = subprocess.Popen([SARAFAN, "worker"], env=env, start_new_session=True)
    try:
        wait_until(
            # Issued, then e-mailed by the same worker (delivered).
            lambda: Reward.objects.get(public_id=reward_id).status in {"issued", "delivered"},
            timeout=RELEASE_SECONDS,
            message="the worker did not release the reward",
            every=0.3,
        )
    finally:
        try:
            worker.terminate()
            wait_session_gone(worker)  # the supervisor exits only after its workers
        finally:
            kill_session(worker.pid)  # the last resort, when something did not stop
    assert api.get(f"rewards/{reward_id}").json()["certificate"]["balance"] == "500.00"
