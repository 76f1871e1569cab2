"""Tasks: enqueue-to-start latency at a steady rate and after a burst, and the drain rate,
of one task worker on each backend (database, RQ), against pgbench's one-row INSERT rate.

The step runs on a database of its own, migrated fresh (`sarafan_bench_tasks`): the earlier
steps leave thousands of certificate e-mails queued in `sarafan_bench`, and the probe task
would wait behind them. The worker starts with an empty queue, as the figures mean.
"""

import os
import socket
import time
from contextlib import suppress
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from harness.bench import Bench
from harness.floor import TASK_INSERT_SQL, TASK_SCRATCH_DDL
from harness.paths import SARAFAN
from harness.processes import cpu_ticks, descendants, peak_rss_mib
from harness.report import Figure, log, percentile, zero_figure

DB_NAME = "sarafan_bench_tasks"
# The steady rate is well below one worker's capacity, so its latency is the pickup delay a
# task sees in normal operation.
BACKENDS = ("db", "rq")
RATE = 20.0
BURST = 500
IDLE_SECONDS = 3.0
REDIS_URL = "redis://127.0.0.1:6379/15"  # flushed before the rq run


def run(bench: Bench) -> None:
    """Each task backend in turn: start latency at a steady rate, a burst, drain rate."""
    bench.stop_server()  # the worker and the database alone
    log(f"tasks: fresh database {DB_NAME}")
    env = bench.migrate(DB_NAME)
    with bench.db(DB_NAME) as conn:
        conn.execute(TASK_SCRATCH_DDL)
    log("tasks: pgbench one-row INSERTs, 1 client")
    insert = bench.pgbench(
        TASK_INSERT_SQL, clients=1, threads=1, label="task-insert", dbname=DB_NAME
    )
    bench.report.details["tasks"] = {"insert_baseline": asdict(insert)}
    for backend in BACKENDS:
        _on(bench, env, backend, insert.tps)


def _on(bench: Bench, base_env: dict[str, str], backend: str, insert_tps: float | None) -> None:
    env = dict(base_env, SARAFAN_TASK_BACKEND=backend)
    if backend == "rq":
        env["REDIS_URL"] = REDIS_URL
        try:
            _redis_flushdb(REDIS_URL)  # no job of an earlier run in the queue
        except OSError as exc:
            bench.report.problem(f"tasks (rq): no Redis at {REDIS_URL} ({exc}); skipped")
            return
    log(
        f"tasks ({backend}): one `sarafan worker --no-schedule`; {RATE:.0f} tasks/s "
        f"for {bench.duration} s, then {BURST} at once"
    )
    timeout = max(60.0, 12.0 * bench.duration)
    logfile = (bench.workdir / "worker.log").open("ab")
    worker = bench.procs.start(
        [SARAFAN, "worker", "--no-schedule", "--processes", "1"],
        env=env,
        stdout=logfile,
        stderr=logfile,
    )
    try:
        bench.django_side(env, ["probe"], timeout=120)  # the worker is up
        idle_cpu = _cpu_share(bench, worker.pid, IDLE_SECONDS)
        result = bench.django_side(
            env,
            ["tasks", RATE, bench.duration, BURST, timeout],
            timeout=bench.duration + 2 * timeout + 60,
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
        bench.procs.stop(worker)
        logfile.close()
    steady, burst = result["steady"], result["burst"]
    planned = RATE * bench.duration
    if steady["enqueue_seconds"] > 1.2 * planned / RATE:
        bench.report.problem(
            f"tasks ({backend}): enqueueing {planned:.0f} tasks took "
            f"{steady['enqueue_seconds']:.1f} s, not {bench.duration} s: the rate was lower"
        )
    if not burst["all_finished"]:
        bench.report.problem(
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

    r, suffix = bench.report, f" ({backend})"
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
    r.add(Figure("task start p50 ms, burst" + suffix, percentile(start_ms(burst_rows), 50), "ms"))
    if backend == "db":
        r.add(Figure("tasks drained/s" + suffix, drained, "tasks/s", insert_tps, "INSERT 1 client"))
    else:
        r.add(Figure("tasks drained/s" + suffix, drained, "tasks/s"))
    r.add(Figure("tasks enqueued/s" + suffix, enqueued, "tasks/s"))
    r.add(Figure("idle worker CPU %" + suffix, idle_cpu, "%"))
    r.add(zero_figure("tasks failed" + suffix, failed))
    r.details["tasks"][backend] = {
        "steady_rate": RATE,
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
        bench.task_worker_rss = worker_rss


def _cpu_share(bench: Bench, pid: int, seconds: float) -> float:
    """CPU used over `seconds` by a process, its children and its database sessions, in %
    of one core: what an idle worker costs (a polling worker queries all the time)."""

    def ticks() -> dict[int, int]:
        with bench.db(DB_NAME) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (DB_NAME,),
            ).fetchall()
        found: dict[int, int] = {}
        for each in [pid, *descendants(pid), *(row[0] for row in rows)]:
            with suppress(OSError, IndexError, ValueError):
                found[each] = cpu_ticks(each)
        return found

    before = ticks()
    time.sleep(seconds)
    after = ticks()
    used = sum(after[p] - before[p] for p in after if p in before)
    return 100.0 * used / os.sysconf("SC_CLK_TCK") / seconds


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
