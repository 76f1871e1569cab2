"""The web server under test: `sarafan serve` (or a candidate of the server comparison)."""

import http.client
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

from .paths import BIN, PYTHON, SARAFAN
from .processes import HarnessError, Processes, descendants, free_port

START_TIMEOUT = 60.0


def server_argv(kind: str, port: int, workers: int) -> list[str]:
    """The command of each server the comparison measures; `granian-wsgi` is `sarafan serve`."""
    threads = str(workers * 2 + 1)
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    commands = {
        "granian-wsgi": [str(SARAFAN), "serve", *bind, "--workers", str(workers)],
        "granian-asgi": [
            str(PYTHON),
            "-m",
            "granian",
            "--interface",
            "asgi",
            *bind,
            "--workers",
            str(workers),
            "--no-ws",
            "sarafan.asgi:application",
        ],
        "gunicorn-sync": [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "sarafan.wsgi:application",
        ],
        "gunicorn-gthread": [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            threads,
            "-b",
            f"127.0.0.1:{port}",
            "sarafan.wsgi:application",
        ],
        "uvicorn": [
            str(BIN / "uvicorn"),
            *bind,
            "--workers",
            str(workers),
            "--no-access-log",
            "sarafan.asgi:application",
        ],
    }
    return commands[kind]


SERVERS = ("granian-wsgi", "granian-asgi", "gunicorn-sync", "gunicorn-gthread", "uvicorn")


class Server:
    """A server on a free port (`sarafan serve` unless told otherwise), in its own group."""

    def __init__(
        self,
        procs: Processes,
        env: dict[str, str],
        workers: int,
        log_path: Path,
        label: str,
        kind: str = "granian-wsgi",
    ) -> None:
        self.procs = procs
        self.port = free_port()
        self.label = label
        self.log_path = log_path
        self.env = {**env, "SARAFAN_BASE_URL": f"http://127.0.0.1:{self.port}"}
        self.workers = workers
        self.kind = kind
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = server_argv(self.kind, self.port, self.workers)
        with self.log_path.open("ab") as logfile:
            self.proc = self.procs.start(argv, env=self.env, stdout=logfile, stderr=logfile)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"sarafan serve ({self.label}) exited with {self.proc.returncode}:\n"
                    + self.log_tail()
                )
            with suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            time.sleep(0.2)
        raise HarnessError(f"sarafan serve ({self.label}) did not answer /healthz in time")

    def stop(self, *, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc, sig=sig)
            self.proc = None

    def worker_pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc is not None else []

    def cmdline(self) -> list[str]:
        if self.proc is None:
            return []
        with suppress(OSError):
            raw = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
            return [part.decode() for part in raw.split(b"\0") if part]
        return []

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""
