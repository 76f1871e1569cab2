"""Sarafan's benchmark harness: each figure next to a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py [--duration 10] [--connections 32]
                                       [--only redirect,events,batch,pooling,tasks,memory]
                                       [--json results.json]

It creates a fresh PostgreSQL database `sarafan_bench`, migrates it, creates a project,
serves it the production way (`sarafan serve --workers <cores>`, pooled connections), seeds a
campaign and 500 referrers through the API, and measures only through HTTP, the CLI and SQL:

  redirect  wrk on /r/<code> against wrk on the bare /healthz of the same server; the clicks
            recorded in SQL against the 302s wrk counted
  events    wrk POSTing a signup/order mix to /api/v1/events against pgbench running the
            same writes and row locks in SQL (benchmarks/sql/event.sql)
  batch     /api/v1/events/batch, 500 events a request, from --connections client threads
  pooling   wrk on /readyz with the connection pool against the same server without it
  tasks     enqueue-to-start latency at a steady rate and after a burst, and drain rate, of
            the task worker on the database and on the RQ backend, against pgbench's
            single-client one-row INSERT rate
  memory    peak RSS of the web worker processes and of the task worker

Every process it starts runs in its own process group and is killed on exit, error or
Ctrl+C. See benchmarks/README.md for what each figure means and its target.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
BIN = ROOT / ".venv" / "bin"
SARAFAN = BIN / "sarafan"
PYTHON = BIN / "python"

STEPS = ("redirect", "events", "batch", "pooling", "tasks", "memory")
DB_NAME = "sarafan_bench"
REFERRERS = 500
BATCH_SIZE = 500
# The tasks step runs once per task backend. The steady rate is well below one worker's
# capacity, so its latency is the pickup delay a task sees in normal operation.
TASK_BACKENDS = ("db", "rq")
TASK_RATE = 20.0
TASK_BURST = 500
TASK_IDLE_SECONDS = 3.0
TASK_REDIS_URL = "redis://127.0.0.1:6379/15"  # flushed before the rq run
TASK_PATH = "sarafan.rewards.tasks.release_due_rewards"
WRK_TIMEOUT_SECONDS = 10
SERVER_START_TIMEOUT = 60.0
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
)
# Settings the harness decides itself; inherited values would make runs incomparable.
UNLIMITED = "1000000000/60"
STRIPPED_ENV = (
    "DATABASE_URL",
    "SARAFAN_DATA_DIR",
    "SARAFAN_DEBUG",
    "SARAFAN_DB_POOL",
    "SARAFAN_TASK_BACKEND",
    "SARAFAN_BASE_URL",
    "SARAFAN_WORKERS",
    "SARAFAN_SERVER_LOG_LEVEL",
    "SARAFAN_LOG_LEVEL",
    "REDIS_URL",
    "DJANGO_SETTINGS_MODULE",
)
CAMPAIGN = {
    "name": "Bench",
    "landing_url": "https://shop.example/welcome",
    "rules": [
        {"recipient": "referee", "trigger": "signup", "kind": "fixed", "amount": "300.00"},
        {
            "recipient": "referrer",
            "trigger": "first_order",
            "kind": "fixed",
            "amount": "500.00",
            "min_order_amount": "1000.00",
        },
        {
            "recipient": "referrer",
            "trigger": "repeat_order",
            "kind": "percent",
            "percent": "5",
            "max_amount": "1000.00",
        },
    ],
    "limits": {"per_referrer_per_month": 1000000, "budget": "100000000.00"},
}


class HarnessError(RuntimeError):
    """Something the benchmark needs did not work; the run stops with this message."""


# --------------------------------------------------------------------------------------------
# Figures and the report


@dataclass
class Figure:
    """One line of the table. The target applies to the ratio or to the value itself."""

    name: str
    value: float | None
    unit: str  # "req/s", "events/s", "tasks/s", "ms", "MiB", "count"
    baseline: float | None = None
    baseline_label: str = ""
    target_on: str = ""  # "ratio", "value" or "" (information only)
    target_op: str = ""  # ">=", "<=", "<", "=="
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def result(self) -> str:
        if not self.target_on or self.target is None:
            return "info"
        measured = self.ratio if self.target_on == "ratio" else self.value
        if measured is None:
            return "n/a"
        ok = {
            ">=": measured >= self.target,
            "<=": measured <= self.target,
            "<": measured < self.target,
            "==": measured == self.target,
        }[self.target_op]
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if not self.target_on or self.target is None:
            return "-"
        if self.target_on == "ratio":
            return f"{self.target_op} {self.target:.2f}"
        return f"{self.target_op} {format_value(self.target, self.unit)}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, result=self.result, target_text=self.target_text())
        return data


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


@dataclass
class Report:
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  ! {text}", flush=True)

    def table(self) -> str:
        header = f"{'figure':<32}{'value':<13}{'baseline':<24}{'ratio':<8}{'target':<14}result"
        lines = [header]
        for fig in self.figures:
            baseline = format_value(fig.baseline, fig.unit) if fig.baseline is not None else "-"
            if fig.baseline is not None and fig.baseline_label:
                baseline += f" ({fig.baseline_label})"
            ratio = f"{fig.ratio:.2f}" if fig.ratio is not None else "-"
            lines.append(
                f"{fig.name:<32}{format_value(fig.value, fig.unit):<13}{baseline:<24}"
                f"{ratio:<8}{fig.target_text():<14}{fig.result}"
            )
        return "\n".join(lines)


def zero_figure(name: str, count: float, baseline: float | None = None, label: str = "") -> Figure:
    """A count that must be zero (errors, lost rows); the baseline says out of how many."""
    return Figure(name, count, "count", baseline, label, "value", "==", 0)


def log(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already collected samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------------------------
# Processes: every one in its own group, all killed at the end


class Processes:
    """Starts subprocesses in new sessions and kills exactly those groups on the way out."""

    def __init__(self) -> None:
        self._live: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def start(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: dict[str, str] | None = None,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(arg) for arg in argv],
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
        with self._lock:
            self._live.append(proc)
        return proc

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run to completion within `timeout` seconds; returns (exit code, stdout, stderr)."""
        proc = self.start(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc, grace=2.0)
            out, err = proc.communicate()
            raise HarnessError(
                f"{Path(str(argv[0])).name} did not finish within {timeout:.0f} s"
            ) from None
        finally:
            self.stop(proc, grace=2.0)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def stop(
        self, proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace: float = 10.0
    ) -> None:
        """Signal the process's whole group, then SIGKILL the group after `grace` seconds.

        The leader is not reaped before the SIGKILL: while it (or any member) exists, its pid
        is the group's id and cannot belong to anyone else, so only our processes are hit.
        """
        if proc.returncode is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + grace
            while not _exited(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            # Children (granian's workers) may outlive the leader: the group goes in any case.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        elif _group_members(proc.pid):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        with self._lock:
            if proc in self._live:
                self._live.remove(proc)

    def stop_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for proc in reversed(live):
            self.stop(proc, grace=5.0)


def _exited(pid: int) -> bool:
    """Whether a child has exited, without reaping it (it stays a zombie until waited for)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    members.append(int(entry.name))
    return members


def descendants(pid: int) -> list[int]:
    """All processes below `pid`, found through /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set size) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_flushdb(url: str) -> None:
    """FLUSHDB on the Redis database of `url`, spoken in RESP over a socket (stdlib only)."""
    parts = urlsplit(url)
    db = parts.path.lstrip("/") or "0"
    address = (parts.hostname or "127.0.0.1", parts.port or 6379)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(
            f"*2\r\n$6\r\nSELECT\r\n${len(db)}\r\n{db}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode()
        )
        reply = b""
        while reply.count(b"\r\n") < 2 and (chunk := sock.recv(1024)):
            reply += chunk
    if reply != b"+OK\r\n+OK\r\n":
        raise OSError(f"Redis answered {reply[:100]!r}")


