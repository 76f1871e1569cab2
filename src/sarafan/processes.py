"""How Sarafan's processes stop: the children that `sarafan up` and `sarafan worker
--processes N` run, and the worker processes of `sarafan serve`.

A supervisor that returns before its children are gone leaves orphans behind: a Ctrl+C in
a terminal, a service manager's stop or a container's SIGTERM would leave servers holding
the port and workers holding tasks. So a supervisor here:

- starts each child in a process group of its own, so that a terminal's Ctrl+C reaches
  the supervisor alone and each child is asked to stop exactly once (a task worker takes
  a second signal as "abort the task in progress"), and so that a child's own children
  (granian's worker processes) can be killed with it;
- has each child stopped by the kernel (SIGTERM) if the supervisor itself dies, even by
  SIGKILL, so no child outlives it unattended;
- on SIGTERM, SIGINT or SIGHUP forwards that signal to every child and waits for each
  child's whole process group to be gone, at most `grace` seconds; then it kills what is
  left with SIGKILL. A second signal while it waits kills at once;
- when a child ends by itself, stops the others the same way and reports the failure.

A granian worker process is forked with its parent's signal handlers and puts its own in
place only once it has loaded the application. A SIGTERM that arrived while Django loaded
(seconds on a busy machine) went to the parent's handler, which does nothing in a worker,
and the worker then served on until killed. So `sarafan serve` holds the stop signals back
across each fork, has the new worker note a stop from its first step on
(`note_stops_while_workers_load`), and a worker asked to stop while loading ends, once
loaded, as SIGTERM would have ended it (`stop_if_asked`, sarafan/serving.py).
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Seconds a server process gets to finish the requests in flight and flush its click spool
# before granian kills it; the supervisors' grace is longer, so granian stops its own
# workers first and the supervisor's SIGKILL is the last resort.
SERVER_STOP_SECONDS = int(os.environ.get("SARAFAN_SERVER_STOP_SECONDS", "10"))
STOP_GRACE_SECONDS = float(os.environ.get("SARAFAN_STOP_GRACE_SECONDS", "30"))
POLL_SECONDS = 0.1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child gets SIGTERM when its parent dies (Linux), however it dies."""
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if name is None:
        return None
    prctl = ctypes.CDLL(name, use_errno=True).prctl  # loaded before the fork, not after
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would stop us
            os._exit(1)

    return preexec


def _group_runs(pgid: int) -> bool:
    """Whether a process of the group runs; a zombie no one reaps yet does not count."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own command lines
            self.argv, process_group=0, preexec_fn=_die_with_parent()
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_alive(self) -> bool:
        """Whether the child or any process of its group (its own children) still runs."""
        if self.proc is None:
            return False
        return self.proc.poll() is None or _group_runs(self.proc.pid)

    def send(self, signum: int) -> None:
        """Send the signal to the child; SIGKILL goes to every process of its group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if signum == signal.SIGKILL:
                os.killpg(self.proc.pid, signum)
            elif self.proc.poll() is None:
                self.proc.send_signal(signum)


@dataclass
class Supervisor:
    """Runs children until asked to stop or until one of them ends, then stops them all."""

    children: list[Child]
    grace: float = STOP_GRACE_SECONDS
    signals: list[int] = field(default_factory=list)
    ended: Child | None = None  # the child that ended by itself, if one did

    def _on_signal(self, signum: int, frame: object) -> None:
        # Only a note: the main loop below acts on it within POLL_SECONDS.
        self.signals.append(signum)

    def run(self) -> int:
        """Returns 0 when stopped by a signal, the failing child's exit code otherwise."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            for child in self.children:
                if self.signals:
                    break
                child.start()
            while not self.signals and self.ended is None:
                self.ended = next((c for c in self.children if not c.running), None)
                time.sleep(POLL_SECONDS)
            self._stop(self.signals[0] if self.signals else signal.SIGTERM)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._exit_code()

    def _stop(self, signum: int) -> None:
        """Forward the signal, wait for every child's group, SIGKILL what is left after it."""
        asked = len(self.signals)
        for child in self.children:
            child.send(signum)
        deadline = time.monotonic() + self.grace
        while any(child.group_alive() for child in self.children):
            if time.monotonic() >= deadline or len(self.signals) > max(asked, 1):
                late = [child.name for child in self.children if child.group_alive()]
                print(f"sarafan: {', '.join(late)} did not stop: killed", file=sys.stderr)
                for child in self.children:
                    child.send(signal.SIGKILL)
                break
            time.sleep(POLL_SECONDS)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()

    def _exit_code(self) -> int:
        if self.ended is not None and self.ended.proc is not None:
            return abs(self.ended.proc.returncode) or 1
        # Asked to stop: a child that was still starting may die of the signal itself.
        stopped = {0, *(-sig for sig in STOP_SIGNALS)}
        codes = [child.proc.returncode for child in self.children if child.proc is not None]
        failed = [code for code in codes if code not in stopped]
        return abs(failed[0]) if failed else 0


def supervise(children: Sequence[tuple[str, list[str]]], *, grace: float | None = None) -> int:
    """Run the named command lines as children of this process until it is stopped."""
    supervisor = Supervisor([Child(name, list(argv)) for name, argv in children])
    if grace is not None:
        supervisor.grace = grace
    return supervisor.run()


_LOADING_STOPS = (signal.SIGTERM, signal.SIGINT)
_stop_asked: list[int] = []
_mask_before_fork: set[int | signal.Signals] = set()


def _note_stop(signum: int, frame: object) -> None:
    _stop_asked.append(signum)


def _block_stops() -> None:
    # Held back across the fork: a stop sent to a worker before its handler is in place
    # waits, and is delivered to that handler, not to the parent's it was forked with.
    _mask_before_fork.clear()
    _mask_before_fork.update(signal.pthread_sigmask(signal.SIG_BLOCK, _LOADING_STOPS))


def _restore_mask() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, _mask_before_fork)


def _listen_for_stop() -> None:
    """In a server worker just forked: note SIGTERM and SIGINT until the app is loaded."""
    _stop_asked.clear()
    for sig in _LOADING_STOPS:
        signal.signal(sig, _note_stop)
    _restore_mask()


def note_stops_while_workers_load() -> None:
    """In the server's main process, before it forks its workers."""
    os.register_at_fork(
        before=_block_stops, after_in_parent=_restore_mask, after_in_child=_listen_for_stop
    )


def stop_if_asked() -> None:
    """Once the app is loaded: end now if a stop came meanwhile; else hand the signals back.

    The handlers go first: a stop that comes after this is SIGTERM's default (the worker
    ends, having served nothing) until the server puts its own handler in place.
    """
    for sig in _LOADING_STOPS:
        if signal.getsignal(sig) is _note_stop:
            signal.signal(sig, signal.SIG_DFL)
    if _stop_asked:
        signal.signal(_stop_asked[0], signal.SIG_DFL)
        signal.raise_signal(_stop_asked[0])
