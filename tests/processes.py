"""The processes the end-to-end tests start, and how they wait on them.

Every wait here is on a condition (a server answering, a process tree gone) with a deadline
generous enough for a loaded two-core machine: two test processes, each with servers and
workers of its own, loading Django at the same time. A deadline is a failure with a
message, never a sleep that is hoped to be long enough.
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import psycopg

SARAFAN = str(Path(sys.executable).parent / "sarafan")
START_SECONDS = 120.0
STOP_SECONDS = 90.0
_START_ATTEMPTS = 3

T = TypeVar("T")


def wait_until[T](
    check: Callable[[], T], *, timeout: float, message: str | Callable[[], str], every: float = 0.05
) -> T:
    """Call `check` until it returns something truthy, which is returned; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(every)


def session_alive(sid: int) -> list[int]:
    """Live (not zombie) processes of a session: a process started with start_new_session
    and everything it started, in whatever process groups they are."""
    alive = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(int(status.parent.name))
    return alive


def kill_session(sid: int) -> None:
    """SIGKILL every process of the session (a test's last resort, in its finally)."""
    for pid in session_alive(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_session_gone(proc: subprocess.Popen[Any], *, timeout: float = STOP_SECONDS) -> None:
    """Wait for the process and every process of its session to be gone."""
    proc.wait(timeout=timeout)
    wait_until(
        lambda: not session_alive(proc.pid),
        timeout=timeout,
        message=lambda: f"processes left behind: {_describe(session_alive(proc.pid))}",
    )


def _describe(pids: Sequence[int]) -> str:
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            lines.append(
                f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ')!r}"
            )
    return "; ".join(lines) or "none"


def free_port() -> int:
    """A port free at this moment; a server started on it may still lose it to another
    process, which `Server` handles by starting again on another port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class Server:
    """`sarafan serve` (or `sarafan up`) on a port of its own, answering /healthz.

    The server is started in a session of its own, so that stopping it can wait for every
    process it started. If the port was taken between choosing it and the server binding
    it, the server is started again on another port.
    """

    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        command: str = "serve",
        stdout: int | IO[str] | None = None,
        base_url: bool = True,
    ) -> None:
        """`base_url=False`: no SARAFAN_BASE_URL, the server finds its address itself."""
        env = {k: v for k, v in env.items() if k != "SARAFAN_BASE_URL"}
        for _ in range(_START_ATTEMPTS):
            self.port = free_port()
            self.env = {**env, "SARAFAN_BASE_URL": self.url} if base_url else env
            self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
            self.proc = subprocess.Popen(
                [SARAFAN, command, "--port", str(self.port), *args],
                env=self.env,
                start_new_session=True,
                stdout=stdout,
                stderr=self.log,
                text=True,
            )
            if self._started():
                return
            output = self.output()
            self.kill()
            if "in use" not in output:
                raise AssertionError(f"sarafan {command} did not start:\n{output}")
        raise AssertionError(f"sarafan {command} found no free port")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _started(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while self.proc.poll() is None:
            if answers(f"{self.url}/healthz"):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return False

    def output(self) -> str:
        """What the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def alive(self) -> list[int]:
        return session_alive(self.proc.pid)

    def signal_group(self, sig: int) -> None:
        """Signal the server's process group: the server and the workers it forked."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(
        self, sig: int = signal.SIGTERM, *, group: bool = True, timeout: float = STOP_SECONDS
    ) -> None:
        """Ask the server to stop (its whole group, or its first process only) and wait
        until every process it started is gone."""
        if group:
            self.signal_group(sig)
        elif self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            wait_session_gone(self.proc, timeout=timeout)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            left = _describe(self.alive())
            self.kill()
            raise AssertionError(
                f"sarafan did not stop within {timeout} s of {sig!r}: {left}"
            ) from exc

    def kill(self) -> None:
        kill_session(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_SECONDS)


@contextlib.contextmanager
def installation(env: dict[str, str], data_dir: Path) -> Iterator[dict[str, str]]:
    """`env` for a migrated installation of its own in `data_dir`: its SQLite file, or on
    the PostgreSQL pass (DATABASE_URL set) a fresh PostgreSQL database, dropped afterwards."""
    env = {**env, "SARAFAN_DATA_DIR": str(data_dir)}
    url = os.environ.get("DATABASE_URL", "").replace("postgres://", "postgresql://", 1)
    admin = url.rsplit("/", 1)[0] + "/postgres" if url else ""
    database = f"sarafan_e2e_{secrets.token_hex(4)}"
    if admin:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = admin.rsplit("/", 1)[0] + f"/{database}"
    else:
        env.pop("DATABASE_URL", None)
    try:
        subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
        yield env
    finally:
        if admin:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def create_project(env: dict[str, str], name: str = "Shop") -> dict[str, str]:
    """`sarafan project create NAME --json`: the project's id and four keys."""
    created = subprocess.run(
        [SARAFAN, "project", "create", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(created.stdout))
