"""Several processes against one PostgreSQL: `sarafan serve --workers 2` and two `sarafan worker`s.

Many client threads send duplicate orders and orders past a campaign's budget over HTTP; then
both task workers release the same held rewards. The outcome is checked in SQL.
"""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from sarafan.rewards.tasks import release_due_rewards
from tests.processes import (
    SARAFAN,
    START_SECONDS,
    Server,
    kill_session,
    wait_session_gone,
    wait_until,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("on_postgres"),
]
THREADS = 16
BUDGET_ORDERS = 40  # 500.00 each against a budget of 5000.00: 10 fit
RELEASE_TASKS = 20
# How long the two workers may take over the release tasks on a loaded machine.
TASK_SECONDS = 120.0


def _sql(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


class Api:
    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(
                method,
                f"/api/v1/{path}",
                body=json.dumps(body) if body is not None else None,
                headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def order(self, campaign: str, customer: str, order_id: str, code: str) -> tuple[int, Any]:
        return self.call(
            "POST",
            "events",
            {
                "type": "order",
                "campaign": campaign,
                "referral_code": code,
                "customer": {"external_id": customer, "email": f"{customer}@mail.example"},
                "order": {"id": order_id, "amount": "4990.00", "currency": "RUB", "status": "paid"},
            },
        )

    def campaign(self, name: str, budget: str) -> str:
        status, body = self.call(
            "POST",
            "campaigns",
            {
                "name": name,
                "landing_url": "https://shop.example/welcome",
                "rules": [
                    {
                        "recipient": "referrer",
                        "trigger": "first_order",
                        "kind": "fixed",
                        "amount": "500.00",
                        "hold_days": 14,
                    }
                ],
                "limits": {"per_referrer_per_month": 1000, "budget": budget},
            },
        )
        assert status == 201, body
        return str(body["id"])

    def referrer(self, external_id: str) -> str:
        status, body = self.call(
            "PUT", f"participants/{external_id}", {"email": f"{external_id}@example.ru"}
        )
        assert status in (200, 201), body
        return str(body["referral_code"])


def _claimed_by(task_ids: list[str]) -> list[str | None]:
    """The worker that claimed each of these tasks first, None for a task not claimed yet."""
    rows = _sql(
        "SELECT worker_ids->>0 FROM django_tasks_database_dbtaskresult WHERE id = ANY(%s::uuid[])",
        (task_ids,),
    )
    return [row[0] for row in rows]


def _wait_for_workers(workers: list[subprocess.Popen[Any]]) -> None:
    """Until every task worker has claimed a task: one still loading Django (seconds on a
    loaded machine) would leave every release task of the test to the other."""
    probes: list[str] = []

    def each_took_one() -> bool:
        assert all(w.poll() is None for w in workers), "a task worker exited at start"
        claimed = _claimed_by(probes)
        if len({worker for worker in claimed if worker}) == len(workers):
            return True
        if None not in claimed:  # one probe at a time; nothing is due, so each releases nothing
            probes.append(str(release_due_rewards.enqueue().id))
        return False

    wait_until(
        each_took_one,
        timeout=START_SECONDS,
        message=lambda: f"the probes were claimed by {_claimed_by(probes)}",
        every=0.1,
    )


@contextmanager
def _processes(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """The test database served by two web processes and worked by two task workers."""
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "SARAFAN_TASK_BACKEND"}},
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SARAFAN_DATA_DIR": str(tmp_path),
    }
    created = subprocess.run(
        [SARAFAN, "project", "create", "Shop", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys = json.loads(created.stdout)
    server = Server(env, "--workers", "2")
    workers: list[subprocess.Popen[Any]] = []
    try:
        # Two worker hosts of one process each: the tasks are shared between them. Without
        # their schedules, the only releases are the test's: a periodic one (every minute,
        # so within a test slowed down by a loaded machine) could release held rewards
        # between the UPDATE below and the test's tasks, and take them from their sum.
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [SARAFAN, "worker", "--processes", "1", "--no-schedule"],
                    env=server.env,
                    start_new_session=True,
                )
            )
        _wait_for_workers(workers)
        yield server.port, keys
        assert server.proc.poll() is None, "sarafan serve exited during the test"
        assert all(w.poll() is None for w in workers), "a task worker exited during the test"
    finally:
        try:
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGTERM)
            server.stop()
            for worker in workers:
                wait_session_gone(worker)
        finally:  # the last resort, when something did not stop
            server.kill()
            for worker in workers:
                kill_session(worker.pid)
    # SIGTERM lets a task worker finish its task and exit cleanly.
    assert [worker.returncode for worker in workers] == [0, 0]


