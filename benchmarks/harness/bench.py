"""The state a `make bench` run shares between its scenarios: options, environment, the
database, the server, the seed, and the load generators bound to them."""

import argparse
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from . import pg
from .api import http_json
from .env import bench_env
from .floor import floor_defines
from .loadgen import PgbenchResult, WrkResult, parse_pgbench, parse_wrk, pgbench_argv
from .paths import BENCH, PYTHON, SARAFAN, WRK
from .processes import HarnessError, Processes, peak_rss_mib
from .report import Report, log
from .server import Server

DB_NAME = "sarafan_bench"
REFERRERS = 500
WRK_TIMEOUT_SECONDS = 10
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
        server = urlsplit(args.pg)
        self.pg_host = server.hostname or "127.0.0.1"
        self.pg_port = server.port or 5432
        self.pg_user = server.username or "postgres"
        self.pg_server = f"postgres://{self.pg_user}@{self.pg_host}:{self.pg_port}"
        self.data_dir = workdir / "data"
        self.env = self.env_for(DB_NAME)
        self.server: Server | None = None
        self.web_rss: dict[str, float] = {}
        self.keys: dict[str, str] = {}
        self.codes: list[str] = []
        self.ids: dict[str, int] = {}
        self.floor: PgbenchResult | None = None
        self.task_worker_rss: float | None = None

    # -- environment and database -------------------------------------------------------------

    def env_for(self, dbname: str) -> dict[str, str]:
        """The processes' environment with `dbname` as the database."""
        return bench_env(
            DATABASE_URL=f"{self.pg_server}/{dbname}", SARAFAN_DATA_DIR=str(self.data_dir)
        )

    def conninfo(self, dbname: str = DB_NAME) -> str:
        return f"host={self.pg_host} port={self.pg_port} user={self.pg_user} dbname={dbname}"

    @contextmanager
    def db(self, dbname: str = DB_NAME) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            yield conn

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        with self.db() as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
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
            last: int = conn.execute(count_sql).fetchone()[0]  # type: ignore[arg-type, index]
            stable_since = time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.25)
                now: int = conn.execute(count_sql).fetchone()[0]  # type: ignore[arg-type, index]
                busy: int = conn.execute(busy_sql, (DB_NAME,)).fetchone()[0]  # type: ignore[index]
                if now != last or busy:
                    last, stable_since = now, time.monotonic()
                elif time.monotonic() - stable_since >= settle:
                    return now
        self.report.problem(f"the database did not settle within {timeout:.0f} s")
        return last

    def migrate(self, dbname: str) -> dict[str, str]:
        """A fresh database `dbname`, migrated; returns the environment that points at it."""
        pg.recreate_database(dbname, self.pg_server)
        env = self.env_for(dbname)
        code, out, err = self.procs.run([SARAFAN, "migrate"], env=env, timeout=300)
        if code:
            raise HarnessError(f"sarafan migrate ({dbname}) failed:\n{out}\n{err}")
        return env

    def setup(self) -> None:
        log(f"setup: fresh database {DB_NAME}")
        self.migrate(DB_NAME)
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

    # -- the server ---------------------------------------------------------------------------

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

    # -- the seed -----------------------------------------------------------------------------

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
        referrers = [f"r{i}" for i in range(1, REFERRERS + 1)]
        try:
            with self.db() as conn:
                self.ids = floor_defines(
                    conn, project=self.keys["id"], campaign=campaign["id"], referrers=referrers
                )
        except LookupError as exc:
            raise HarnessError(str(exc)) from None
        self.report.details["seed"] = {"campaign": campaign["id"], **self.ids}

    # -- load generators and helpers ----------------------------------------------------------

    def wrk(
        self, script: str, url: str, args: Sequence[str] = (), duration: float | None = None
    ) -> WrkResult:
        seconds = self.duration if duration is None else duration
        argv: list[str] = ["wrk", "-t", str(self.wrk_threads), "-c", str(self.connections)]
        argv += ["-d", f"{seconds}s", "--timeout", f"{WRK_TIMEOUT_SECONDS}s", "--latency"]
        argv += ["-s", str(WRK / script), url]
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
        dbname: str = DB_NAME,
    ) -> PgbenchResult:
        log_dir = self.workdir / f"pgbench-{label}"
        shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir()
        conninfo = {"host": self.pg_host, "port": self.pg_port, "user": self.pg_user}
        argv = pgbench_argv(
            script,
            conninfo={**conninfo, "dbname": dbname},
            clients=clients,
            threads=threads,
            seconds=self.duration,
            defines=defines,
            log_prefix=log_dir / "tx",
        )
        _, out, err = self.procs.run(argv, timeout=self.duration + 60)
        result = parse_pgbench(out, err, sorted(log_dir.glob("tx.*")))
        if result.tps is None or result.aborted:
            detail = "; ".join(result.errors) or (out + err)[-500:]
            self.report.problem(f"pgbench {label} did not complete cleanly: {detail}")
        return result

    def django_side(self, env: dict[str, str], args: Sequence[Any], *, timeout: float) -> Any:
        """benchmarks/django_side.py in `env`; its last line of output, parsed as JSON."""
        code, out, err = self.procs.run(
            [PYTHON, BENCH / "django_side.py", *(str(arg) for arg in args)],
            env=env,
            timeout=timeout,
        )
        if code:
            raise HarnessError(f"django_side.py {args[0]} failed:\n{out[-1000:]}\n{err[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])
