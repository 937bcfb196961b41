"""Private state files: open one of ours, or refuse and say why (lock, snapshot, releases).

A path in /tmp is shared with every user of the machine. What we open there must be a
regular file, ours, with one link, never a symlink, FIFO, device or directory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from elb_upgrade.errors import StateFileError, UnsafePathError


def open_private(path: Path, flags: int) -> int:
    """Open `path` as our own private regular file, or raise StateFileError saying why not.

    Refused, never followed or written: a symlink, a file another user owns, a file with
    more than one hard link (a link planted in /tmp to a file of ours elsewhere, e.g. to
    have us truncate it), a directory, a FIFO or a device. O_NONBLOCK keeps a planted FIFO
    from hanging the open; it changes nothing for a regular file. Without O_CREAT a
    missing file raises FileNotFoundError for the caller to explain.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except FileNotFoundError as exc:
        if not flags & os.O_CREAT:
            raise
        raise _unusable(path, exc) from exc
    except OSError as exc:
        raise _unusable(path, exc) from exc
    try:
        check_private(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_private(path: Path, info: os.stat_result) -> None:
    """Raise UnsafePathError unless `info` is a regular file of ours with one link."""
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(
            f"{path} is a symlink; refusing to follow it",
            hint=f"someone planted it: inspect and remove {path}",
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(
            f"{path} is not a regular file; refusing to use it",
            hint=f"inspect and remove {path}, or point $ELB_UPGRADE_SNAPSHOT elsewhere",
        )
    if info.st_uid != os.getuid():
        raise UnsafePathError(
            f"{path} is owned by uid {info.st_uid}, not you; refusing to use it",
            hint=f"remove it or point $ELB_UPGRADE_SNAPSHOT elsewhere ({path})",
        )
    if info.st_nlink > 1:
        raise UnsafePathError(
            f"{path} has {info.st_nlink} hard links; refusing to write through it",
            hint=f"someone may have linked it to another file: inspect and remove {path}",
        )


def _unusable(path: Path, exc: OSError) -> StateFileError:
    if exc.errno == errno.ELOOP:
        return UnsafePathError(
            f"{path} is a symlink; refusing to follow it",
            hint=f"someone planted it: inspect and remove {path}",
        )
    if exc.errno == errno.EISDIR:
        return UnsafePathError(
            f"{path} is a directory; refusing to use it",
            hint=f"remove it or point $ELB_UPGRADE_SNAPSHOT elsewhere ({path})",
        )
    return StateFileError(
        f"cannot open {path}: {exc.strerror or exc}",
        hint=f"make {path.parent} an existing directory you can write to, or point "
        "$ELB_UPGRADE_SNAPSHOT elsewhere",
    )
