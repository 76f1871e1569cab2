"""Local HTTP servers that record what reaches them, for the outbound client's tests.

    with receiver() as server:                       # answers 200 {"ok": true}
        server.status, server.body = 503, b"secret"
        server.redirect_to = "http://127.0.0.1:1/x"  # answers 302 to it
        server.hang.clear()                          # requests wait until hang.set()

Each binds port 0 itself (127.0.0.1, or ::1 with family=AF_INET6).
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, family: int = socket.AF_INET) -> None:
        self.address_family = family
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        super().__init__((host, 0), _Handler)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.status = 200
        self.body = b'{"ok": true}'
        self.redirect_to = ""
        self.hang = threading.Event()
        self.hang.set()  # set: answer at once; cleared: wait until set
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.requests.append((handler.command, handler.path, headers))

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.record(self)
        self.server.hang.wait()
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def receiver(family: int = socket.AF_INET) -> Iterator[Receiver]:
    server = Receiver(family)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.hang.set()
        server.shutdown()
        server.server_close()
        thread.join()
