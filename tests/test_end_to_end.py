"""The whole loop over HTTP against `sarafan serve` running as a separate process."""

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import BROWSER_UA
from tests.processes import Server, create_project, installation, wait_until

pytestmark = pytest.mark.e2e
# How long a spooled click may take to reach links_click on a loaded machine.
CLICK_SECONDS = 60.0


class Http:
    def __init__(self, port: int, key: str):
        self.port = port
        self.key = key

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
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
    with installation(dict(os.environ), tmp_path) as env:
        keys = create_project(env)
        # On a port of its own (SARAFAN_BASE_URL to match), answering /healthz.
        server = Server(env)
        try:
            yield server.port, keys
        finally:
            server.stop()  # the server and its worker processes, all gone


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
    wait_until(
        lambda: (
            json.loads(http_.call("GET", "/api/v1/participants/u-7")[2])["stats"]["clicks"] >= 1
        ),
        timeout=CLICK_SECONDS,
        message="the click never reached links_click",
        every=0.2,
    )

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
