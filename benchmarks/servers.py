"""Server comparison: the redirect step of run.py under each candidate server.

Usage: .venv/bin/python benchmarks/servers.py [--duration 5]

Each server gets a fresh database and the same load (run.py's redirect step: /healthz as
the bare endpoint, then /r/<code>), and the table shows throughput and p99 side by side.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.paths import PYTHON
from harness.server import SERVERS

HERE = Path(__file__).resolve().parent


def measure(server: str, duration: int) -> dict[str, dict[str, float | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        argv = [str(PYTHON), str(HERE / "run.py"), "--only", "redirect", "--server", server]
        argv += ["--duration", str(duration), "--json", str(out)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        figures = json.loads(out.read_text())["figures"]
    return {figure["name"]: figure for figure in figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for server in SERVERS:
        print(f"measuring {server} …", file=sys.stderr, flush=True)
        figures = measure(server, args.duration)
        rps, p99 = figures["redirect req/s"], figures["redirect p99 ms"]
        rows.append((server, rps["baseline"], rps["value"], p99["baseline"], p99["value"]))
    best = max(row[2] or 0 for row in rows)
    print(
        f"{'server':18} {'bare req/s':>11} {'redirect req/s':>15} {'bare p99':>9} "
        f"{'redirect p99':>13} {'of best':>8}"
    )
    for server, bare, rps, bare_p99, p99 in rows:
        share = (rps or 0) / best if best else 0
        print(
            f"{server:18} {bare or 0:11.0f} {rps or 0:15.0f} {bare_p99 or 0:9.1f} "
            f"{p99 or 0:13.1f} {share:8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