# --------------------------------------------------------------------------------------------
# wrk and pgbench

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    extra: list[str]
    answered: list[str]
    output: str

    def count(self, accept: Callable[[int], bool]) -> int:
        return sum(n for status, n in self.statuses.items() if accept(status))

    def rate(self, accept: Callable[[int], bool]) -> float:
        return self.count(accept) / self.seconds if self.seconds else 0.0

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())


def parse_wrk(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    if done is None:
        raise HarnessError(f"cannot read wrk's output:\n{output[-2000:]}")
    latency = {
        int(m.group(1)): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    }
    statuses: dict[int, int] = {}
    for m in re.finditer(r"^STATUS (\d+) (\d+)$", output, re.M):
        statuses[int(m.group(1))] = statuses.get(int(m.group(1)), 0) + int(m.group(2))
    socket_errors: dict[str, int] = {}
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
        )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2), done.group(3)) / 1000,
        p50_ms=latency.get(50),
        p99_ms=latency.get(99),
        statuses=statuses,
        socket_errors=socket_errors,
        extra=re.findall(r"^SENT .*$", output, re.M),
        answered=re.findall(r"^ANSWERED (\S+)$", output, re.M),
        output=output,
    )


@dataclass
class PgbenchResult:
    tps: float | None
    transactions: int
    failed: int
    aborted: bool
    p50_ms: float | None
    p99_ms: float | None
    latency_avg_ms: float | None
    errors: list[str]


def parse_pgbench(out: str, err: str, log_files: Iterable[Path]) -> PgbenchResult:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    avg = re.search(r"latency average = ([\d.]+) ms", out)
    samples: list[float] = []
    for path in log_files:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                samples.append(int(parts[2]) / 1000)
    errors = [
        line
        for line in err.splitlines()
        if "aborted" in line or "ERROR" in line or "FATAL" in line or "error" in line
    ]
    return PgbenchResult(
        tps=float(tps.group(1)) if tps else None,
        transactions=int(processed.group(1)) if processed else 0,
        failed=int(failed.group(1)) if failed else 0,
        aborted="aborted" in out + err,
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        latency_avg_ms=float(avg.group(1)) if avg else None,
        errors=errors[:5],
    )


# --------------------------------------------------------------------------------------------
# HTTP helpers


