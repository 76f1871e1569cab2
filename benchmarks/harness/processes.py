"""Subprocesses, each in its own process group, all killed on the way out; /proc helpers."""

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO

from .paths import ROOT


class HarnessError(RuntimeError):
    """Something the benchmark needs did not work; the run stops with this message."""


class Processes:
    """Starts subprocesses in new sessions and kills exactly those groups on the way out.

    With `logs`, `start_logged(name, …)` sends a process's output to `<logs>/<name>.log`,
    and `check_alive`, `tail` and `names` speak of those processes by name.
    """

    def __init__(self, logs: Path | None = None) -> None:
        self.logs = logs
        self._live: list[subprocess.Popen[bytes]] = []
        self._named: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: dict[str, str] | None = None,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(arg) for arg in argv],
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
        with self._lock:
            self._live.append(proc)
        return proc

    def start_logged(
        self, name: str, argv: Sequence[str | os.PathLike[str]], env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process whose output goes to `<logs>/<name>.log`."""
        if self.logs is None:
            raise HarnessError("Processes(logs=…) is needed for named processes")
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = self.start(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._named[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self._named.items():
            if proc.poll() is not None:
                raise HarnessError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = (self.logs or Path()) / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def names(self) -> list[str]:
        return list(self._named)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run to completion within `timeout` seconds; returns (exit code, stdout, stderr)."""
        proc = self.start(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc, grace=2.0)
            out, err = proc.communicate()
            raise HarnessError(
                f"{Path(str(argv[0])).name} did not finish within {timeout:.0f} s"
            ) from None
        finally:
            self.stop(proc, grace=2.0)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def stop(
        self, proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace: float = 10.0
    ) -> None:
        """Signal the process's whole group, then SIGKILL the group after `grace` seconds.

        The leader is not reaped before the SIGKILL: while it (or any member) exists, its pid
        is the group's id and cannot belong to anyone else, so only our processes are hit.
        """
        if proc.returncode is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + grace
            while not _exited(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            # Children (granian's workers) may outlive the leader: the group goes in any case.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        elif _group_members(proc.pid):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        with self._lock:
            if proc in self._live:
                self._live.remove(proc)

    def stop_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for proc in reversed(live):
            self.stop(proc, grace=5.0)


def _exited(pid: int) -> bool:
    """Whether a child has exited, without reaping it (it stays a zombie until waited for)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _pids() -> list[str]:
    return [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members: list[int] = []
    for pid in _pids():
        with suppress(OSError, IndexError, ValueError):
            if int(_stat_fields(pid)[2]) == pgid:
                members.append(int(pid))
    return members


def descendants(pid: int) -> list[int]:
    """All processes below `pid`, found through /proc."""
    parents: dict[int, list[int]] = {}
    for each in _pids():
        with suppress(OSError, IndexError, ValueError):
            parents.setdefault(int(_stat_fields(each)[1]), []).append(int(each))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def cpu_ticks(pid: int | str) -> int:
    """User plus system CPU clock ticks a process has used (raises OSError when it is gone)."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12])


def process_ticks() -> dict[int, tuple[int, str]]:
    """CPU ticks and command line of every process."""
    ticks: dict[int, tuple[int, str]] = {}
    for pid in _pids():
        with suppress(OSError, IndexError, ValueError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            ticks[int(pid)] = (cpu_ticks(pid), cmd.decode(errors="replace").strip())
    return ticks


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set size) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
