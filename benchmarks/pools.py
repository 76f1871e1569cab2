"""Certificate pools: a 10 000-code CSV upload and allocations, on SQLite and PostgreSQL.

    flock /tmp/bench.lock .venv/bin/python benchmarks/pools.py [--rows N] [--allocations N]

For each database (a fresh SQLite file in a temporary data directory, and the PostgreSQL
database `sarafan_bench_pools`, created and dropped) it migrates, creates a project, a
brand and a pool, and times through the services: the dry run of an N-row CSV, the real
upload, the same file again (every row a duplicate), and N allocations one after another
(each its own transaction, as a reward's issue will be). Prints one line per figure.
About half a minute.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from harness import pg

DATABASE = "sarafan_bench_pools"


def _measure(rows: int, allocations: int) -> None:
    """Runs inside a child process whose environment names the database."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from sarafan.projects.services import create_project
    from sarafan.rewards import pools

    call_command("migrate", verbosity=0)
    expiry = (timezone.now() + timedelta(days=365)).date().isoformat()
    text = "code,pin,nominal,expiry\n" + "".join(
        f"BENCH-{i:07d}-XQ7,{i % 10000:04d},500.00,{expiry}\n" for i in range(rows)
    )
    project, _ = create_project(name="Pools benchmark")
    brand = pools.create_brand(project=project, livemode=False, name="Bench")
    pool = pools.create_pool(brand=brand, denomination=Decimal("500.00"))
    vendor = connection.vendor
    print(f"{vendor}: {rows} rows, {len(text) / 1024:.0f} KiB of CSV")
    for label, dry_run in (("dry run", True), ("upload", False), ("same file again", False)):
        start = time.perf_counter()
        report = pools.upload_codes(pool=pool, csv_text=text, dry_run=dry_run)
        took = time.perf_counter() - start
        print(
            f"  {vendor:<10} {label:<16} {took:6.2f} s  "
            f"{rows / took:8.0f} rows/s  accepted {report['accepted']}, "
            f"rejected {report['rejected']}"
        )
    start = time.perf_counter()
    handed = [pools.allocate_code(pool=pool) for _ in range(allocations)]
    took = time.perf_counter() - start
    if None in handed or len({code.pk for code in handed if code}) != allocations:
        raise SystemExit("a code was handed out twice, or the pool ran dry")
    print(
        f"  {vendor:<10} {'allocations':<16} {took:6.2f} s  "
        f"{allocations / took:8.0f} codes/s  {1000 * took / allocations:.2f} ms each"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--allocations", type=int, default=1_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _measure(args.rows, args.allocations)
        return
    argv = [sys.executable, __file__, "--child", f"--rows={args.rows}"]
    argv.append(f"--allocations={args.allocations}")
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SARAFAN_DATA_DIR": data_dir, "SARAFAN_DEBUG": "0"}
        env.pop("DATABASE_URL", None)
        subprocess.run(argv, env=env, check=True)
    pg.recreate_database(DATABASE)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            env = {
                **os.environ,
                "SARAFAN_DATA_DIR": data_dir,
                "SARAFAN_DEBUG": "0",
                "DATABASE_URL": f"{pg.SERVER}/{DATABASE}",
            }
            subprocess.run(argv, env=env, check=True)
    finally:
        pg.drop_database(DATABASE)


if __name__ == "__main__":
    main()
