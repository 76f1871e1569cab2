"""The click spool: a click is made durable in a local file before the 302 is sent, and a
thread of the same process copies it into links_click a moment later.

Why: an INSERT per redirect was most of the redirect's time (see selectors.py). Writing a
line to a file costs microseconds; making it durable costs one fdatasync, which concurrent
requests share (spool_file.py).

Files. Each process writes to its own file DATA_DIR/spool/clicks/<spool_id>.jsonl, one JSON
object per line, and holds an exclusive flock on it for as long as it lives. The database
learns the spool id (a ClickSpoolMark row) before the first line is written. A file past
FILE_BYTES is sealed (writing goes on in a new one) and deleted with its mark once copied to
its end.

Durability. With SARAFAN_CLICK_SPOOL_FSYNC on, append() returns once the line is on disk: it
survives a crash of the process or of the machine. Off, the line is in the kernel when the
302 leaves: it survives a crash of the process, not of the machine.

Flushing. As soon as a click is written, and then at most once every
SARAFAN_CLICK_FLUSH_SECONDS while clicks keep coming, the thread reads the lines not yet
copied, inserts them in batches and moves the file's mark to the end of what it read, in one
transaction: after a crash at any point, the next flush starts exactly where the last
committed one ended, so no click goes in twice. The mark only moves from the offset this
process last saw (a conditional UPDATE), and a file whose id the database does not know is
never copied into it (it belongs to another database sharing the data directory).

Recovery. A flock is released when its process dies, however it dies. The thread of every
process claims the files whose lock it can take (at its start and every
ORPHAN_SCAN_SECONDS), copies them from their mark and deletes them: after `kill -9` of a
worker, the next click served by any process of the same data directory starts the
recovery. At a normal exit (SIGTERM included) what is left is flushed and the files deleted.

A click is in links_click, where attribution looks for it, a few milliseconds after its
redirect when clicks are few, and within about SARAFAN_CLICK_FLUSH_SECONDS under load.
"""

import atexit
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from .models import ClickSpoolMark
from .selectors import NewClick, insert_spooled_clicks, refresh_link_cache
from .spool_file import (
    SUFFIX,
    SpoolFile,
    create_file,
    encode,
    open_unlocked,
    readable,
    try_lock,
)

logger = logging.getLogger("sarafan.links.spool")

FILE_BYTES = 8 * 1024 * 1024
# Lines copied per transaction at most; a line is far smaller (headers are cut at 500 and
# 1000 characters), so a read of this size always holds at least one whole line.
READ_BYTES = 1024 * 1024
ORPHAN_SCAN_SECONDS = 10.0
ABANDONED_SECONDS = 60.0
MIN_FLUSH_SECONDS = 0.01
EXIT_JOIN_SECONDS = 10.0


class UnknownSpool(Exception):
    """The database has no mark for this file: it was not written for this database."""


def spool_directory() -> Path:
    return Path(settings.DATA_DIR) / "spool" / "clicks"


