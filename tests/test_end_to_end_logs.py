"""What `sarafan serve` and `sarafan worker` write holds no spendable secret.

Both run as separate processes with their output in files; the test pays a reward (the
worker e-mails the certificate through the development mailer), then calls what fails
with the certificate's code, a wrong key and the holder's portal token, and reads it all.
"""

import http.client
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sarafan.core.logging import mask_text
from tests.conftest import BROWSER_UA
from tests.factories import create_campaign, create_referrer, order
from tests.processes import (
    SARAFAN,
    Server,
    create_project,
    installation,
    kill_session,
    wait_session_gone,
    wait_until,
)

pytestmark = pytest.mark.e2e
# How long the worker may take, on a loaded machine, to start and e-mail the certificate.
DELIVERY_SECONDS = 120.0
RULES = [
    {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "500.00",
        "hold_days": 0,
    }
]
WRONG_KEY = "sk_test_" + secrets.token_urlsafe(24)


class Answer:
    def __init__(self, status: int, raw: bytes) -> None:
        self.status_code = status
        self.content = raw

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    """The JSON calls tests/factories.py makes, over HTTP to the running server."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key

    def request(self, method: str, path: str, body: Any = None, key: str | None = None) -> Answer:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {
            "Authorization": f"Bearer {key or self.key}",
            "Content-Type": "application/json",
            "User-Agent": BROWSER_UA,
        }
        conn.request(method, url, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        answer = Answer(response.status, response.read())
        conn.close()
        return answer

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.request("PUT", path, body, **kw)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated installation of its own (a fresh PostgreSQL database when DATABASE_URL is
    set), with the development mailer (no SMTP host) and tasks in the database."""
    env = dict(os.environ)
    for name in ("SARAFAN_EMAIL_HOST", "SARAFAN_TASK_BACKEND", "SARAFAN_LOG_LEVEL"):
        env.pop(name, None)
    with installation(env, tmp_path) as installed:
        yield installed


def test_server_and_worker_output_holds_no_code_pin_key_or_token(env, tmp_path):
    keys = create_project(env)
    server_out = (tmp_path / "server.out").open("w+")
    worker_log = (tmp_path / "worker.log").open("w+")
    # granian's access log too: it writes every request's path.
    server = Server({**env, "GRANIAN_LOG_ACCESS_ENABLED": "true"}, stdout=server_out)
    worker = None
    try:
        worker = subprocess.Popen(
            [SARAFAN, "worker", "--processes", "1"],
            env=server.env,  # the server's base URL: the e-mail links to its portal
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        api = Http(server.port, keys["secret_key_test"])
        create_campaign(api, rules=RULES)
        referrer = create_referrer(api, "u-7")
        reward_id = order(api, "c-1", "o-1", code=referrer["referral_code"]).json()["rewards"][0][
            "id"
        ]
        wait_until(
            lambda: api.get(f"rewards/{reward_id}").json()["status"] == "delivered",
            timeout=DELIVERY_SECONDS,
            message="the worker did not e-mail the certificate",
            every=0.3,
        )
        certificate = api.get(f"rewards/{reward_id}").json()["certificate"]
        code, pin = certificate["code"], certificate["pin"]
        token = referrer["portal_url"].rsplit("/p/", 1)[1]

        redeem = f"certificates/{code}/redeem"
        # 404: the live key does not see test certificates; 400 and 409 on redeem.
        assert api.get(f"certificates/{code}", key=keys["secret_key_live"]).status_code == 404
        assert api.post(redeem, {"amount": "x"}).status_code in (400, 422)
        assert api.post(redeem, {"amount": "9000.00", "order_id": "o-2"}).status_code == 409
        assert api.get(f"certificates/{code}?key={WRONG_KEY}", key=WRONG_KEY).status_code == 401
        assert api.get(f"/p/{token}x").status_code == 404
        assert api.post(f"/p/{token}/rewards/rwd_unknown/brand").status_code in (403, 404)
        assert api.get(f"/p/{token}?pin={pin}").status_code == 200
    finally:
        server.stop()
        if worker is not None:
            try:
                worker.terminate()
                wait_session_gone(worker)
            finally:
                kill_session(worker.pid)

    server_out.seek(0)
    worker_log.seek(0)
    server_text, access_text, worker_text = server.output(), server_out.read(), worker_log.read()
    everything = server_text + access_text + worker_text
    masked = mask_text(f"/api/v1/certificates/{code}")
    # What was written is there, masked: the failures, the requests, the e-mail.
    assert f"Not Found: {masked}" in server_text
    assert f"Conflict: {masked}/redeem" in server_text
    assert f"{masked}/redeem" in access_text
    assert f"/p/{token[:4]}…" in access_text
    assert "To: Анна <u-7@example.ru>" in worker_text
    assert "500 ₽" in worker_text
    assert mask_text(code) in worker_text
    leaks = [code, code[3:], pin, token, WRONG_KEY, WRONG_KEY[8:]]
    leaks += [value for name, value in keys.items() if name != "id"]
    for secret in leaks:
        assert secret not in everything, f"{secret!r} was written:\n{everything}"
