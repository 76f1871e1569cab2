"""Sarafan's data directory is its user's alone: the directory 0700, what it writes 0600.

The embedded database, the secret key and the demo's logins live there; with the usual
umask they came out world-readable. Imported by settings, so it imports nothing of Django.
"""

import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def tighten(path: Path, mode: int) -> None:
    """Narrow an existing install's permissions to `mode`, only where that is safe: a path
    this user owns, not a symlink, and not a shared sticky directory such as /tmp."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & stat.S_ISVTX:
        return
    current = stat.S_IMODE(info.st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


def private_directory(path: Path) -> Path:
    """Create the directory 0700 (its new parents too), or tighten the existing one."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    tighten(path, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create an empty file 0600 unless it exists (then tighten it); nobody else sees it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))
    except FileExistsError:
        tighten(path, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write the file readable by this user only, from the moment it exists."""
    private_file(path)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