def http_json(
    method: str,
    url: str,
    body: object | None = None,
    *,
    key: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "User-Agent": "sarafan-bench/1"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def customer_context(thread: int, n: int, tag: str) -> dict[str, str]:
    """The same context benchmarks/wrk/events.lua sends."""
    return {
        "ip": f"10.{thread % 250}.{(n // 250) % 250}.{n % 250}",
        "user_agent": USER_AGENT,
        "visitor_id": f"vis{tag}{thread}-{n:012d}",
    }


def signup_event(code: str, external_id: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "signup",
        "referral_code": code,
        "customer": {"external_id": external_id, "email": f"{external_id}@example.com"},
        "context": context,
    }


def order_event(code: str, external_id: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "order",
        "referral_code": code,
        "customer": {"external_id": external_id},
        "order": {
            "id": f"o-{external_id}",
            "amount": "4990.00",
            "currency": "RUB",
            "status": "paid",
        },
        "context": context,
    }


def code_for(codes: Sequence[str], thread: int, n: int) -> str:
    """The code customer n of a thread carries; the same rotation as events.lua."""
    return codes[(n + thread * 7919) % len(codes)]


# --------------------------------------------------------------------------------------------
# The server


def server_argv(kind: str, port: int, workers: int) -> list[str]:
    """The command of each server the comparison measures; `granian-wsgi` is `sarafan serve`."""
    threads = str(workers * 2 + 1)
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    commands = {
        "granian-wsgi": [str(SARAFAN), "serve", *bind, "--workers", str(workers)],
        "granian-asgi": [
            str(PYTHON),
            "-m",
            "granian",
            "--interface",
            "asgi",
            *bind,
            "--workers",
            str(workers),
            "--no-ws",
            "sarafan.asgi:application",
        ],
        "gunicorn-sync": [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "sarafan.wsgi:application",
        ],
        "gunicorn-gthread": [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            threads,
            "-b",
            f"127.0.0.1:{port}",
            "sarafan.wsgi:application",
        ],
        "uvicorn": [
            str(BIN / "uvicorn"),
            *bind,
            "--workers",
            str(workers),
            "--no-access-log",
            "sarafan.asgi:application",
        ],
    }
    return commands[kind]


SERVERS = ("granian-wsgi", "granian-asgi", "gunicorn-sync", "gunicorn-gthread", "uvicorn")


class Server:
    """A server on a free port (`sarafan serve` unless told otherwise), in its own group."""

    def __init__(
        self,
        procs: Processes,
        env: dict[str, str],
        workers: int,
        log_path: Path,
        label: str,
        kind: str = "granian-wsgi",
    ) -> None:
        self.procs = procs
        self.port = free_port()
        self.label = label
        self.log_path = log_path
        self.env = {**env, "SARAFAN_BASE_URL": f"http://127.0.0.1:{self.port}"}
        self.workers = workers
        self.kind = kind
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = server_argv(self.kind, self.port, self.workers)
        with self.log_path.open("ab") as logfile:
            self.proc = self.procs.start(argv, env=self.env, stdout=logfile, stderr=logfile)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"sarafan serve ({self.label}) exited with {self.proc.returncode}:\n"
                    + self.log_tail()
                )
            with suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            time.sleep(0.2)
        raise HarnessError(f"sarafan serve ({self.label}) did not answer /healthz in time")

    def stop(self, *, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc, sig=sig)
            self.proc = None

    def worker_pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc is not None else []

    def cmdline(self) -> list[str]:
        if self.proc is None:
            return []
        with suppress(OSError):
            raw = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
            return [part.decode() for part in raw.split(b"\0") if part]
        return []

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, procs: Processes) -> None:
        self.args = args
        self.duration: int = args.duration
        self.connections: int = args.connections
        self.wrk_threads = max(1, min(args.wrk_threads, self.connections))
        self.workdir = workdir
        self.procs = procs
        self.report = Report()
        self.cores = os.cpu_count() or 1
        pg = urlsplit(args.pg)
        self.pg_host = pg.hostname or "127.0.0.1"
        self.pg_port = pg.port or 5432
        self.pg_user = pg.username or "postgres"
        self.db_url = f"postgres://{self.pg_user}@{self.pg_host}:{self.pg_port}/{DB_NAME}"
        self.data_dir = workdir / "data"
        self.env = self._env()
        self.server: Server | None = None
        self.web_rss: dict[str, float] = {}
        self.keys: dict[str, str] = {}
        self.codes: list[str] = []
        self.ids: dict[str, int] = {}
        self.floor: PgbenchResult | None = None
        self.task_worker_rss: float | None = None

    # -- environment and database -------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        env.update(
            DATABASE_URL=self.db_url,
            SARAFAN_DATA_DIR=str(self.data_dir),
            DJANGO_SETTINGS_MODULE="sarafan.settings",
            PYTHONUNBUFFERED="1",
            # One key from one address at full speed: the limiter still counts every
            # request (its cost is measured), it just never refuses one.
            SARAFAN_RATE_LIMIT_KEY=UNLIMITED,
            SARAFAN_RATE_LIMIT_IP=UNLIMITED,
        )
        return env

    def conninfo(self, dbname: str = DB_NAME) -> str:
        return f"host={self.pg_host} port={self.pg_port} user={self.pg_user} dbname={dbname}"

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            yield conn

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        with self.db() as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def wait_quiet(self, count_sql: str, *, settle: float = 1.0, timeout: float = 60.0) -> int:
        """Wait until a count stops moving and no other session of the database is busy.

        wrk abandons the requests in flight when its time is up; the server still finishes
        them, so counts are read only once it has.
        """
        busy_sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND state <> 'idle'"
        )
        deadline = time.monotonic() + timeout
        with self.db() as conn:
            last: int = conn.execute(count_sql).fetchone()[0]  # type: ignore[index]
            stable_since = time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.25)
                now: int = conn.execute(count_sql).fetchone()[0]  # type: ignore[index]
                busy: int = conn.execute(busy_sql, (DB_NAME,)).fetchone()[0]  # type: ignore[index]
                if now != last or busy:
                    last, stable_since = now, time.monotonic()
                elif time.monotonic() - stable_since >= settle:
                    return now
        self.report.problem(f"the database did not settle within {timeout:.0f} s")
        return last

    def setup(self) -> None:
        log(f"setup: fresh database {DB_NAME}")
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        code, out, err = self.procs.run([SARAFAN, "migrate"], env=self.env, timeout=300)
        if code:
            raise HarnessError(f"sarafan migrate failed:\n{out}\n{err}")
        code, out, err = self.procs.run(
            [SARAFAN, "project", "create", "Bench", "--json"], env=self.env, timeout=120
        )
        if code:
            raise HarnessError(f"sarafan project create failed:\n{out}\n{err}")
        self.keys = json.loads(out.strip().splitlines()[-1])
        code, out, err = self.procs.run(
            [PYTHON, BENCH / "django_side.py", "settings"], env=self.env, timeout=120
        )
        self.report.meta["django"] = json.loads(out) if code == 0 else {"error": err[-500:]}

    def start_server(self, *, pooled: bool = True) -> Server:
        if self.server is not None:
            self.server.stop()
        env = dict(self.env)
        if not pooled:
            env["SARAFAN_DB_POOL"] = "0"
        label = "pooled" if pooled else "unpooled"
        log(f"server: sarafan serve --workers {self.cores} ({label})")
        log_path = self.workdir / f"server-{label}.log"
        server = Server(self.procs, env, self.cores, log_path, label, kind=self.args.server)
        server.start()
        self.server = server
        self.report.meta.setdefault("server", {})[label] = " ".join(server.cmdline()[1:])
        return server

    def ensure_server(self) -> Server:
        if self.server is None or self.server.label != "pooled" or self.server.proc is None:
            return self.start_server(pooled=True)
        return self.server

    def stop_server(self, *, sig: int = signal.SIGTERM) -> None:
        if self.server is not None:
            self.sample_web_memory()
            self.server.stop(sig=sig)
            self.server = None

    def sample_web_memory(self) -> None:
        """Remember each pooled web worker's peak RSS (VmHWM only grows while it lives)."""
        if self.server is None or self.server.label != "pooled":
            return
        for pid in self.server.worker_pids():
            rss = peak_rss_mib(pid)
            if rss is not None:
                key = f"{self.server.port}:{pid}"
                self.web_rss[key] = max(rss, self.web_rss.get(key, 0.0))

    def seed(self) -> None:
        server = self.ensure_server()
        key = self.keys["secret_key_test"]
        log(f"seed: 1 campaign and {REFERRERS} referrers through the API")
        status, campaign = http_json("POST", f"{server.url}/api/v1/campaigns", CAMPAIGN, key=key)
        if status != 201:
            raise HarnessError(f"POST /api/v1/campaigns answered {status}: {campaign}")

        def put(i: int) -> str:
            body = {"email": f"r{i}@example.ru", "name": f"Referrer {i}"}
            url = f"{server.url}/api/v1/participants/r{i}"
            status, data = http_json("PUT", url, body, key=key)
            if status not in (200, 201):
                raise HarnessError(f"PUT /api/v1/participants/r{i} answered {status}: {data}")
            return str(data["referral_code"])

        with ThreadPoolExecutor(8) as pool:
            self.codes = list(pool.map(put, range(1, REFERRERS + 1)))
        (self.workdir / "codes.txt").write_text("\n".join(self.codes) + "\n")
        with self.db() as conn:
            project = conn.execute(
                "SELECT id FROM projects_project WHERE public_id = %s", (self.keys["id"],)
            ).fetchone()
            camp = conn.execute(
                "SELECT id FROM campaigns_campaign WHERE public_id = %s", (campaign["id"],)
            ).fetchone()
            if project is None or camp is None:
                raise HarnessError("the seeded project or campaign is not in the database")
            rules = {
                (recipient, trigger): (rule_id, position)
                for rule_id, position, recipient, trigger in conn.execute(
                    "SELECT id, position, recipient, trigger FROM campaigns_rewardrule "
                    "WHERE campaign_id = %s",
                    (camp[0],),
                )
            }
            links = conn.execute(
                "SELECT min(l.id), max(l.id), count(*) FROM links_link l "
                "JOIN participants_participant p ON p.id = l.participant_id "
                "WHERE p.project_id = %s AND p.external_id = ANY(%s)",
                (project[0], [f"r{i}" for i in range(1, REFERRERS + 1)]),
            ).fetchone()
            in_range = conn.execute(
                "SELECT count(*) FROM links_link WHERE id BETWEEN %s AND %s",
                (links[0], links[1]),  # type: ignore[index]
            ).fetchone()
        if links is None or in_range is None or links[2] != in_range[0]:
            raise HarnessError("the referrers' links are not one contiguous id range")
        self.ids = {
            "project": project[0],
            "campaign": camp[0],
            "lmin": links[0],
            "lmax": links[1],
            "rule_signup": rules[("referee", "signup")][0],
            "pos_signup": rules[("referee", "signup")][1],
            "rule_first": rules[("referrer", "first_order")][0],
            "pos_first": rules[("referrer", "first_order")][1],
        }
        self.report.details["seed"] = {"campaign": campaign["id"], **self.ids}

    # -- runners ------------------------------------------------------------------------------

    def wrk(
        self, script: str, url: str, args: Sequence[str] = (), duration: float | None = None
    ) -> WrkResult:
        seconds = self.duration if duration is None else duration
        argv: list[str] = ["wrk", "-t", str(self.wrk_threads), "-c", str(self.connections)]
        argv += ["-d", f"{seconds}s", "--timeout", f"{WRK_TIMEOUT_SECONDS}s", "--latency"]
        argv += ["-s", str(BENCH / "wrk" / script), url]
        if args:
            argv += ["--", *args]
        code, out, err = self.procs.run(argv, timeout=seconds + WRK_TIMEOUT_SECONDS + 30)
        if code:
            raise HarnessError(f"wrk failed ({code}):\n{out}\n{err}")
        return parse_wrk(out)

    def warm(self, script: str, url: str, args: Sequence[str] = ()) -> None:
        if self.args.warmup > 0:
            self.wrk(script, url, args, duration=self.args.warmup)

    def pgbench(
        self,
        script: Path,
        *,
        clients: int,
        threads: int,
        defines: dict[str, Any] | None = None,
        label: str,
    ) -> PgbenchResult:
        log_dir = self.workdir / f"pgbench-{label}"
        shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir()
        argv: list[str] = ["pgbench", "-h", self.pg_host, "-p", str(self.pg_port)]
        argv += ["-U", self.pg_user, "-n", "-c", str(clients), "-j", str(threads)]
        argv += ["-T", str(self.duration), "-f", str(script)]
        for name, value in (defines or {}).items():
            argv += ["-D", f"{name}={value}"]
        argv += ["-l", "--log-prefix", str(log_dir / "tx"), DB_NAME]
        _, out, err = self.procs.run(argv, timeout=self.duration + 60)
        result = parse_pgbench(out, err, sorted(log_dir.glob("tx.*")))
        if result.tps is None or result.aborted:
            detail = "; ".join(result.errors) or (out + err)[-500:]
            self.report.problem(f"pgbench {label} did not complete cleanly: {detail}")
        return result

    # -- steps --------------------------------------------------------------------------------

    def step_redirect(self) -> None:
        server = self.ensure_server()
        log("redirect: bare /healthz, then /r/<code>")
        self.warm("get.lua", f"{server.url}/healthz")
        bare = self.wrk("get.lua", f"{server.url}/healthz")
        codes_file = str(self.workdir / "codes.txt")
        self.warm("redirect.lua", server.url, [codes_file])
        click_sql = "SELECT count(*) FROM links_click"
        # Clicks reach links_click from each worker's spool every SARAFAN_CLICK_FLUSH_SECONDS:
        # the count is read once it has stood still for a few of those (the spool drained).
        flush_seconds = float(self.env.get("SARAFAN_CLICK_FLUSH_SECONDS") or 0.2)
        drained = {"settle": max(1.0, 3 * flush_seconds), "timeout": 15.0}
        before = self.wait_quiet(click_sql, **drained)
        redirect = self.wrk("redirect.lua", server.url, [codes_file])
        after = self.wait_quiet(click_sql, **drained)
        self.sample_web_memory()

        ok_bare = bare.rate(lambda s: s == 200)
        found = redirect.count(lambda s: s == 302)
        errors = redirect.count(lambda s: not 300 <= s < 400) + redirect.socket_error_total
        sent = sum(int(line.split()[1]) for line in redirect.extra)
        in_flight = sent - redirect.requests
        clicks = after - before
        lost = max(0, found - clicks)
        unanswered_clicks = clicks - found
        r = self.report
        r.add(
            Figure(
                "redirect req/s",
                redirect.rate(lambda s: s == 302),
                "req/s",
                ok_bare,
                "bare",
                "ratio",
                ">=",
                0.60,
            )
        )
        r.add(Figure("redirect p50 ms", redirect.p50_ms, "ms", bare.p50_ms, "bare"))
        r.add(
            Figure(
                "redirect p99 ms", redirect.p99_ms, "ms", bare.p99_ms, "bare", "ratio", "<=", 3.0
            )
        )
        r.add(zero_figure("redirect errors (non-3xx)", errors))
        r.add(zero_figure("clicks lost", lost, found, "302s"))
        bare_errors = bare.count(lambda s: s != 200) + bare.socket_error_total
        r.details["redirect"] = {
            "bare": {
                "statuses": bare.statuses,
                "socket_errors": bare.socket_errors,
                "requests": bare.requests,
                "seconds": bare.seconds,
            },
            "redirect": {
                "statuses": redirect.statuses,
                "socket_errors": redirect.socket_errors,
                "requests": redirect.requests,
                "seconds": redirect.seconds,
                "sent": sent,
            },
            "clicks_recorded": clicks,
            "responses_302": found,
            "in_flight_when_wrk_stopped": in_flight,
        }
        log(
            f"  302s {found}, clicks recorded {clicks}, clicks lost: {lost} "
            f"(requests in flight when wrk stopped: {in_flight})"
        )
        if bare_errors:
            r.problem(f"/healthz answered {bare_errors} non-200 responses or socket errors")
        if errors:
            r.problem(
                f"/r/<code>: {errors} errors; statuses {redirect.statuses}, "
                f"socket errors {redirect.socket_errors}"
            )
        if lost:
            r.problem(f"clicks lost: {lost} of {found} redirects have no links_click row")
        if unanswered_clicks > max(in_flight, 0) + redirect.socket_error_total:
            r.problem(
                f"{unanswered_clicks} more clicks than 302s, more than the "
                f"{in_flight} requests in flight at wrk's end: clicks counted twice?"
            )

    def step_events(self) -> None:
        server = self.ensure_server()
        key = self.keys["secret_key_test"]
        log(f"events: pgbench floor, {self.connections} clients")
        event_sql = "SELECT count(*) FROM tracking_event"
        self.wait_quiet(event_sql)
        defines = {"i": 0, "run": int(time.time()) % 1000, **self.ids}
        self.floor = self.pgbench(
            BENCH / "sql" / "event.sql",
            clients=self.connections,
            threads=2,
            defines=defines,
            label="event-floor",
        )
        floor = self.floor

        lag = max(8, math.ceil(self.connections / self.wrk_threads))
        log(f"events: signing up customers 1..{lag} of each wrk thread (the orders' head start)")

        def presign(item: tuple[int, int]) -> int:
            thread, n = item
            ext = f"c{thread}-{n}"
            body = signup_event(
                code_for(self.codes, thread, n), ext, customer_context(thread, n, "")
            )
            status, _ = http_json("POST", f"{server.url}/api/v1/events", body, key=key, timeout=60)
            return status

        pairs = [(t, n) for t in range(self.wrk_threads) for n in range(1, lag + 1)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(presign, pairs))
        if any(status != 201 for status in statuses):
            self.report.problem(f"pre-run signups answered {sorted(set(statuses))}")

        log("events: wrk POST /api/v1/events")
        before = self.wait_quiet(event_sql)
        result = self.wrk(
            "events.lua", server.url, [str(self.workdir / "codes.txt"), key, str(lag)]
        )
        after = self.wait_quiet(event_sql)
        self.sample_web_memory()

        ok = result.rate(lambda s: 200 <= s < 300)
        errors = result.count(lambda s: not 200 <= s < 300) + result.socket_error_total
        sent_orders: dict[int, int] = {}
        sent_total = 0
        for line in result.extra:
            _, thread, signups, orders = line.split()
            sent_orders[int(thread)] = int(orders)
            sent_total += int(signups) + int(orders)
        sent = {f"o-c{t}-{n}" for t, count in sent_orders.items() for n in range(1, count + 1)}
        answered = set(result.answered)
        with self.db() as conn:
            rows = conn.execute(
                "SELECT order_id, count(*) FROM tracking_order "
                "WHERE project_id = %s AND order_id LIKE 'o-c%%' GROUP BY order_id",
                (self.ids["project"],),
            ).fetchall()
            unrewarded = conn.execute(
                "SELECT count(*) FROM tracking_order o WHERE o.project_id = %s "
                "AND o.order_id LIKE 'o-c%%' AND NOT EXISTS (SELECT 1 FROM rewards_reward r "
                "WHERE r.order_id = o.id AND r.status = 'issued')",
                (self.ids["project"],),
            ).fetchone()
        present: dict[str, int] = dict(rows)
        # An order answered 2xx must have exactly one row; one still in flight (or never
        # written) when wrk stopped may or may not have reached the server.
        missing = len(answered - present.keys())
        duplicated = sum(1 for n in present.values() if n != 1)
        unexpected = len(present.keys() - sent)
        orders_bad = missing + duplicated + unexpected
        unanswered = sent - answered
        unanswered_done = len(unanswered & present.keys())

        r = self.report
        r.add(Figure("events/s", ok, "events/s", floor.tps, "pgbench", "ratio", ">=", 0.40))
        r.add(Figure("events p50 ms", result.p50_ms, "ms", floor.p50_ms, "pgbench"))
        r.add(Figure("events p99 ms", result.p99_ms, "ms", floor.p99_ms, "pgbench"))
        r.add(zero_figure("events errors (non-2xx)", errors))
        r.add(zero_figure("events orders without 1 row", orders_bad, len(answered), "answered"))
        r.details["events"] = {
            "floor": asdict(floor),
            "wrk": {
                "statuses": result.statuses,
                "socket_errors": result.socket_errors,
                "requests": result.requests,
                "seconds": result.seconds,
                "sent": sent_total,
                "lag": lag,
            },
            "events_recorded": after - before,
            "orders": {
                "sent": len(sent),
                "answered_2xx": len(answered),
                "answered_without_row": missing,
                "with_more_than_one_row": duplicated,
                "rows_not_sent": unexpected,
                "unanswered": len(unanswered),
                "unanswered_with_row": unanswered_done,
                "without_issued_referrer_reward": unrewarded[0] if unrewarded else None,
            },
        }
        log(
            f"  {result.requests} answered of {sent_total} sent; orders answered "
            f"{len(answered)} (without a row: {missing}, duplicated: {duplicated}); "
            f"{len(unanswered)} unanswered at wrk's end, {unanswered_done} of them processed"
        )
        if errors:
            r.problem(
                f"/api/v1/events: {errors} errors; statuses {result.statuses}, "
                f"socket errors {result.socket_errors}"
            )
        if orders_bad:
            r.problem(
                f"wrk orders: {missing} answered without a tracking_order row, {duplicated} "
                f"with more than one, {unexpected} rows for orders never sent"
            )
        if sent and result.requests > 2 * lag and not answered:
            r.problem("no order id could be read from the events' answers (events.lua)")
        if unrewarded and unrewarded[0]:
            r.problem(f"{unrewarded[0]} wrk orders have no issued referrer reward")

    def step_batch(self) -> None:
        server = self.ensure_server()
        key = self.keys["secret_key_test"]
        threads = self.connections
        grace = max(20.0, 2.0 * self.duration)
        log(
            f"batch: {threads} client threads, {BATCH_SIZE} events a request, "
            f"{self.duration} s (cut at +{grace:.0f} s)"
        )
        event_sql = "SELECT count(*) FROM tracking_event"
        self.wait_quiet(event_sql)
        watermark = int(self.scalar("SELECT coalesce(max(id), 0) FROM tracking_event"))

        lock = threading.Lock()
        stats: dict[str, Any] = {
            "batches_done": 0,
            "batches_failed": 0,
            "batches_cut": 0,
            "events_answered": 0,
            "item_errors": 0,
            "http_errors": {},
            "last_response": 0.0,
            "error_samples": [],
        }
        done_orders: list[str] = []
        cut = threading.Event()
        start_mono = time.monotonic()
        deadline = start_mono + self.duration
        hard_deadline = deadline + grace

        def client(thread: int) -> None:
            n = 0
            conn = http.client.HTTPConnection(
                "127.0.0.1", server.port, timeout=hard_deadline - time.monotonic() + 10
            )
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            try:
                while time.monotonic() < deadline and not cut.is_set():
                    events: list[dict[str, Any]] = []
                    orders: list[str] = []
                    for _ in range(BATCH_SIZE // 2):
                        n += 1
                        ext = f"b{thread}-{n}"
                        code = code_for(self.codes, thread, n)
                        context = customer_context(thread, n, "b")
                        events.append(signup_event(code, ext, context))
                        events.append(order_event(code, ext, context))
                        orders.append(f"o-{ext}")
                    body = json.dumps({"events": events})
                    try:
                        conn.request("POST", "/api/v1/events/batch", body, headers)
                        response = conn.getresponse()
                        raw = response.read()
                    except (OSError, http.client.HTTPException) as exc:
                        with lock:
                            stats["batches_cut" if cut.is_set() else "batches_failed"] += 1
                            if not cut.is_set():
                                stats["error_samples"].append(repr(exc))
                        return
                    try:
                        results = json.loads(raw).get("results", [])
                    except (ValueError, AttributeError):
                        results = None
                    with lock:
                        stats["last_response"] = time.monotonic()
                        if response.status != 200 or results is None:
                            stats["batches_failed"] += 1
                            codes = stats["http_errors"]
                            codes[response.status] = codes.get(response.status, 0) + 1
                            stats["error_samples"].append(raw[:300].decode(errors="replace"))
                            continue
                        stats["batches_done"] += 1
                        stats["events_answered"] += len(results)
                        bad = [item for item in results if "error" in item]
                        stats["item_errors"] += len(bad) + (len(events) - len(results))
                        stats["error_samples"].extend(json.dumps(item)[:300] for item in bad[:2])
                        done_orders.extend(orders)
            finally:
                conn.close()

        workers = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=max(0.0, hard_deadline - time.monotonic()))
        aborted = any(worker.is_alive() for worker in workers)
        if aborted:
            cut.set()
            end_mono = time.monotonic()
            log("  batches still running at the cut: stopping the server to end them")
            self.stop_server(sig=signal.SIGKILL)
            for worker in workers:
                worker.join(timeout=15)
        else:
            end_mono = stats["last_response"] or time.monotonic()
            self.sample_web_memory()
        elapsed = max(end_mono - start_mono, 1e-9)

        with self.db() as conn:
            committed = conn.execute(
                "SELECT count(*) FROM tracking_event WHERE id > %s", (watermark,)
            ).fetchone()
            orderless = conn.execute(
                "SELECT count(*) FROM tracking_event e WHERE e.id > %s AND e.type = 'order' "
                "AND (SELECT count(*) FROM tracking_order o WHERE o.event_id = e.id) <> 1",
                (watermark,),
            ).fetchone()
            rows = conn.execute(
                "SELECT order_id, count(*) FROM tracking_order "
                "WHERE project_id = %s AND order_id = ANY(%s) GROUP BY order_id",
                (self.ids["project"], done_orders),
            ).fetchall()
        committed_events = int(committed[0]) if committed else 0
        present: dict[str, int] = dict(rows)
        missing = len(set(done_orders) - present.keys())
        duplicated = sum(1 for n in present.values() if n != 1)
        bad_orders = missing + duplicated + (int(orderless[0]) if orderless else 0)
        rate = committed_events / elapsed
        errors = stats["item_errors"] + stats["batches_failed"]

        r = self.report
        r.add(
            Figure(
                "batch events/s",
                rate,
                "events/s",
                self.floor.tps if self.floor else None,
                "pgbench",
                "value",
                ">=",
                10000,
            )
        )
        r.add(zero_figure("batch errors", errors))
        r.add(zero_figure("batch orders without 1 row", bad_orders, len(done_orders), "orders"))
        r.details["batch"] = {
            **{k: v for k, v in stats.items() if k not in {"error_samples", "last_response"}},
            "error_samples": stats["error_samples"][:5],
            "threads": threads,
            "seconds": elapsed,
            "events_committed": committed_events,
            "cut_at_bound": aborted,
            "orders_in_answered_batches": len(done_orders),
            "orders_missing": missing,
            "orders_duplicated": duplicated,
            "order_events_without_one_row": int(orderless[0]) if orderless else None,
        }
        log(
            f"  {committed_events} events committed in {elapsed:.1f} s; batches answered "
            f"{stats['batches_done']}, failed {stats['batches_failed']}, "
            f"cut {stats['batches_cut']}"
        )
        if aborted:
            r.problem(
                f"batch: {stats['batches_cut']} batches were still running {grace:.0f} s after "
                f"the {self.duration} s window and were cut by stopping the server; events/s "
                "counts the events committed until then"
            )
        if errors:
            r.problem(
                f"batch: {errors} errors (failed requests or error items): "
                f"{stats['error_samples'][:2]}"
            )
        if bad_orders:
            r.problem(
                f"batch orders: {missing} missing, {duplicated} duplicated, "
                f"{orderless[0] if orderless else '?'} order events without one row"
            )

    def step_pooling(self) -> None:
        server = self.ensure_server()
        log("pooling: /readyz with the pool")
        self.warm("get.lua", f"{server.url}/readyz")
        pooled = self.wrk("get.lua", f"{server.url}/readyz")
        self.stop_server()
        server = self.start_server(pooled=False)
        log("pooling: /readyz without the pool (SARAFAN_DB_POOL=0)")
        self.warm("get.lua", f"{server.url}/readyz")
        unpooled = self.wrk("get.lua", f"{server.url}/readyz")
        self.stop_server()

        r = self.report
        pooled_rate = pooled.rate(lambda s: s == 200)
        unpooled_rate = unpooled.rate(lambda s: s == 200)
        r.add(
            Figure(
                "readyz pooled req/s",
                pooled_rate,
                "req/s",
                unpooled_rate,
                "unpooled",
                "ratio",
                ">=",
                3.0,
            )
        )
        r.add(Figure("readyz pooled p99 ms", pooled.p99_ms, "ms", unpooled.p99_ms, "unpooled"))
        r.details["pooling"] = {
            label: {
                "statuses": res.statuses,
                "socket_errors": res.socket_errors,
                "requests": res.requests,
                "seconds": res.seconds,
            }
            for label, res in (("pooled", pooled), ("unpooled", unpooled))
        }
        for label, res in (("pooled", pooled), ("unpooled", unpooled)):
            bad = res.count(lambda s: s != 200) + res.socket_error_total
            if bad:
                r.problem(
                    f"/readyz ({label}): {bad} errors; statuses {res.statuses}, "
                    f"socket errors {res.socket_errors}"
                )

    def step_tasks(self) -> None:
        """Each task backend in turn: start latency at a steady rate, a burst, drain rate."""
        self.stop_server()  # the worker and the database alone
        with self.db() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_task_scratch (id bigserial PRIMARY KEY, "
                "payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
        log("tasks: pgbench one-row INSERTs, 1 client")
        insert = self.pgbench(
            BENCH / "sql" / "task_insert.sql", clients=1, threads=1, label="task-insert"
        )
        self.report.details["tasks"] = {"insert_baseline": asdict(insert)}
        for backend in TASK_BACKENDS:
            self._tasks_on(backend, insert.tps)

    def _tasks_on(self, backend: str, insert_tps: float | None) -> None:
        env = dict(self.env, SARAFAN_TASK_BACKEND=backend)
        if backend == "rq":
            env["REDIS_URL"] = TASK_REDIS_URL
            try:
                _redis_flushdb(TASK_REDIS_URL)  # no job of an earlier run in the queue
            except OSError as exc:
                self.report.problem(f"tasks (rq): no Redis at {TASK_REDIS_URL} ({exc}); skipped")
                return
        log(
            f"tasks ({backend}): one `sarafan worker --no-schedule`; {TASK_RATE:.0f} tasks/s "
            f"for {self.duration} s, then {TASK_BURST} at once"
        )
        timeout = max(60.0, 12.0 * self.duration)
        logfile = (self.workdir / "worker.log").open("ab")
        worker = self.procs.start(
            [SARAFAN, "worker", "--no-schedule", "--processes", "1"],
            env=env,
            stdout=logfile,
            stderr=logfile,
        )
        try:
            self._django_side(env, ["probe"], timeout=120)  # the worker is up
            idle_cpu = self._cpu_share(worker.pid, TASK_IDLE_SECONDS)
            result = self._django_side(
                env,
                ["tasks", TASK_RATE, self.duration, TASK_BURST, timeout],
                timeout=self.duration + 2 * timeout + 60,
            )
            worker_rss = max(
                (
                    rss
                    for pid in [worker.pid, *descendants(worker.pid)]
                    if (rss := peak_rss_mib(pid)) is not None
                ),
                default=None,
            )
        finally:
            self.procs.stop(worker)
            logfile.close()
        steady, burst = result["steady"], result["burst"]
        planned = TASK_RATE * self.duration
        if steady["enqueue_seconds"] > 1.2 * planned / TASK_RATE:
            self.report.problem(
                f"tasks ({backend}): enqueueing {planned:.0f} tasks took "
                f"{steady['enqueue_seconds']:.1f} s, not {self.duration} s: the rate was lower"
            )
        if not burst["all_finished"]:
            self.report.problem(
                f"tasks ({backend}): the burst did not finish within {timeout:.0f} s"
                + ("" if worker.returncode is None else f"; the worker exited {worker.returncode}")
            )

        def start_ms(rows: list[list[Any]]) -> list[float]:
            return [1000.0 * (row[1] - row[0]) for row in rows if row[0] and row[1]]

        steady_ms = start_ms(steady["tasks"])
        burst_rows = burst["tasks"]
        starts = [row[1] for row in burst_rows if row[1]]
        finishes = [row[2] for row in burst_rows if row[2]]
        span = max(finishes) - min(starts) if starts and finishes else 0.0
        drained = len(finishes) / span if span > 0 else None
        enqueued = len(burst_rows) / burst["enqueue_seconds"] if burst["enqueue_seconds"] else None
        failed = sum(row[3] == "FAILED" for row in steady["tasks"] + burst_rows)

        r, suffix = self.report, f" ({backend})"
        r.add(
            Figure(
                "task start p50 ms" + suffix,
                percentile(steady_ms, 50),
                "ms",
                target_on="value",
                target_op="<",
                target=200,
            )
        )
        r.add(Figure("task start p99 ms" + suffix, percentile(steady_ms, 99), "ms"))
        r.add(
            Figure("task start p50 ms, burst" + suffix, percentile(start_ms(burst_rows), 50), "ms")
        )
        if backend == "db":
            r.add(
                Figure(
                    "tasks drained/s" + suffix, drained, "tasks/s", insert_tps, "INSERT 1 client"
                )
            )
        else:
            r.add(Figure("tasks drained/s" + suffix, drained, "tasks/s"))
        r.add(Figure("tasks enqueued/s" + suffix, enqueued, "tasks/s"))
        r.add(Figure("idle worker CPU %" + suffix, idle_cpu, "%"))
        r.add(zero_figure("tasks failed" + suffix, failed))
        r.details["tasks"][backend] = {
            "steady_rate": TASK_RATE,
            "steady_tasks": len(steady["tasks"]),
            "steady_enqueue_seconds": steady["enqueue_seconds"],
            "steady_start_ms": {
                "p50": percentile(steady_ms, 50),
                "p90": percentile(steady_ms, 90),
                "p99": percentile(steady_ms, 99),
                "max": max(steady_ms, default=None),
            },
            "burst_tasks": len(burst_rows),
            "burst_enqueue_seconds": burst["enqueue_seconds"],
            "burst_drain_seconds": span,
            "failed": failed,
            "idle_cpu_percent": idle_cpu,
            "worker_peak_rss_mib": worker_rss,
        }
        if backend == "db":  # the default backend's worker is the one the memory step reports
            self.task_worker_rss = worker_rss

    def _django_side(self, env: dict[str, str], args: Sequence[Any], *, timeout: float) -> Any:
        code, out, err = self.procs.run(
            [PYTHON, BENCH / "django_side.py", *(str(arg) for arg in args)],
            env=env,
            timeout=timeout,
        )
        if code:
            raise HarnessError(f"django_side.py {args[0]} failed:\n{out[-1000:]}\n{err[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def _cpu_share(self, pid: int, seconds: float) -> float:
        """CPU used over `seconds` by a process, its children and its database sessions, in %
        of one core: what an idle worker costs (a polling worker queries all the time)."""

        def ticks() -> dict[int, int]:
            with self.db() as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()",
                    (DB_NAME,),
                ).fetchall()
            found: dict[int, int] = {}
            for each in [pid, *descendants(pid), *(row[0] for row in rows)]:
                with suppress(OSError, IndexError, ValueError):
                    fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
                    found[each] = int(fields[11]) + int(fields[12])
            return found

        before = ticks()
        time.sleep(seconds)
        after = ticks()
        used = sum(after[p] - before[p] for p in after if p in before)
        return 100.0 * used / os.sysconf("SC_CLK_TCK") / seconds

    def step_memory(self) -> None:
        if not self.web_rss:
            self.ensure_server()
            self.sample_web_memory()
        web = max(self.web_rss.values(), default=None)
        self.report.add(Figure("web worker peak RSS MiB", web, "MiB"))
        task = self.task_worker_rss
        self.report.add(
            Figure(
                "task worker peak RSS MiB",
                task,
                "MiB",
                note="" if task is not None else "tasks step not run",
            )
        )
        self.report.details["memory"] = {"web_workers_peak_rss_mib": self.web_rss}

    # -- whole run ----------------------------------------------------------------------------

    def run(self, steps: Sequence[str]) -> None:
        self.setup()
        self.seed()
        for name in ("redirect", "events", "batch", "pooling"):
            if name in steps:
                getattr(self, f"step_{name}")()
        # Web workers' peaks are read while the pooled server still runs after its load.
        if "memory" in steps and self.server is not None and self.server.label == "pooled":
            self.sample_web_memory()
        if "tasks" in steps:
            self.step_tasks()
        if "memory" in steps:
            self.step_memory()
        self.stop_server()
        for label in ("pooled", "unpooled"):
            self.scan_server_log(self.workdir / f"server-{label}.log", label)
        self.scan_server_log(self.workdir / "worker.log", "task worker")

    def scan_server_log(self, path: Path, label: str) -> None:
        """Server errors (5xx, tracebacks) that the figures alone would not show."""
        if not path.exists():
            return
        text = path.read_text(errors="replace")
        tracebacks = text.count("Traceback (most recent call last)")
        server_errors = len(re.findall(r"Internal Server Error|unhandled error on", text))
        if tracebacks or server_errors:
            first = next(
                (line for line in text.splitlines() if "Error" in line and "Traceback" not in line),
                "",
            )
            self.report.problem(
                f"{label} log: {server_errors} server errors, {tracebacks} tracebacks "
                f"(e.g. {first.strip()[:200]!r})"
            )
        self.report.details.setdefault("logs", {})[label] = {
            "tracebacks": tracebacks,
            "server_errors": server_errors,
            "lines": text.count("\n"),
        }


# --------------------------------------------------------------------------------------------
# Machine description


def _first_line(argv: Sequence[str]) -> str:
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else ""
    return ""


def _process_ticks() -> dict[int, tuple[int, str]]:
    ticks: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ticks[int(entry.name)] = (int(fields[11]) + int(fields[12]), cmd.strip())
    return ticks


def _machine_ticks() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)


