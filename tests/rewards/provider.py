"""A fake certificate provider: a real HTTP server on 127.0.0.1 implementing the issuer
contract of the README ("External issuers"), with switchable failure modes.

    with running_provider() as provider:
        issuer = create_issuer(..., url=provider.url, token=provider.token)
        provider.mode = "fail"          # ok | fail | timeout | refuse | garbage | busy | echo
        provider.fail_next(2)           # the next two requests fail with 500, then `mode`
        provider.override = {"amount": "1.00"}   # merged into issue answers

Certificates are stored by Idempotency-Key: the same key gets the same certificate back.
A request without the key issues a new certificate every time, as a careless provider
would, so `issue_count[reference]` > 1 shows a client that forgot it.
"""

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest

MODES = ("ok", "fail", "timeout", "refuse", "garbage", "busy", "echo")
# The API lives under a path, as most do: the client must keep it when joining.
BASE_PATH = "/v1"


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON, the raw text when it is not JSON, None when empty


class FakeProvider:
    def __init__(self) -> None:
        self.token = "prov_" + secrets.token_hex(8)
        self.mode = "ok"
        # How long "timeout" keeps the client waiting: far longer than its timeout, so that
        # even a client slowed down by a loaded machine sees no answer in time. The wait ends
        # when the provider stops.
        self.delay = 60.0
        self.override: dict[str, Any] = {}
        self.issued: dict[str, dict[str, Any]] = {}  # Idempotency-Key → certificate
        self.issue_count: Counter[str] = Counter()  # reference → certificates created
        self.requests: list[Request] = []
        self.url = ""
        self._failures_left = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def fail_next(self, count: int) -> None:
        """The next `count` requests answer 500, whatever the mode; then `mode` again."""
        with self._lock:
            self._failures_left = count

    def find(self, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((c for c in self.issued.values() if c["id"] == external_id), None)

    # -- the server side (runs in the server's threads) ---------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple:
        """(status, body bytes or a JSON-able object) for one request."""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Request(method, path, headers, body))
            mode = self.mode
            if self._failures_left > 0:
                self._failures_left -= 1
                mode = "fail"
        if mode == "fail":
            return 500, {"error": {"message": "Internal error, try later"}}
        if mode == "busy":
            return 429, {"error": {"message": "Slow down"}}
        if mode == "garbage":
            return 200, b"<html>Service temporarily unavailable</html>"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": {"code": "unauthorized", "message": "Unknown API token"}}
        if mode == "refuse":
            return 422, {"error": {"code": "brand_unknown", "message": "Brand is not in stock"}}
        if mode == "echo":
            # A careless provider quotes the request it refuses, credentials and all.
            quoted = f"authorization={headers.get('authorization')} body={json.dumps(body)}"
            return 422, {"error": {"code": "rejected", "message": f"Rejected: {quoted}"}}
        answer = self._route(method, path, headers, body)
        if mode == "timeout":
            # The work is done but the answer comes too late: the client sees a timeout.
            self._stop.wait(self.delay)
        return answer

    def _route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple:
        if not path.startswith(BASE_PATH + "/"):
            return 404, {"error": {"message": f"No route {method} {path}"}}
        parts = path.removeprefix(BASE_PATH).strip("/").split("/")
        if method == "POST" and parts == ["certificates"]:
            return self._issue(headers.get("idempotency-key"), body)
        if len(parts) >= 2 and parts[0] == "certificates":
            certificate = self.find(parts[1])
            if certificate is None:
                return 404, {"error": {"message": "No such certificate"}}
            if method == "GET" and len(parts) == 2:
                return 200, certificate
            if method == "POST" and parts[2:] == ["cancel"]:
                with self._lock:
                    if certificate["status"] == "redeemed":
                        return 409, {"error": {"message": "Already redeemed"}}
                    certificate["status"] = "cancelled"
                    return 200, dict(certificate)
        return 404, {"error": {"message": f"No route {method} {path}"}}

    def _issue(self, key: str | None, body: Any) -> tuple:
        if not isinstance(body, dict) or not isinstance(body.get("reference"), str):
            return 400, {"error": {"message": "reference is required"}}
        try:
            amount = Decimal(body["amount"])
        except (KeyError, TypeError, InvalidOperation):
            return 400, {"error": {"message": "amount must be a decimal string"}}
        with self._lock:
            key = key or "no-key-" + secrets.token_hex(8)
            if key in self.issued:
                return 200, {**self.issued[key], **self.override}
            self.issue_count[body["reference"]] += 1
            certificate = {
                "id": f"cert_{len(self.issued) + 1}",
                "reference": body["reference"],
                "code": "GIFT-" + secrets.token_hex(6).upper(),
                "pin": f"{secrets.randbelow(10_000):04d}",
                "amount": str(amount),
                "currency": body.get("currency", "RUB"),
                "brand": body.get("brand", ""),
                "recipient": body.get("recipient"),
                "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
                "status": "active",
            }
            self.issued[key] = certificate
            return 201, {**certificate, **self.override}


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body = self.server.provider.handle(self.command, self.path, headers, raw)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, provider: FakeProvider) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.provider = provider

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout mode) makes the late answer fail to write.
        pass


@contextmanager
def running_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    server = _Server(provider)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield provider
    finally:
        provider._stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def provider(settings: Any) -> Iterator[FakeProvider]:
    """A fake provider running for one test (see the module's docstring). Sarafan refuses
    to call loopback addresses unless the installation allows the host: the test does."""
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = [*settings.SARAFAN_OUTBOUND_ALLOW_HOSTS, "127.0.0.1"]
    with running_provider() as running:
        yield running
