"""The whole loop over HTTP against `sarafan serve` running as a separate process."""

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.conftest import BROWSER_UA

pytestmark = pytest.mark.e2e
SARAFAN = str(Path(sys.executable).parent / "sarafan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Http:
    def __init__(self, port: int, key: str):
        self.port = port
        self.key = key

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        payload = json.dumps(body) if body is not None else None
        all_headers = {
            "Authorization": f"Bearer {self.key}",
            "Content-Type": "application/json",
            "User-Agent": BROWSER_UA,
        }
        conn.request(method, path, body=payload, headers={**all_headers, **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, raw


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    env = {**os.environ, "SARAFAN_DATA_DIR": str(tmp_path)}
    port = _free_port()
    env["SARAFAN_BASE_URL"] = f"http://127.0.0.1:{port}"
    url = os.environ.get("DATABASE_URL")
    admin_url = (
        url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres"
        if url
        else None
    )
    database = None
    if admin_url:
        database = f"sarafan_e2e_{secrets.token_hex(4)}"
        with psycopg.connect(
            admin_url.replace("postgres://", "postgresql://", 1), autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + f"/{database}"
    try:
        subprocess.run([SARAFAN, "migrate"], env=env, check=True, capture_output=True)
        created = subprocess.run(
            [SARAFAN, "project", "create", "Shop", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        keys = json.loads(created.stdout)
        proc = subprocess.Popen(
            [SARAFAN, "serve", "--port", str(port)], env=env, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("sarafan serve did not start") from None
                    time.sleep(0.2)
            yield port, keys
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its worker processes
            proc.wait(timeout=15)
    finally:
        if database and admin_url:
            with psycopg.connect(
                admin_url.replace("postgres://", "postgresql://", 1), autocommit=True
            ) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_referral_loop_over_http(server):
    port, keys = server
    assert set(keys) == {
        "id",
        "secret_key_test",
        "secret_key_live",
        "publishable_key_test",
        "publishable_key_live",
    }
    http_ = Http(port, keys["secret_key_test"])

    status, _, raw = http_.call(
        "POST",
        "/api/v1/campaigns",
        {
            "name": "Приведи друга",
            "landing_url": "https://shop.example/welcome",
            "rules": [
                {
                    "recipient": "referrer",
                    "trigger": "first_order",
                    "kind": "fixed",
                    "amount": "500.00",
                    "min_order_amount": "1000.00",
                },
                {"recipient": "referee", "trigger": "signup", "kind": "fixed", "amount": "300.00"},
            ],
            "limits": {"per_referrer_per_month": 10, "budget": "100000.00"},
        },
    )
    assert status == 201, raw
    status, _, raw = http_.call(
        "PUT", "/api/v1/participants/u-7", {"email": "anna@example.ru", "name": "Анна"}
    )
    assert status == 201, raw
    participant = json.loads(raw)
    code = participant["referral_code"]
    assert participant["referral_url"] == f"http://127.0.0.1:{port}/r/{code}"

    status, headers, _ = http_.call("GET", f"/r/{code}?utm_source=tg")
    assert status == 302
    location = urlsplit(headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example",
        "/welcome",
    )
    assert parse_qs(location.query)["ref"] == [code]
    visitor = headers["set-cookie"].split("sf_vid=", 1)[1].split(";", 1)[0]
    status, headers, _ = http_.call("GET", f"/r/{code}/qr.svg")
    assert status == 200 and headers["content-type"].startswith("image/svg+xml")
    # The click is durable in the server's spool and reaches links_click moments later.
    deadline = time.monotonic() + 5
    while json.loads(http_.call("GET", "/api/v1/participants/u-7")[2])["stats"]["clicks"] < 1:
        assert time.monotonic() < deadline, "the click never reached links_click"
        time.sleep(0.05)

    status, _, raw = http_.call(
        "POST",
        "/api/v1/events",
        {
            "type": "signup",
            "customer": {"external_id": "u-42", "email": "boris@example.ru"},
            "context": {"visitor_id": visitor},
        },
    )
    assert status == 201, raw
    signup = json.loads(raw)
    assert signup["referral"]["referrer"] == "u-7"
    assert signup["rewards"][0]["status"] == "issued"

    order = {
        "type": "order",
        "customer": {"external_id": "u-42"},
        "order": {"id": "o-1001", "amount": "4990.00", "currency": "RUB", "status": "paid"},
    }
    status, _, raw = http_.call("POST", "/api/v1/events", order)
    assert status == 201, raw
    answer = json.loads(raw)
    reward = answer["rewards"][0]
    # Paid seconds after the click: the default fast_conversion stop-rule holds the reward.
    assert (reward["recipient"], reward["amount"], reward["status"]) == ("u-7", "500.00", "review")
    assert "fast_conversion" in answer["fraud"]["reasons"]
    status, _, raw = http_.call("POST", "/api/v1/events", order)
    assert status == 200 and json.loads(raw)["rewards"][0]["id"] == reward["id"]
    # A moderator approves the case through the API; the reward is issued.
    referral_id = answer["referral"]["id"]
    status, _, raw = http_.call(
        "POST", f"/api/v1/referrals/{referral_id}/approve", {"reason": "known customer"}
    )
    assert status == 200, raw
    assert json.loads(raw)["status"] == "qualified"

    status, _, raw = http_.call("GET", f"/api/v1/rewards/{reward['id']}")
    certificate = json.loads(raw)["certificate"]
    assert certificate["balance"] == "500.00"
    status, _, raw = http_.call(
        "POST",
        f"/api/v1/certificates/{certificate['code']}/redeem",
        {"amount": "200.00", "order_id": "o-2002"},
    )
    assert status == 201, raw
    assert json.loads(raw)["certificate"]["balance"] == "300.00"

    status, _, raw = http_.call("GET", "/api/v1/analytics/summary?group_by=channel")
    assert status == 200, raw
    totals = json.loads(raw)["totals"]
    assert (totals["clicks"], totals["signups"], totals["first_orders"]) == (1, 1, 1)
    assert totals["revenue"] == "4990.00"
    assert totals["rewards_cost"] == "800.00"

    status, _, raw = http_.call("GET", "/api/v1/campaigns", headers={"Authorization": "Bearer x"})
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication"