def test_serve_and_two_workers_share_one_database(tmp_path):
    with _processes(tmp_path) as (port, keys):
        api = Api(port, keys["secret_key_test"])
        pool = ThreadPoolExecutor(THREADS)

        # The same paid order from many threads: one order, one reward.
        dup_campaign = api.campaign("Duplicates", budget="100000.00")
        dup_code = api.referrer("r-dup")
        answers = list(
            pool.map(lambda _: api.order(dup_campaign, "c-dup", "o-dup", dup_code), range(24))
        )
        assert Counter(status for status, _ in answers) == {201: 1, 200: 23}, answers
        assert len({body["rewards"][0]["id"] for _, body in answers}) == 1
        assert _sql("SELECT count(*) FROM tracking_order WHERE order_id = 'o-dup'") == [(1,)]
        assert _sql(
            "SELECT count(*) FROM rewards_reward r JOIN tracking_order o ON o.id = r.order_id "
            "WHERE o.order_id = 'o-dup'"
        ) == [(1,)]

        # Many different first orders past the budget: what is issued fits it, the rest is
        # skipped as budget_exhausted.
        budget_campaign = api.campaign("Budget", budget="5000.00")
        codes = [api.referrer(f"r-{i}") for i in range(4)]
        answers = list(
            pool.map(
                lambda i: api.order(budget_campaign, f"c-{i}", f"o-{i}", codes[i % 4]),
                range(BUDGET_ORDERS),
            )
        )
        pool.shutdown()
        assert {status for status, _ in answers} == {201}, answers
        rewarded = [body for _, body in answers if body["rewards"]]
        skipped = [body for _, body in answers if not body["rewards"]]
        assert len(rewarded) == 10
        assert all("budget_exhausted" in body["fraud"]["reasons"] for body in skipped)
        assert _sql(
            "SELECT count(*), sum(r.amount), min(c.spent) FROM rewards_reward r "
            "JOIN campaigns_campaign c ON c.id = r.campaign_id WHERE c.public_id = %s",
            (budget_campaign,),
        ) == [(10, 5000, 5000)]

        # The holds end; both workers release the due rewards at the same time.
        held = _sql(
            "UPDATE rewards_reward SET available_at = now() - interval '1 minute' "
            "WHERE status = 'pending' RETURNING id"
        )
        assert len(held) == 11
        task_ids = []
        for _ in range(RELEASE_TASKS):
            task_ids.append(str(release_due_rewards.enqueue().id))
            # Part of the test, not a wait: the release tasks arrive one after another
            # while both workers poll (every 0.05 s), so that each of them takes some.
            time.sleep(0.05)
        finished_sql = (
            "SELECT count(*) FROM django_tasks_database_dbtaskresult "
            "WHERE id = ANY(%s::uuid[]) AND finished_at IS NOT NULL"
        )
        wait_until(
            lambda: _sql(finished_sql, (task_ids,)) == [(RELEASE_TASKS,)],
            timeout=TASK_SECONDS,
            message=lambda: (
                f"the workers ran {_sql(finished_sql, (task_ids,))} of "
                f"{RELEASE_TASKS} release tasks"
            ),
            every=0.2,
        )

    [(statuses, released, workers)] = _sql(
        "SELECT array_agg(DISTINCT status), sum((return_value)::int), "
        "count(DISTINCT worker_ids->>0) FROM django_tasks_database_dbtaskresult "
        "WHERE id = ANY(%s::uuid[])",
        (task_ids,),
    )
    assert (statuses, released) == (["SUCCESSFUL"], 11)
    assert workers == 2, "one worker ran every release task"
    per_reward = _sql(
        "SELECT r.status, "
        "(SELECT count(*) FROM rewards_rewardevent e "
        " WHERE e.reward_id = r.id AND e.to_status = 'approved'), "
        "(SELECT count(*) FROM rewards_certificate c WHERE c.reward_id = r.id) "
        "FROM rewards_reward r WHERE r.id = ANY(%s)",
        ([row[0] for row in held],),
    )
    # The worker e-mails each certificate right after (the console backend here), which
    # moves the reward on to delivered.
    assert Counter((status in {"issued", "delivered"}, *rest) for status, *rest in per_reward) == {
        (True, 1, 1): 11
    }
