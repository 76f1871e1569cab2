"""The `sarafan` command as a user runs it: deploy checks, project creation, `up`, and
how its processes stop: every child gone before the command exits, whatever stops it."""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sarafan.cli import local_base_url
from tests.processes import (
    SARAFAN,
    START_SECONDS,
    Server,
    installation,
    kill_session,
    session_alive,
    wait_session_gone,
    wait_until,
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "SARAFAN_DATA_DIR": str(tmp_path), **extra}


def test_check_deploy_is_silent_with_production_settings(tmp_path):
    env = _env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(60),
        SARAFAN_BASE_URL="https://ref.shop.example",
        ALLOWED_HOSTS="ref.shop.example",
    )
    result = subprocess.run([SARAFAN, "check", "--deploy"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_check_deploy_warns_on_development_defaults(tmp_path):
    result = subprocess.run(
        [SARAFAN, "check", "--deploy"], env=_env(tmp_path), capture_output=True, text=True
    )
    assert "security.W" in result.stdout + result.stderr


def test_project_create_prints_four_keys_once(tmp_path):
    env = _env(tmp_path)
    subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [SARAFAN, "project", "create", "Лавка", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys = json.loads(result.stdout)
    assert keys["id"].startswith("prj_")
    for name, prefix in [
        ("secret_key_test", "sk_test_"),
        ("secret_key_live", "sk_live_"),
        ("publishable_key_test", "pk_test_"),
        ("publishable_key_live", "pk_live_"),
    ]:
        assert keys[name].startswith(prefix)
    database = (tmp_path / "sarafan.sqlite3").read_bytes()
    assert keys["secret_key_test"].encode() not in database


def _api(server: Server, path: str, key: str) -> Any:
    request = urllib.request.Request(
        f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _start_up(tmp_path: Path, *, base_url: bool = True) -> tuple[Server, str]:
    """`sarafan up` answering on its port, and what it printed up to "Press Ctrl+C"."""
    server = Server(_env(tmp_path), command="up", stdout=subprocess.PIPE, base_url=base_url)
    lines: list[str] = []
    assert server.proc.stdout is not None
    while not any(line.startswith("Press Ctrl+C") for line in lines):
        line = server.proc.stdout.readline()
        assert line, "".join(lines) + server.output()
        lines.append(line)
    return server, "".join(lines)


SUPERVISED = str(Path(__file__).parent / "supervised.py")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sig", "group"),
    [
        pytest.param(signal.SIGTERM, False, id="service-manager-stop"),
        pytest.param(signal.SIGINT, True, id="ctrl-c-in-a-terminal"),
    ],
)
def test_up_creates_the_demo_and_serves_console_and_api(tmp_path, sig, group):
    server, output = _start_up(tmp_path)
    try:
        key = re.search(r"Test secret key:\s+(sk_test_\S+)", output)
        login = re.search(r"Login:\s+admin / (\S+)", output)
        assert key and login, output
        campaigns = _api(server, "/api/v1/campaigns", key.group(1))
        assert [c["name"] for c in campaigns["data"]] == ["Приведи друга"]
        demo_pools = _api(server, "/api/v1/pools", key.group(1))["data"]
        assert [p["stock"]["available"] for p in demo_pools] == [20]
        with urllib.request.urlopen(f"{server.url}/console/login/", timeout=30) as page:
            assert page.status == 200
        saved = json.loads((tmp_path / "demo.json").read_text())
        assert saved["password"] == login.group(1)
        # The server and two task workers run beside `up`, each in a group of its own.
        wait_until(
            lambda: len(_children(server.proc.pid)) == 3,
            timeout=START_SECONDS,
            message=lambda: f"children of up: {_children(server.proc.pid)}",
        )
        # SIGTERM to `up` alone (systemd, docker stop) or SIGINT to its terminal's group:
        # `up` itself must stop every child, and exit only once they are all gone.
        server.stop(sig, group=group)
        assert server.proc.returncode == 0, server.output()
        assert "did not stop" not in server.output()
    finally:
        server.kill()


@pytest.mark.e2e
def test_up_on_another_port_prints_and_builds_its_links_with_that_port(tmp_path):
    server, output = _start_up(tmp_path, base_url=False)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert f"Console:   {base}/console/" in output, output
        assert f"API:       {base}/api/v1/  (docs: {base}/api/v1/docs)" in output, output
        assert ":8000" not in output
        key = re.search(r"Test secret key:\s+(sk_test_\S+)", output)
        assert key, output
        request = urllib.request.Request(
            f"{base}/api/v1/participants/u-1",
            data=json.dumps({"email": "u-1@example.ru"}).encode(),
            method="PUT",
            headers={"Authorization": f"Bearer {key.group(1)}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            person = json.loads(response.read())
        assert person["referral_url"] == f"{base}/r/{person['referral_code']}"
        assert person["portal_url"].startswith(f"{base}/p/")
        server.stop(signal.SIGTERM, group=False)
        assert server.proc.returncode == 0, server.output()
    finally:
        server.kill()


def test_the_base_url_up_builds_names_the_address_it_serves_on():
    assert local_base_url("127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert local_base_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"  # noqa: S104
    assert local_base_url("::1", 9000) == "http://[::1]:9000"


@pytest.mark.e2e
def test_worker_processes_run_tasks_and_stop_together(tmp_path):
    env = _env(tmp_path)
    subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [SARAFAN, "worker", "--processes", "3"], env=env, start_new_session=True
    )
    try:
        wait_until(  # the supervisor and its three workers
            lambda: len(session_alive(proc.pid)) == 4 and proc.poll() is None,
            timeout=START_SECONDS,
            message=lambda: f"worker processes: {session_alive(proc.pid)}, exit {proc.poll()}",
        )
        proc.terminate()
        wait_session_gone(proc)  # the supervisor exits only after its workers
        assert proc.returncode == 0
    finally:
        kill_session(proc.pid)


@pytest.mark.e2e
def test_a_killed_supervisor_takes_its_workers_with_it(tmp_path):
    env = _env(tmp_path)
    subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [SARAFAN, "worker", "--processes", "2"], env=env, start_new_session=True
    )
    try:
        wait_until(
            lambda: len(session_alive(proc.pid)) == 3,
            timeout=START_SECONDS,
            message=lambda: f"worker processes: {session_alive(proc.pid)}",
        )
        workers = _children(proc.pid)
        proc.kill()  # no chance to stop anything itself
        proc.wait()
        wait_until(
            lambda: not session_alive(proc.pid),
            timeout=START_SECONDS,
            message=lambda: f"workers {workers} outlived their killed supervisor",
        )
    finally:
        kill_session(proc.pid)


@pytest.mark.parametrize("who", ["child", "grandchild"])
def test_the_supervisor_kills_what_does_not_stop_within_its_grace(who):
    proc = subprocess.Popen(
        [sys.executable, SUPERVISED, who, "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        wait_until(
            lambda: len(session_alive(proc.pid)) == (2 if who == "child" else 3),
            timeout=START_SECONDS,
            message=lambda: f"processes: {session_alive(proc.pid)}",
        )
        started = time.monotonic()
        proc.terminate()
        wait_session_gone(proc)
        assert time.monotonic() - started >= 2  # the grace period was given in full
        assert proc.stderr is not None
        assert "stubborn did not stop: killed" in proc.stderr.read()
    finally:
        kill_session(proc.pid)


def test_a_child_that_ends_by_itself_stops_the_others_and_fails_the_supervisor():
    proc = subprocess.Popen([sys.executable, SUPERVISED, "fails", "30"], start_new_session=True)
    try:
        wait_session_gone(proc)
        assert proc.returncode == 3
    finally:
        kill_session(proc.pid)


@pytest.mark.e2e
def test_serve_asked_to_stop_while_its_workers_load_stops_at_once(tmp_path):
    # Stopping a server whose worker processes are still loading Django (a deploy right
    # after a start, a restart loop) must not wait for granian's kill timeout, set far
    # beyond this test's deadline here: each worker notes the stop and ends once loaded.
    env = _env(tmp_path, SARAFAN_SERVER_STOP_SECONDS="1800")
    proc = subprocess.Popen(
        [SARAFAN, "serve", "--port", "0", "--workers", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: proc.poll() is None and len(_children(proc.pid)) == 2,
            timeout=START_SECONDS,
            message=lambda: f"server workers: {session_alive(proc.pid)}, exit {proc.poll()}",
            every=0.005,
        )
        os.killpg(proc.pid, signal.SIGTERM)
        wait_session_gone(proc)
        assert proc.stderr is not None
        assert "refused to gracefully stop" not in proc.stderr.read()
    finally:
        kill_session(proc.pid)


@pytest.fixture
def worker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated database of its own: SQLite, or PostgreSQL on the PostgreSQL pass."""
    with installation(dict(os.environ), tmp_path) as env:
        yield env


def _stop_while_polling(env: dict[str, str]) -> tuple[int, str]:
    """Start a worker polling without pause, stop it once it polls; its exit and stderr."""
    proc = subprocess.Popen(
        [SARAFAN, "worker", "--processes", "1", "--no-schedule", "--interval", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        wait_until(
            lambda: proc.poll() is None and _polls(proc.pid),
            timeout=START_SECONDS,
            message=lambda: f"the worker did not start (exit {proc.poll()})",
        )
        time.sleep(0.3)  # part of the test: a few hundred polls go by
        proc.terminate()
        wait_session_gone(proc)
        return proc.returncode, proc.stderr.read()
    finally:
        kill_session(proc.pid)


def _polls(pid: int) -> bool:
    """Whether the worker has its database open: a SQLite file, or a socket to PostgreSQL."""
    try:
        targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(t.endswith("sarafan.sqlite3") or t.startswith("socket:") for t in targets)


@pytest.mark.e2e
def test_a_task_worker_stopped_while_it_polls_exits_cleanly(worker_env):
    # Polling without pause, the worker is nearly always inside a database call when the
    # signal lands: it must finish that step and exit 0, never die inside the call (which
    # happened in about one stop in ten on PostgreSQL).
    for _ in range(10):
        code, stderr = _stop_while_polling(worker_env)
        assert code == 0, stderr