def background_load(seconds: float = 1.0) -> dict[str, Any]:
    """How busy the machine is without us: CPU share over `seconds` and its top consumers.

    Benchmarks on a shared machine are only comparable when this is near zero.
    """
    hz = os.sysconf("SC_CLK_TCK")
    total1, idle1 = _machine_ticks()
    procs1 = _process_ticks()
    time.sleep(seconds)
    total2, idle2 = _machine_ticks()
    procs2 = _process_ticks()
    total = total2 - total1
    busy = 0.0 if total <= 0 else 1 - (idle2 - idle1) / total
    top = sorted(
        (
            ((ticks - procs1[pid][0]) / hz / seconds, cmd)
            for pid, (ticks, cmd) in procs2.items()
            if pid in procs1 and pid != os.getpid()
        ),
        reverse=True,
    )
    return {
        "cpu_busy": round(busy, 3),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "top": [f"{100 * share:.0f}% {cmd[:70]}" for share, cmd in top[:3] if share >= 0.05],
    }


def machine(bench: Bench) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    pg_settings: dict[str, Any] = {}
    with suppress(psycopg.Error), psycopg.connect(bench.conninfo("postgres")) as conn:
        for name in (
            "server_version",
            "synchronous_commit",
            "fsync",
            "shared_buffers",
            "max_connections",
        ):
            row = conn.execute(f"SHOW {name}").fetchone()
            pg_settings[name] = row[0] if row else None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "mem_total_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "cpu": model.group(1).strip() if model else platform.processor(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _first_line(["wrk", "--version"]).split(" Copyright")[0],
        "pgbench": _first_line(["pgbench", "--version"]),
        "postgres": pg_settings,
        "commit": f"{commit}{' + uncommitted changes in src/' if dirty else ''}",
        "background_at_start": background_load(),
    }


