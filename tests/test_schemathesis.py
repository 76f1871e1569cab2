"""The API against its own OpenAPI document: schemathesis, every check, a bounded budget.

`sarafan serve` runs as a separate process on a migrated installation of its own (SQLite, or
on the PostgreSQL pass a fresh database), with a project whose test key schemathesis uses
and the objects the document's examples name (the participant `u-7`), so that valid input
reaches the business rules and answers 2xx: POST /campaigns, /events and /rewards included.
"""

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server, create_project, installation

pytestmark = pytest.mark.e2e

ST = str(Path(sys.executable).parent / "st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Operations whose 2xx answers the run must have seen.
MUST_SUCCEED = ("POST /api/v1/campaigns", "POST /api/v1/events", "POST /api/v1/rewards")
# The whole run, server start included, stays well under two minutes on a busy 2-core machine.
RUN_SECONDS = 100


def _call(url: str, key: str, method: str, path: str, body: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        # Schemathesis also calls without a key and with wrong ones, on purpose: those
        # answer 401, and the guess limit would soon answer 429 to everything from 127.0.0.1.
        "SARAFAN_RATE_LIMIT_AUTH_FAILURES": "100000/60",
        "SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES": "100000/60",
    }
    with installation(env, tmp_path) as env:
        key = create_project(env)["secret_key_test"]
        server = Server(env)
        try:
            _call(server.url, key, "PUT", "/api/v1/participants/u-7", {"name": "Анна"})
            yield server.url, key
        finally:
            server.stop()


def test_the_api_keeps_to_its_openapi_document(served: tuple[str, str], tmp_path: Path) -> None:
    url, key = served
    report = tmp_path / "report.ndjson"
    run = subprocess.run(
        [
            ST,
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {key}",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS * 3,
        check=False,
        # Its cache of earlier failures stays with this run, not in the checkout.
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    succeeded = _succeeded(report)
    for operation in MUST_SUCCEED:
        assert operation in succeeded, f"{operation} never answered 2xx"


def _succeeded(report: Path) -> set[str]:
    """The operations ("POST /api/v1/events") that answered 2xx at least once."""
    succeeded: set[str] = set()
    for line in report.read_text().splitlines():
        _collect(json.loads(line), succeeded)
    return succeeded


def _collect(item: Any, into: set[str]) -> None:
    if isinstance(item, dict):
        request, response = item.get("request"), item.get("response")
        if isinstance(request, dict) and isinstance(response, dict):
            status = int(response.get("status_code", 0))
            if 200 <= status < 300:
                path = str(request.get("uri", "")).split("?", 1)[0]
                into.add(f"{request.get('method', '')} /{path.split('/', 3)[-1]}")
        for value in item.values():
            _collect(value, into)
    elif isinstance(item, list):
        for value in item:
            _collect(value, into)
