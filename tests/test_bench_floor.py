"""The benchmark's SQL floors keep up with the schema and with what the services write.

`make bench` compares POST /api/v1/events with pgbench running benchmarks/sql/event.sql:
the writes and row locks of one signup and one first paid order. When a migration adds a
NOT NULL column or the services start writing another table, the floor must change with
them, or the benchmark fails (or measures yesterday's design). These tests make that a
failure of `make test` instead: the floor runs once against the migrated schema, and the
tables it writes and locks are those the services write and lock for the same events.
"""

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sarafan.projects.models import Project

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# The benchmarks run as scripts from benchmarks/, where their shared package is `harness`.
sys.path.insert(0, str(BENCHMARKS))
bench_api = importlib.import_module("harness.api")
bench = importlib.import_module("harness.bench")
floor = importlib.import_module("harness.floor")
loadgen = importlib.import_module("harness.loadgen")

REFERRERS = [f"r{i}" for i in range(1, 4)]


@pytest.fixture
def floor_database() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the floor is PostgreSQL SQL run by pgbench, and SQLite takes no row locks to "
            "compare with it (run with DATABASE_URL)"
        )


def _seed(api: Any) -> tuple[str, list[str]]:
    """The benchmark's campaign and a few of its referrers; returns (campaign id, codes)."""
    response = api.post("campaigns", bench.CAMPAIGN)
    assert response.status_code == 201, response.content
    codes = []
    for external_id in REFERRERS:
        body = {"email": f"{external_id}@example.ru", "name": external_id}
        answer = api.put(f"participants/{external_id}", body)
        assert answer.status_code in (200, 201), answer.content
        codes.append(answer.json()["referral_code"])
    return response.json()["id"], codes


def _post(api: Any, body: dict[str, Any]) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = api.post("events", body)
    assert response.status_code in (200, 201), response.content
    return [query["sql"] for query in ctx.captured_queries]


def test_the_floor_writes_and_locks_what_the_services_do(api: Any, floor_database: None) -> None:
    _, codes = _seed(api)
    captured: dict[str, list[str]] = {}
    # The second customer's events are measured: the first of a process also fills caches.
    for n in (1, 2):
        customer, code = f"c0-{n}", bench_api.code_for(codes, 0, n)
        context = bench_api.customer_context(0, n, "")
        captured["signup"] = _post(api, bench_api.signup_event(code, customer, context))
        captured["order"] = _post(api, bench_api.order_event(code, customer, context))

    signup, order = floor.script_branches(floor.EVENT_SQL.read_text())
    for kind, script in (("signup", signup), ("order", order)):
        services = floor.statements(captured[kind])
        sql = floor.statements(script)
        assert services == sql, (
            f"benchmarks/sql/event.sql's {kind} no longer matches the services: they also "
            f"write or lock {sorted(services - sql)}, the floor also {sorted(sql - services)}"
        )


def _pgbench(script: Path, *, clients: int, defines: dict[str, object] | None = None) -> str:
    settings = connection.settings_dict
    conninfo = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"] or "postgres",
        "dbname": settings["NAME"],
    }
    argv = loadgen.pgbench_argv(
        script, conninfo=conninfo, clients=clients, threads=1, transactions=2, defines=defines
    )
    env = {**os.environ, "PGPASSWORD": settings["PASSWORD"] or ""}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script.name} failed against the migrated schema:\n{output}"
    assert "aborted" not in output and "ERROR" not in output, output
    return output


@pytest.mark.django_db(transaction=True)
def test_the_floors_run_against_the_migrated_schema(
    api: Any, project: Project, floor_database: None
) -> None:
    if shutil.which("pgbench") is None:
        pytest.skip("pgbench is not installed (apt-get install postgresql-client)")
    campaign, _ = _seed(api)
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as conn:
        defines = floor.floor_defines(
            conn, project=project.public_id, campaign=campaign, referrers=REFERRERS
        )
        # Two clients, two transactions each: every client signs a customer up, then
        # sends that customer's paid first order.
        _pgbench(floor.EVENT_SQL, clients=2, defines={"i": 0, "run": 1, **defines})
        orders = conn.execute(
            "SELECT count(*) FROM tracking_order WHERE order_id LIKE 'pgo-%%'"
        ).fetchone()
        rewards = conn.execute(
            "SELECT trigger, amount, dedupe_key FROM rewards_reward "
            "WHERE public_id LIKE 'rwd_q%%' ORDER BY id"
        ).fetchall()
        assert orders == (2,)
        assert sorted((trigger, str(amount)) for trigger, amount, _ in rewards) == [
            ("first_order", "500.00"),
            ("first_order", "500.00"),
            ("signup", "300.00"),
            ("signup", "300.00"),
        ]
        # The services' shape of the key (pgbench substitutes :names inside literals too).
        pattern = re.compile(r"cmp\d+:rule\d+:(referee:referral\d+:signup|referrer:order\d+)")
        assert all(pattern.fullmatch(key) for _, _, key in rewards), rewards

        conn.execute(floor.TASK_SCRATCH_DDL)
        try:
            _pgbench(floor.TASK_INSERT_SQL, clients=1)
            inserted = conn.execute("SELECT count(*) FROM bench_task_scratch").fetchone()
            assert inserted == (2,)
        finally:
            conn.execute("DROP TABLE bench_task_scratch")
