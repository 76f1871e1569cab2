"""The machine a run measured: CPUs, memory, versions, commit, and how busy others kept it."""

import os
import platform
import re
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from .paths import ROOT
from .processes import process_ticks
from .report import Report


def _first_line(argv: Sequence[str]) -> str:
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else ""
    return ""


def _machine_ticks() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)


def background_load(seconds: float = 1.0) -> dict[str, Any]:
    """How busy the machine is without us: CPU share over `seconds` and its top consumers.

    Benchmarks on a shared machine are only comparable when this is near zero.
    """
    hz = os.sysconf("SC_CLK_TCK")
    total1, idle1 = _machine_ticks()
    procs1 = process_ticks()
    time.sleep(seconds)
    total2, idle2 = _machine_ticks()
    procs2 = process_ticks()
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


def commit() -> str:
    """The checked-out commit, and whether src/ has changes not committed."""
    head = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def cpu_model() -> str:
    with suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if found:
            return found.group(1).strip()
    return platform.processor()


def summary() -> str:
    """One line for a separate run's header."""
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"commit {commit()}"
    )


def machine(postgres_conninfo: str) -> dict[str, Any]:
    """The run's header data; `postgres_conninfo` reaches the server's maintenance database."""
    meminfo = Path("/proc/meminfo").read_text()
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    pg_settings: dict[str, Any] = {}
    with suppress(psycopg.Error), psycopg.connect(postgres_conninfo) as conn:
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
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _first_line(["wrk", "--version"]).split(" Copyright")[0],
        "pgbench": _first_line(["pgbench", "--version"]),
        "postgres": pg_settings,
        "commit": commit(),
        "background_at_start": background_load(),
    }


def print_header(report: Report, stripped_env: Sequence[str]) -> None:
    """The run's header: when, what, on which machine, under which load and settings."""
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
        k: v for k, v in os.environ.items() if k.startswith("SARAFAN_") and k not in stripped_env
    }
    if tunables:
        print(f"            inherited: {tunables}")
    options = m.get("options", {})
    print(
        f"load        {options.get('duration')} s a run, {options.get('connections')} "
        f"connections (wrk -t {options.get('wrk_threads')}, pgbench -j 2), {m.get('wrk')}, "
        f"{m.get('pgbench')}"
    )
    print()
