"""The click spool under a real `sarafan serve`: no click answered 302 is lost when the whole
server is killed with SIGKILL, none is inserted twice, and a normal stop flushes the rest."""

import http.client
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import processes
from tests.processes import create_project, installation, wait_until

pytestmark = pytest.mark.e2e


class Server(processes.Server):
    """`sarafan serve` with two worker processes of four threads, as production runs it."""

    def __init__(self, env: dict[str, str], **settings: str) -> None:
        super().__init__({**env, **settings}, "--workers", "2", "--threads", "4")

    def call(self, method: str, path: str, body: Any = None, key: str = "") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        return response.status, raw


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[dict[str, str], Callable[[], int]]]:
    """A migrated database of its own and a data directory; and how to count its clicks."""
    env = dict(os.environ)
    for name in ("SARAFAN_CLICK_WRITES", "SARAFAN_CLICK_FLUSH_SECONDS", "SARAFAN_WORKERS"):
        env.pop(name, None)
    with installation(env, tmp_path) as installed:

        def count() -> int:
            if "DATABASE_URL" in installed:
                url = installed["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
                with psycopg.connect(url) as conn:
                    row = conn.execute("SELECT count(*) FROM links_click").fetchone()
            else:
                with closing(sqlite3.connect(tmp_path / "sarafan.sqlite3", timeout=20)) as conn:
                    row = conn.execute("SELECT count(*) FROM links_click").fetchone()
            assert row is not None
            return int(row[0])

        yield installed, count


def _seed(env: dict[str, str], server: Server) -> str:
    key = create_project(env)["secret_key_test"]
    campaign = {"name": "C", "landing_url": "https://shop.example/welcome", "rules": []}
    status, raw = server.call("POST", "/api/v1/campaigns", campaign, key)
    assert status == 201, raw
    status, raw = server.call("PUT", "/api/v1/participants/u-7", {}, key)
    assert status == 201, raw
    return str(json.loads(raw)["referral_code"])


def _redirects(server: Server, code: str, count: int) -> int:
    """Send `count` redirects from 8 threads; returns how many were answered 302."""

    def one(n: int) -> int:
        status, _ = server.call("GET", f"/r/{code}?gclid=c{n}")
        return status

    with ThreadPoolExecutor(8) as pool:
        return sum(status == 302 for status in pool.map(one, range(count)))


def _wait_for(count: Callable[[], int], expected: int) -> int:
    """Wait until the count reaches `expected`; returns the count then."""
    wait_until(
        lambda: count() >= expected,
        timeout=120,
        message=lambda: f"{count()} clicks in links_click, {expected} expected",
        every=0.1,
    )
    return count()


def _spooled_lines(directory: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in directory.glob("*.jsonl"))


def test_killed_server_loses_no_click_and_stopped_one_flushes(deployment, tmp_path):
    env, count = deployment
    spool = tmp_path / "spool" / "clicks"
    # A flush interval far longer than the test: the clicks stay in the spool files.
    first = Server(env, SARAFAN_CLICK_FLUSH_SECONDS="3600")
    try:
        code = _seed(env, first)
        answered = _redirects(first, code, 120)
    finally:
        first.stop(signal.SIGKILL)
    assert answered == 120
    in_database = count()
    assert _spooled_lines(spool) >= answered - in_database > 0

    second = Server(env)
    try:
        assert _redirects(second, code, 1) == 1  # its first click starts the recovery
        assert _wait_for(count, answered + 1) == answered + 1
        time.sleep(1.0)  # part of the test: nothing more arrives a moment later
        assert count() == answered + 1  # and nothing twice
    finally:
        second.stop(signal.SIGTERM)
    assert not [path for path in spool.glob("*.jsonl") if path.stat().st_size]

    third = Server(env, SARAFAN_CLICK_FLUSH_SECONDS="3600")
    try:
        assert _redirects(third, code, 20) == 20
    finally:
        third.stop(signal.SIGTERM)  # the workers' exit flushes what the thread has not
    assert count() == answered + 21
    assert not list(spool.glob("*.jsonl"))
