"""One click spool file: created locked, written line by line, synced in groups."""

import contextlib
import errno
import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .selectors import NewClick

SUFFIX = ".jsonl"


def encode(click: NewClick) -> bytes:
    record = {
        "project_id": click.project_id,
        "livemode": click.livemode,
        "link_id": click.link_id,
        "participant_id": click.participant_id,
        "campaign_id": click.campaign_id,
        "channel": click.channel,
        "visitor_id": click.visitor_id,
        "ip_hash": click.ip_hash,
        "user_agent": click.user_agent,
        "referer": click.referer,
        "utm": click.utm,
        "click_ids": click.click_ids,
        "created_at": click.created_at.isoformat(),
        # Read back as a person's click when absent (a file written before it existed).
        "bot_reason": click.bot_reason,
    }
    # ASCII only, and JSON escapes line breaks inside strings: one record is one line.
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def readable(line: bytes) -> bool:
    """A whole record as encode() writes it (a crash of the machine can leave other bytes)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "link_id" in record and "created_at" in record


class _Waiter:
    """A request waiting for a sync; released when one covered its line, or to run the next."""

    __slots__ = ("error", "lead", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.lead = False
        self.error: OSError | None = None


@dataclass(eq=False)
class SpoolFile:
    """One spool file and how far it is written, durable and copied into the database."""

    spool_id: str
    path: Path
    fd: int
    size: int  # bytes written, always at the end of a line (if claimed: the file's size)
    flushed: int  # bytes copied into links_click, as committed in the file's mark
    synced: int = 0
    claimed: bool = False  # a dead process's file: nothing more will be written to it
    closed: bool = False
    _state: threading.Lock = field(default_factory=threading.Lock)
    _syncing: bool = False
    _waiters: list[_Waiter] = field(default_factory=list)

    def write(self, line: bytes) -> int:
        """Write a line after the last; returns the end of the line. The caller serializes.

        On failure a partial line is cut off again, so that every line in the file is whole.
        """
        try:
            if os.pwrite(self.fd, line, self.size) != len(line):
                raise OSError(errno.ENOSPC, "short write to the click spool", str(self.path))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(line)
        return self.size

    def read(self, limit: int) -> bytes:
        """Bytes after the flushed ones, up to `limit` of them and no further than the lines."""
        return os.pread(self.fd, min(self.size - self.flushed, limit), self.flushed)

    def sync_to(self, end: int) -> None:
        """Return once the first `end` bytes are on disk.

        One fdatasync at a time: the requests that write while it runs wait, each on its own
        lock, and the first of them then syncs for all of them at once (group commit).
        """
        if self.synced >= end:
            return
        with self._state:
            if self.synced >= end or self.closed:  # closed: copied into the database already
                return
            waiter = None
            if self._syncing:
                waiter = _Waiter()
                self._waiters.append(waiter)
            else:
                self._syncing = True
        if waiter is not None:
            waiter.lock.acquire()
            if waiter.error is not None:
                raise waiter.error
            if not waiter.lead:
                return
        self._sync()

    def _sync(self) -> None:
        with self._state:
            covered, self._waiters = self._waiters, []
            written = self.size  # every waiter's line is in: each wrote before it waited
        error = None
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            error = exc
        with self._state:
            if error is None:
                self.synced = max(self.synced, written)
            successor = self._waiters.pop(0) if self._waiters else None
            if successor is not None:
                successor.lead = True
            else:
                self._syncing = False
                if self.closed:  # close() left it to the last sync
                    os.close(self.fd)
        for waiter in covered:
            waiter.error = error
            waiter.lock.release()
        if successor is not None:
            successor.lock.release()
        if error is not None:
            raise error

    def close(self) -> None:
        """Release the file and its lock (after a sync under way, if any)."""
        with self._state:
            if self.closed:
                return
            self.closed = True
            if not self._syncing:
                os.close(self.fd)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def create_file(path: Path, *, fsync: bool) -> int:
    """A new, empty file at `path`, locked by the returned descriptor.

    It is locked before it has its name, so no other process can take it for an orphan.
    """
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(temporary, path)
        if fsync:  # the file's name survives a crash of the machine too
            sync_directory(path.parent)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    return fd


def open_unlocked(path: Path) -> int | None:
    """A descriptor holding the lock of a file whose process is gone, else None."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    if try_lock(fd) and os.fstat(fd).st_nlink > 0:  # not deleted by its owner just now
        return fd
    os.close(fd)
    return None
