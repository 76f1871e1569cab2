"""The `sarafan` command as a user runs it: deploy checks, project creation, `up`."""

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SARAFAN = str(Path(sys.executable).parent / "sarafan")


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


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    alive = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(status.parent.name))
    return alive


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
def test_up_creates_the_demo_and_serves_console_and_api(tmp_path):
    port = _free_port()
    env = _env(tmp_path, SARAFAN_BASE_URL=f"http://127.0.0.1:{port}")
    proc = subprocess.Popen(
        [SARAFAN, "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        while not any(line.startswith("Press Ctrl+C") for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        output = "".join(lines)
        key = re.search(r"Test secret key:\s+(sk_test_\S+)", output)
        login = re.search(r"Login:\s+admin / (\S+)", output)
        assert key and login, output
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/campaigns",
                    headers={"Authorization": f"Bearer {key.group(1)}"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    campaigns = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not answer"
                time.sleep(0.3)
        assert [c["name"] for c in campaigns["data"]] == ["Приведи друга"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/pools",
            headers={"Authorization": f"Bearer {key.group(1)}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            demo_pools = json.loads(response.read())["data"]
        assert [p["stock"]["available"] for p in demo_pools] == [20]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/login/", timeout=5) as page:
            assert page.status == 200
        saved = json.loads((tmp_path / "demo.json").read_text())
        assert saved["password"] == login.group(1)
        proc.terminate()  # SIGTERM: `up` must stop its server and worker children itself
        proc.wait(timeout=20)
        time.sleep(1)
        assert _group_alive(proc.pid) == [], "sarafan up left processes behind"
    finally:
        _kill_group(proc.pid)


def test_worker_processes_run_tasks_and_stop_together(tmp_path):
    env = _env(tmp_path)
    subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [SARAFAN, "worker", "--processes", "3"], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while len(_group_alive(proc.pid)) < 4:  # the supervisor and its three workers
            assert proc.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, _group_alive(proc.pid)
            time.sleep(0.2)
        proc.terminate()
        proc.wait(timeout=40)
        time.sleep(1)
        assert proc.returncode == 0
        assert _group_alive(proc.pid) == [], "the worker processes outlived their supervisor"
    finally:
        _kill_group(proc.pid)
