"""The RQ task backend: `sarafan worker` on Redis runs tasks, and settings refuse rq without Redis."""

import os
import secrets
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from sarafan.rewards.models import Reward, RewardEvent
from tests.factories import create_campaign, create_referrer, order
from tests.processes import SARAFAN, kill_session, wait_session_gone, wait_until

REDIS_SERVER = "redis://127.0.0.1:6379"
# Redis databases the tests may take, one test at a time each: two test processes, or two
# test runs side by side, must never empty or work each other's queue.
REDIS_DATABASES = range(8, 16)
# How long the worker may take, on a loaded machine, to start and release the reward.
RELEASE_SECONDS = 120.0


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty Redis database held by this test alone, emptied again afterwards."""
    locks = redis.Redis.from_url(f"{REDIS_SERVER}/0")
    try:
        locks.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"needs Redis at {REDIS_SERVER}")
    token = secrets.token_hex(8)

    def take() -> int | None:
        for number in REDIS_DATABASES:
            # Expires by itself if the test process dies without giving it back.
            if locks.set(f"sarafan-tests:redis-db:{number}", token, nx=True, ex=600):
                return number
        return None

    number = wait_until(take, timeout=RELEASE_SECONDS, message="no Redis test database came free")
    url = f"{REDIS_SERVER}/{number}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
    finally:
        client.flushdb()
        client.close()
        if locks.get(f"sarafan-tests:redis-db:{number}") == token.encode():
            locks.delete(f"sarafan-tests:redis-db:{number}")
        locks.close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "SARAFAN_TASK_BACKEND"}}
    # This process's SECRET_KEY, as an installation's processes share it: the worker
    # encrypts certificate codes under it and the test reads them back.
    env["SECRET_KEY"] = settings.SECRET_KEY
    return {**env, "SARAFAN_DATA_DIR": str(tmp_path), **extra}


def test_settings_refuse_rq_without_redis_url(tmp_path):
    result = subprocess.run(
        [SARAFAN, "check"],
        env=_env(tmp_path, SARAFAN_TASK_BACKEND="rq"),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SARAFAN_TASK_BACKEND=rq keeps tasks in Redis, but REDIS_URL is not set" in result.stderr


def test_settings_accept_rq_with_redis_url(tmp_path, redis_url):
    result = subprocess.run(
        [SARAFAN, "check"],
        env=_env(tmp_path, SARAFAN_TASK_BACKEND="rq", REDIS_URL=redis_url),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_rq_worker_releases_a_due_reward(api, tmp_path, redis_url):
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
    code = create_referrer(api)["referral_code"]
    reward_id = order(api, "u-42", "o-1", code=code).json()["rewards"][0]["id"]
    Reward.objects.filter(public_id=reward_id).update(
        available_at=timezone.now() - timedelta(minutes=1)
    )
    db = connection.settings_dict
    env = _env(
        tmp_path,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SARAFAN_TASK_BACKEND="rq",
        REDIS_URL=redis_url,
    )
    # --no-schedule: the only release is the one enqueued below, through Redis. The worker
    # (a supervisor and its worker processes) runs in a session of its own, so that all of
    # it can be awaited, and killed if it does not stop.
    worker = subprocess.Popen([SARAFAN, "worker", "--no-schedule"], env=env, start_new_session=True)
    try:
        enqueue = (
            "from sarafan.rewards.tasks import release_due_rewards; "
            "print(release_due_rewards.enqueue().id)"
        )
        subprocess.run([SARAFAN, "manage", "shell", "-c", enqueue], env=env, check=True)
        assert redis.Redis.from_url(redis_url).keys("rq:job:*"), "the task is not in Redis"

        def released() -> bool:
            assert worker.poll() is None, "the RQ worker exited"
            # Issued, then e-mailed by the same worker (delivered).
            return Reward.objects.get(public_id=reward_id).status in {"issued", "delivered"}

        wait_until(
            released,
            timeout=RELEASE_SECONDS,
            message="the RQ worker did not release the reward",
            every=0.2,
        )
    finally:
        try:
            worker.terminate()
            wait_session_gone(worker)  # the supervisor exits only after its workers
        finally:
            kill_session(worker.pid)  # the last resort, when something did not stop
    assert worker.returncode == 0  # SIGTERM: a warm shutdown
    approvals = RewardEvent.objects.filter(reward__public_id=reward_id, to_status="approved")
    assert approvals.count() == 1
    assert api.get(f"rewards/{reward_id}").json()["certificate"]["balance"] == "500.00"
