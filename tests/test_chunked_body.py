"""A request body sent in chunks (Transfer-Encoding: chunked, no Content-Length) is read
whole by `sarafan serve`, and the body size limit holds for it as for any other."""

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server, create_project, installation

pytestmark = pytest.mark.e2e
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """`sarafan serve` on an installation of its own, with a small body limit."""
    env = {**os.environ, "SARAFAN_MAX_BODY_BYTES": str(LIMIT)}
    with installation(env, Path(tmp_path_factory.mktemp("chunked"))) as installed:
        keys = create_project(installed)
        server = Server(installed)
        try:
            yield server, keys["secret_key_test"]
        finally:
            server.stop()


def _chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _post_chunked(server: Server, key: str, path: str, body: bytes) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for chunk in _chunks(body):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before the body was all sent: read what it said
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_a_chunked_event_is_read_whole(served):
    server, key = served
    body = {
        "type": "signup",
        "customer": {"external_id": "u-42", "email": "boris@example.ru", "name": "Борис"},
        "metadata": {"note": "x" * 2000},
    }
    status, answer = _post_chunked(server, key, "/api/v1/events", json.dumps(body).encode())
    assert status == 201, answer
    assert answer["customer"] == "u-42"


def test_a_chunked_body_over_the_limit_is_refused(served):
    server, key = served
    body = json.dumps({"type": "signup", "metadata": {"x": "y" * (2 * LIMIT)}}).encode()
    status, answer = _post_chunked(server, key, "/api/v1/events", body)
    assert status == 413, answer
    assert answer["error"]["code"] == "request_too_large"
