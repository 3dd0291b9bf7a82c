"""Writing files so that a crash never leaves half of one, and saying in words why a write failed."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_MARKER = ".tmp-"  # temporary files are named .<name>.tmp-<pid> beside their target


def describe_os_error(e: OSError) -> str:
    """A short human cause for a failed write."""
    return {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "the folder vanished",
    }.get(e.errno, e.strerror or str(e))


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(file)` into a temporary file beside `path`, fsync, rename over `path`, fsync the folder.

    Raises OSError on failure, after removing the temporary file; `path` is then untouched.
    """
    tmp = path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename itself is still atomic


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))


def remove_orphans(folder: Path) -> list[Path]:
    """Delete temporary files left by a write that was killed; returns what was removed."""
    removed = []
    for p in folder.glob(f".*{TMP_MARKER}*"):
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed
