"""Certificate e-mails survive crashes of real processes, each against an installation of its
own (SQLite, or a fresh PostgreSQL database on the PostgreSQL pass) and a real SMTP server:

- a `sarafan worker` SIGKILLed in the middle of an e-mail (the server holds its DATA
  unanswered): after a new worker starts, the e-mail arrives once, and the dead worker's
  task row no longer says RUNNING;
- a web process killed after the order's commit and before the on-commit enqueue of the
  event dispatcher (whose `reward.issued` handler queues the e-mail): the worker's sweeps
  send the e-mail once.
"""

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.processes import SARAFAN, create_project, installation, kill_session, wait_until
from tests.rewards.holding_smtp import HoldingInbox, start_holding_server
from tests.rewards.smtp import SmtpServer, start_server

pytestmark = pytest.mark.e2e
# How long a worker may take, on a loaded machine, to start and send an e-mail.
DELIVERY_SECONDS = 120.0
WEB = str(Path(__file__).parent / "crashing_web.py")
DELIVER = "sarafan.rewards.tasks.deliver_reward"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    for name in ("SARAFAN_EMAIL_HOST", "SARAFAN_TASK_BACKEND", "SARAFAN_LOG_LEVEL"):
        env.pop(name, None)
    with installation(env, tmp_path) as installed:
        yield installed


def sql(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    """Rows of the installation's database, read beside its processes."""
    url = env.get("DATABASE_URL", "")
    if url:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
            return list(conn.execute(query.encode()).fetchall())
    path = Path(env["SARAFAN_DATA_DIR"]) / "sarafan.sqlite3"
    with closing(sqlite3.connect(path, timeout=60)) as conn:
        return list(conn.execute(query).fetchall())


def mailing(env: dict[str, str], server: SmtpServer, **settings: str) -> dict[str, str]:
    return {
        **env,
        "SARAFAN_EMAIL_HOST": "127.0.0.1",
        "SARAFAN_EMAIL_PORT": str(server.port),
        # Longer than the test holds an e-mail: the worker waits, it does not give up.
        "SARAFAN_EMAIL_TIMEOUT": "300",
        **settings,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # In a session of its own, so that it can be killed with everything it started.
    return subprocess.Popen(
        [SARAFAN, "worker", "--processes", "1"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(worker: subprocess.Popen[bytes] | None) -> None:
    if worker is not None:
        kill_session(worker.pid)
        worker.wait(timeout=DELIVERY_SECONDS)


def web(env: dict[str, str], key: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, WEB, key, *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=DELIVERY_SECONDS,
    )


def reward_status(env: dict[str, str], public_id: str) -> str:
    [(status,)] = sql(env, f"SELECT status FROM rewards_reward WHERE public_id = '{public_id}'")
    return str(status)


def sweeps_done(env: dict[str, str]) -> bool:
    """Every task the worker's schedule enqueued has run (the recovery sweeps among them)."""
    return not sql(
        env,
        "SELECT id FROM django_tasks_database_dbtaskresult WHERE status IN ('READY', 'RUNNING')",
    )


def wait_done(env: dict[str, str], done: Callable[[], bool], not_done: str) -> None:
    """Until `done()` holds, then until every task of the worker's schedule has run."""
    wait_until(done, timeout=DELIVERY_SECONDS, message=not_done, every=0.3)
    wait_until(
        lambda: sweeps_done(env),
        timeout=DELIVERY_SECONDS,
        message="the worker did not finish its sweeps",
        every=0.3,
    )


def wait_delivered(env: dict[str, str], reward_id: str, not_sent: str) -> None:
    wait_done(env, lambda: reward_status(env, reward_id) == "delivered", not_sent)


def test_a_worker_killed_in_the_middle_of_an_email_sends_it_once_after_a_restart(env):
    keys = create_project(env)
    server = start_holding_server(hold=1)
    inbox = server.inbox
    assert isinstance(inbox, HoldingInbox)
    first = second = None
    try:
        # The first worker's sweeps would wait an hour: only its task sends.
        patient = {"SARAFAN_DELIVERY_GRACE_SECONDS": "3600", "SARAFAN_TASK_STALE_SECONDS": "3600"}
        first = start_worker(mailing(env, server, **patient))
        placed = web(env, keys["secret_key_test"])
        assert placed.returncode == 0, placed.stderr
        reward_id = placed.stdout.strip()
        wait_until(
            inbox.holding.is_set,
            timeout=DELIVERY_SECONDS,
            message="the worker did not start the e-mail",
            every=0.1,
        )
        stop(first)  # SIGKILL while the worker waits for the answer to its DATA

        # What the dead worker left: the reward issued, its e-mail claimed, its task running.
        assert reward_status(env, reward_id) == "issued"
        assert sql(env, "SELECT status, attempts FROM rewards_delivery") == [("sending", 1)]
        deliver_task = (
            f"SELECT status FROM django_tasks_database_dbtaskresult WHERE task_path = '{DELIVER}'"
        )
        assert sql(env, deliver_task) == [("RUNNING",)]
        assert server.messages == []

        # A new worker whose sweeps take over at once.
        eager = {"SARAFAN_DELIVERY_GRACE_SECONDS": "0", "SARAFAN_TASK_STALE_SECONDS": "0"}
        second = start_worker(mailing(env, server, **eager))
        wait_delivered(env, reward_id, "the new worker did not send the interrupted e-mail")
        [message] = server.messages
        assert message["To"] == "Анна <u-7@example.ru>"
        assert inbox.started == 2  # the interrupted send and the one that went through
        assert sql(env, "SELECT status, attempts FROM rewards_delivery") == [("sent", 2)]
        assert sql(env, deliver_task) == [("FAILED",)]
    finally:
        try:
            stop(first)
            stop(second)
        finally:
            inbox.release.set()
            server.stop()


def test_a_web_process_killed_before_its_enqueue_loses_no_email(env):
    keys = create_project(env)
    server = start_server()
    worker = None
    try:
        crashed = web(env, keys["secret_key_test"], "--killed-before-enqueue")
        assert crashed.returncode == -9, crashed.stderr
        # The order committed: the reward is issued, and no task was ever enqueued for it.
        [(reward_id, status)] = sql(env, "SELECT public_id, status FROM rewards_reward")
        assert status == "issued"
        assert sql(env, "SELECT id FROM django_tasks_database_dbtaskresult") == []

        worker = start_worker(mailing(env, server, SARAFAN_DELIVERY_GRACE_SECONDS="0"))
        wait_delivered(env, reward_id, "the worker's sweep did not send the lost e-mail")
        [message] = server.messages
        assert message["To"] == "Анна <u-7@example.ru>"
        assert sql(env, "SELECT status, attempts FROM rewards_delivery") == [("sent", 1)]
    finally:
        try:
            stop(worker)
        finally:
            server.stop()
