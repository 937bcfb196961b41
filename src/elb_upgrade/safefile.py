"""Private state files: open one of ours, or refuse and say why (lock, snapshot, releases).

A path in /tmp is shared with every user of the machine. What we open there must be a
regular file, ours, with one link, never a symlink, FIFO, device or directory.
"""

from __future__ import annotations

import errno
import glob
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


def write_atomic(path: Path, text: str, what: str, hint: str) -> None:
    """Replace the private file at `path` with `text`, atomically, mode 0600.

    Written to a temp file beside it, fsynced, then renamed over it: a reader (or a run
    killed mid-write) sees the old content or the new, never half. Called under the lock,
    so a temp file of ours left beside it is a leftover of a killed run: it is removed.
    A symlink or foreign file at `path` is refused (UnsafePathError); any I/O failure is
    a StateFileError saying `cannot write the {what} …` with `hint`.
    """
    _refuse_unsafe(path, hint)
    _remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StateFileError(
            f"cannot write the {what} {path}: {exc.strerror or exc}", hint=hint
        ) from exc
    _fsync_dir(path.parent)


def _refuse_unsafe(path: Path, hint: str) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateFileError(f"cannot use {path}: {exc.strerror or exc}", hint=hint) from exc
    check_private(path, info)


def _remove_leftovers(path: Path) -> None:
    """Delete our temp files of killed runs (never another user's, never through a link)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if leftover.lstat().st_uid == os.getuid():
                leftover.unlink()
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
