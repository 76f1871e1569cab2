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
            single-client one-row INSERT rate (on a fresh database of its own)
  memory    peak RSS of the web worker processes and of the task worker

Each step is a module of scenarios/ with `run(bench)`; what they share is in harness/.
Every process it starts runs in its own process group and is killed on exit, error or
Ctrl+C. It exits 1 when a step failed or a figure lacks its baseline. See
benchmarks/README.md for what each figure means and its target.
"""

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

from harness.bench import Bench
from harness.env import STRIPPED_ENV
from harness.machine import background_load, machine, print_header
from harness.paths import SARAFAN
from harness.processes import HarnessError, Processes
from harness.report import log
from harness.server import SERVERS
from scenarios import batch, events, memory, pooling, redirect, tasks

# In this order; the memory step reads the web workers' peaks after the load of the others.
STEPS: dict[str, Callable[[Bench], None]] = {
    "redirect": redirect.run,
    "events": events.run,
    "batch": batch.run,
    "pooling": pooling.run,
    "tasks": tasks.run,
    "memory": memory.run,
}


def run(bench: Bench, steps: Sequence[str]) -> None:
    bench.setup()
    bench.seed()
    for name in ("redirect", "events", "batch", "pooling"):
        if name in steps:
            STEPS[name](bench)
    # Web workers' peaks are read while the pooled server still runs after its load.
    if "memory" in steps and bench.server is not None and bench.server.label == "pooled":
        bench.sample_web_memory()
    for name in ("tasks", "memory"):
        if name in steps:
            STEPS[name](bench)
    bench.stop_server()
    for label in ("pooled", "unpooled"):
        bench.scan_server_log(bench.workdir / f"server-{label}.log", label)
    bench.scan_server_log(bench.workdir / "worker.log", "task worker")


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
            report.meta.update(machine(bench.conninfo("postgres")))
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
            run(bench, args.steps)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping everything this run started", file=sys.stderr)
            status = 130
        except (HarnessError, psycopg.Error, OSError, KeyError, ValueError) as exc:
            report.problem(f"harness error: {exc}")
            status = 1
        finally:
            procs.stop_all()
        missing = report.missing_baselines()
        if missing and status == 0:
            # A figure without its baseline means a floor stopped working: the run fails.
            report.problem(f"no baseline measured for: {', '.join(missing)}")
            status = 1
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
        print_header(report, STRIPPED_ENV)
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