def print_header(report: Report, bench: Bench) -> None:
    m = report.meta
    pg = m.get("postgres", {})
    django = m.get("django", {})
    pool = django.get("pool")
    pool_text = f"pool {pool.get('min_size')}..{pool.get('max_size')}" if pool else "no pool"
    print()
    print(f"date        {m.get('date')}   commit {m.get('commit')}")
    print(
        f"machine     {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('mem_total_gib')} GiB, "
        f"kernel {m.get('kernel')}, Python {m.get('python')}"
    )
    for when in ("start", "end"):
        bg = m.get(f"background_at_{when}")
        if bg:
            top = f"; busiest: {' | '.join(bg['top'])}" if bg["top"] else ""
            print(
                f"{'others' if when == 'start' else '':<12}at {when}: "
                f"{100 * bg['cpu_busy']:.0f}% CPU busy, load {' '.join(bg['loadavg'])}{top}"
            )
    print(
        f"postgres    {pg.get('server_version')}, synchronous_commit={pg.get('synchronous_commit')}, "
        f"fsync={pg.get('fsync')}, shared_buffers={pg.get('shared_buffers')}"
    )
    print(f"server      {m.get('server', {}).get('pooled', '-')}")
    print(
        f"            {pool_text} per process, CONN_MAX_AGE={django.get('conn_max_age')}, "
        f"tasks {django.get('task_backend')}, cache {django.get('cache')}, "
        f"debug {django.get('debug')}"
    )
    tunables = {
        k: v for k, v in os.environ.items() if k.startswith("SARAFAN_") and k not in STRIPPED_ENV
    }
    if tunables:
        print(f"            inherited: {tunables}")
    print(
        f"load        {bench.duration} s a run, {bench.connections} connections "
        f"(wrk -t {bench.wrk_threads}, pgbench -j 2), {m.get('wrk')}, {m.get('pgbench')}"
    )
    print()