class ClickSpool:
    """The spool files of this process: the one written to, and those still to be copied."""

    def __init__(self, directory: Path, *, fsync: bool, file_bytes: int = FILE_BYTES) -> None:
        self.directory = directory
        self.fsync = fsync
        self.file_bytes = file_bytes
        self.pid = os.getpid()
        self._current: SpoolFile | None = None
        self._sealed: list[SpoolFile] = []  # full files of ours, and claimed ones
        self._write_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by a click written since the last flush
        self._thread: threading.Thread | None = None

    def _files(self) -> list[SpoolFile]:
        return [*self._sealed, *([self._current] if self._current is not None else [])]

    # -- writing, on the request ---------------------------------------------------------------

    def append(self, click: NewClick) -> None:
        """Write the click's line; with fsync on, return only once it is on disk."""
        line = encode(click)
        with self._write_lock:
            file = self._current
            if file is None:
                file = self._current = self._create()
            try:
                end = file.write(line)
            except OSError:
                # Write no more to this file (its lines stay whole and are copied); the
                # caller records this click another way.
                self._current = None
                self._sealed.append(file)
                raise
        if not self._wake.is_set():
            self._wake.set()
        if self.fsync:
            file.sync_to(end)

    def _create(self) -> SpoolFile:
        """A new, locked, empty file that the database knows (one INSERT)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        spool_id = f"{os.getpid()}-{secrets.token_hex(8)}"
        path = self.directory / f"{spool_id}{SUFFIX}"
        fd = create_file(path, fsync=self.fsync)
        try:
            ClickSpoolMark.objects.create(spool_id=spool_id, offset=0)
        except BaseException:
            path.unlink(missing_ok=True)
            os.close(fd)
            raise
        return SpoolFile(spool_id=spool_id, path=path, fd=fd, size=0, flushed=0)

    # -- copying into the database ---------------------------------------------------------------

    def flush(self) -> int:
        """Copy every complete line not yet copied into links_click; returns how many lines."""
        with self._flush_lock:
            self._rotate()
            copied = 0
            for file in self._files():
                try:
                    copied += self._flush_file(file)
                except UnknownSpool:
                    self._let_go(file)
                    continue
                if file is not self._current and file.flushed >= file.size:
                    self._retire(file)
            return copied

    def _rotate(self) -> None:
        """Seal a full file: writing goes on in a new one, made here off the requests' path."""
        current = self._current
        if current is None or current.size < self.file_bytes:
            return
        fresh = self._create()
        with self._write_lock:
            current, self._current = self._current, fresh
        if current is not None:
            self._sealed.append(current)

    def _flush_file(self, file: SpoolFile) -> int:
        copied = 0
        while file.flushed < file.size:
            chunk = file.read(READ_BYTES)
            whole = chunk.rfind(b"\n") + 1
            if whole == 0:
                # Only a claimed file can end in a part of a line: a write its process did not
                # finish, so no 302 was sent for it.
                logger.warning("%s: %d bytes of an unfinished line dropped", file.path, len(chunk))
                file.size = file.flushed
                break
            clicks: list[bytes] = []
            for line in chunk[:whole].splitlines():
                if readable(line):
                    clicks.append(line)
                else:
                    logger.error("%s: an unreadable line skipped: %r", file.path, line[:200])
            self._commit(file, clicks, file.flushed + whole)
            copied += len(clicks)
        return copied

    def _commit(self, file: SpoolFile, clicks: list[bytes], end: int) -> None:
        """Insert the clicks and move the file's mark to `end`, both or neither."""
        with transaction.atomic():
            moved = ClickSpoolMark.objects.filter(
                spool_id=file.spool_id, offset=file.flushed
            ).update(offset=end)
            inserted = insert_spooled_clicks(clicks) if moved else 0
        if not moved:
            # Another flush got further than this process knew (or the mark is not here):
            # carry on from the committed mark instead of inserting anything twice.
            offset = (
                ClickSpoolMark.objects.filter(spool_id=file.spool_id)
                .values_list("offset", flat=True)
                .first()
            )
            if offset is None:
                raise UnknownSpool(file.spool_id)
            file.flushed = offset
            return
        file.flushed = end
        if inserted < len(clicks):
            logger.warning(
                "%d spooled clicks dropped: their link or participant no longer exists",
                len(clicks) - inserted,
            )

    def _let_go(self, file: SpoolFile) -> None:
        """Stop using a file the database has no mark for; it stays for whoever has one."""
        logger.error("%s: the database has no mark for it; left in place", file.path)
        with self._write_lock:
            if self._current is file:
                self._current = None
        if file in self._sealed:
            self._sealed.remove(file)
        file.close()

    def _retire(self, file: SpoolFile) -> None:
        """Delete a file copied to its end, then its mark (a mark left alone is harmless)."""
        file.path.unlink(missing_ok=True)
        ClickSpoolMark.objects.filter(spool_id=file.spool_id).delete()
        file.close()
        self._sealed.remove(file)

    # -- recovery ---------------------------------------------------------------------------

    def claim_orphans(self) -> int:
        """Take over the files of dead processes that this database knows; returns how many."""
        if not self.directory.is_dir():
            return 0
        with self._flush_lock:
            held = {file.path for file in self._files()}
            for temporary in self.directory.glob("*.tmp"):
                self._remove_abandoned(temporary)
            found: dict[str, tuple[Path, int]] = {}
            for path in self.directory.glob(f"*{SUFFIX}"):
                if path not in held and (fd := open_unlocked(path)) is not None:
                    found[path.stem] = (path, fd)
            if not found:
                return 0
            marks = dict(
                ClickSpoolMark.objects.filter(spool_id__in=list(found)).values_list(
                    "spool_id", "offset"
                )
            )
            for spool_id, (path, fd) in found.items():
                if spool_id not in marks:
                    if os.fstat(fd).st_size == 0:  # its process died before the database knew it
                        path.unlink(missing_ok=True)
                    os.close(fd)  # otherwise another database's file: not ours to touch
                    continue
                size = os.fstat(fd).st_size
                self._sealed.append(
                    SpoolFile(
                        spool_id=spool_id,
                        path=path,
                        fd=fd,
                        size=size,
                        flushed=marks[spool_id],
                        synced=size,
                        claimed=True,
                    )
                )
            claimed = len(marks)
            if claimed:
                logger.warning("claimed %d click spool files of stopped processes", claimed)
            return claimed

    @staticmethod
    def _remove_abandoned(temporary: Path) -> None:
        """Delete a file whose process died while creating it (it holds no click).

        A file is unlocked for a moment while it is created, so only an old one goes.
        """
        try:
            fd = os.open(temporary, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            old = time.time() - os.fstat(fd).st_mtime > ABANDONED_SECONDS
            if old and try_lock(fd):
                temporary.unlink(missing_ok=True)
        finally:
            os.close(fd)

    # -- the flusher thread -----------------------------------------------------------------

    def start(self) -> None:
        """Run the flusher thread in this process, and the last flush at its exit."""
        self._thread = threading.Thread(target=self._run, name="click-spool", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _run(self) -> None:
        """Flush as soon as a click comes, then at most once every flush interval."""
        last_scan = last_refresh = -ORPHAN_SCAN_SECONDS
        while not self._stop.is_set():
            if time.monotonic() - last_scan >= ORPHAN_SCAN_SECONDS:
                last_scan = time.monotonic()
                if self._guarded(self.claim_orphans):
                    self._wake.set()
            self._wake.wait(ORPHAN_SCAN_SECONDS)
            self._wake.clear()
            self._guarded(self.flush)
            # While clicks come, the links they use are read again before they expire.
            if time.monotonic() - last_refresh >= settings.SARAFAN_LINK_CACHE_SECONDS / 4:
                last_refresh = time.monotonic()
                self._guarded(refresh_link_cache)
            self._stop.wait(max(settings.SARAFAN_CLICK_FLUSH_SECONDS, MIN_FLUSH_SECONDS))

    @staticmethod
    def _guarded(step: Callable[[], int]) -> int:
        try:
            return step()
        except Exception:
            # The lines stay in their file; the next round tries again.
            logger.exception("click spool: %s failed", getattr(step, "__name__", step))
            return 0
        finally:
            connection.close()  # back to the pool, or closed: never held while idle

    def stop(self) -> None:
        """Flush what is left and delete this process's files (at exit, SIGTERM included)."""
        if os.getpid() != self.pid:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(EXIT_JOIN_SECONDS)
        try:
            with self._write_lock:
                current, self._current = self._current, None
            if current is not None:
                with self._flush_lock:
                    self._sealed.append(current)
            self.flush()
        except Exception:
            logger.exception("click spool: the last flush failed; the next process will")
        finally:
            connection.close()
            self.close()

    def close(self) -> None:
        """Let go of every file without flushing (they become orphans for another process)."""
        files = self._files()
        self._current = None
        self._sealed = []
        for file in files:
            file.close()


_process_spool: ClickSpool | None = None
_process_lock = threading.Lock()


def process_spool() -> ClickSpool:
    """This process's spool, created with its flusher thread on the first click.

    Created lazily, it lives in each server worker process, not in a parent that forked it.
    """
    global _process_spool
    spool = _process_spool
    if spool is not None and spool.pid == os.getpid():
        return spool
    with _process_lock:
        if _process_spool is None or _process_spool.pid != os.getpid():
            _process_spool = ClickSpool(spool_directory(), fsync=settings.SARAFAN_CLICK_SPOOL_FSYNC)
            _process_spool.start()
        return _process_spool


def spool_click(click: NewClick) -> None:
    process_spool().append(click)


def flush_clicks() -> int:
    """Copy this process's spooled clicks into links_click now, on the caller's connection."""
    spool = _process_spool
    if spool is None or spool.pid != os.getpid():
        return 0
    return spool.flush()


def _forget_after_fork() -> None:
    # The child must neither write to its parent's files nor keep their locks alive.
    global _process_spool
    if _process_spool is not None:
        inherited, _process_spool = _process_spool, None
        for file in inherited._files():
            os.close(file.fd)


os.register_at_fork(after_in_child=_forget_after_fork)