# --------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds of each wrk and pgbench run (default 10)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrency of every wrk and pgbench figure (default 32)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(STEPS)}")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="granian-wsgi",
        help="the server to measure (default granian-wsgi, which is `sarafan serve`)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of wrk warm-up before each wrk figure (default 2; 0 = none)",
    )
    parser.add_argument(
        "--pg",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server (trust auth) to create sarafan_bench on",
    )
    parser.add_argument(
        "--logs", type=Path, help="keep server, worker and pgbench logs in this directory"
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    steps = [s.strip() for s in args.only.split(",") if s.strip()] or list(STEPS)
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    args.steps = [s for s in STEPS if s in steps]
    return args


def check_tools() -> None:
    missing = [tool for tool in ("wrk", "pgbench") if shutil.which(tool) is None]
    if not SARAFAN.exists():
        missing.append(str(SARAFAN))
    if missing:
        raise HarnessError(
            f"missing: {', '.join(missing)} (apt-get install wrk postgresql-client; make install)"
        )


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    procs = Processes()
    status = 0
    with tempfile.TemporaryDirectory(prefix="sarafan-bench-") as tmp:
        workdir = args.logs.resolve() if args.logs else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, workdir, procs)
        report = bench.report
        started = time.monotonic()
        try:
            check_tools()
            report.meta.update(machine(bench))
            report.meta["options"] = {
                "duration": args.duration,
                "connections": args.connections,
                "wrk_threads": bench.wrk_threads,
                "warmup": args.warmup,
                "steps": args.steps,
            }
            log(
                f"steps: {', '.join(args.steps)}; {args.duration} s runs, "
                f"{args.connections} connections"
            )
            bench.run(args.steps)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping everything this run started", file=sys.stderr)
            status = 130
        except (HarnessError, psycopg.Error, OSError, KeyError, ValueError) as exc:
            report.problem(f"harness error: {exc}")
            status = 1
        finally:
            procs.stop_all()
        report.meta["elapsed_seconds"] = round(time.monotonic() - started, 1)
        report.meta["background_at_end"] = background_load()
        busy = [
            f"{100 * bg['cpu_busy']:.0f}% at {when}"
            for when in ("start", "end")
            if (bg := report.meta.get(f"background_at_{when}")) and bg["cpu_busy"] > 0.15
        ]
        if busy:
            report.problem(
                f"other work kept the CPUs busy ({', '.join(busy)}): the figures are noisy"
            )
        print_header(report, bench)
        print(report.table())
        if report.problems:
            print("\nproblems seen:")
            for text in report.problems:
                print(f"  - {text}")
        print(f"\n(run took {report.meta['elapsed_seconds']} s)")
        if args.json:
            payload = {
                "meta": report.meta,
                "figures": [fig.as_dict() for fig in report.figures],
                "problems": report.problems,
                "details": report.details,
            }
            args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
            print(f"results written to {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
