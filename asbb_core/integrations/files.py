"""Files other programs drop into asbb's folders, read as hostile input.

Two folders take files from outside: aws-slurm-burst's cost exports (``asbx.spool_dir``,
ingested by ``cost_reports``) and the epilog's reconcile spool (``daemon.spool_dir``, replayed
by ``spool``). Whoever can write there could otherwise stall every round, or smuggle in a file
from elsewhere, so ``read_json`` is the one way both read them:

* **No links.** A symbolic link is never followed (``O_NOFOLLOW``); a file with more than one
  hard link (another name elsewhere) is refused. Only regular files: the type is checked
  before opening (so a device is never opened) and again on the open descriptor (so a file
  swapped in meanwhile is caught); ``O_NONBLOCK`` keeps a FIFO from blocking the reader.
* **A known writer.** The file's owner must be root, this process's user, the folder's owner
  or, when the folder is group-writable, a user of the folder's group: whom the folder's own
  permissions let write there (deploy/systemd/asbb.tmpfiles.conf makes both folders
  ``asbb:asbb 2770``; the epilog writes as SlurmUser, a member of ``asbb``). Anyone else's
  file got there through a mistake (a world-writable folder) or an attack.
* **Nobody else may change it.** A file writable by every user, or by a group that may not
  write the folder, could have been rewritten by anyone in it: refused (``check_mode``).
* **Readable, or said why not.** aws-slurm-burst writes its exports mode 0600, so one written
  as root is unreadable to a daemon running as ``asbb``. That is not the file's fault: it
  waits (``UnreadableError``, an ``OSError``) with a reason naming the file, its owner, its
  mode and what to change, and is read once it is readable (a daemon running as root, or
  with ``CAP_DAC_READ_SEARCH``, reads it as it is).
* **Bounded.** A file over ``max_bytes`` (a setting) is refused from its size, unread; at most
  ``max_bytes + 1`` bytes are ever read, even from a file that grows meanwhile.
* **Shallow.** JSON nested deeper than ``max_depth`` (64) is refused by counting brackets on
  the text before ``json.loads``, whose recursion would raise ``RecursionError`` on a
  100,000-level file and stop every round.
* **Ready, or not yet.** A file changed within ``settle_seconds``, changed while being read,
  or whose JSON stops short (its writer paused mid-file) is ``NotReadyError``: it is read again
  next round. A file that stops short is rejected as truncated only once it has been left
  unchanged for ``incomplete_wait_seconds``.

``read_json`` raises ``ValidationError`` for a bad file (move it to ``rejected/`` with the
message: ``move_aside``), ``NotReadyError`` (leave it for the next round), ``FileNotFoundError``
(gone meanwhile), ``UnreadableError`` (this process may not read it: it waits, the reason says
what to change) or another ``OSError`` (cannot be read now: I/O -- not the file's fault, so it
waits too).
"""

from __future__ import annotations

import errno
import grp
import json
import os
import pwd
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from asbb_core.settings import AsbxSettings, DaemonSettings
from asbb_core.values.errors import ValidationError

REJECTED = "rejected"
MAX_DEPTH = 64
"""JSON nesting allowed: the exports and reconciles are 3 or 4 levels deep."""
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_INCOMPLETE_WAIT = 60.0
"""Two ASBX watcher rounds at the default interval."""
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 16

# A JSON string, to its closing quote or (never closed) to the end of the text; possessive,
# so it never backtracks, and a file is scanned once.
_STRINGS = re.compile(r'"(?:[^"\\]++|\\(?:.|\Z))*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]++")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # minus one: +1 opens, -1 closes
# The start of a number or literal a truncated file can end with ("tr" of true, "1." of 1.5).
_PARTIAL_TAIL = re.compile(
    r"(?:-?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?"
    r"|n(?:u(?:ll?)?)?)\Z"
)
_TAIL_WINDOW = 64


class NotReadyError(Exception):
    """The file may still be being written: leave it for the next round."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableError(PermissionError):
    """This process may not read the file (its mode, owner or ACL): not the file's fault, so
    it waits; ``str()`` says which file, whose it is, its mode and what to change."""

    def __init__(self, path: Path, explanation: str) -> None:
        super().__init__(errno.EACCES, explanation, str(path))
        self.explanation = explanation

    def __str__(self) -> str:
        return self.explanation


GENERIC_UNREADABLE_HINT = (
    "make it readable by that user: write it as that user, or give it the folder's group "
    "with group read permission (mode 0640)"
)
ASBX_UNREADABLE_HINT = (
    "aws-slurm-burst writes its exports mode 0600, readable by their owner alone: run its "
    "export as {user} (runuser -u {user} -- aws-slurm-burst-export-performance "
    "--format asbb-reconciliation ...), or give each file group {group} and mode 0640 after it "
    "is written (chgrp {group} FILE; chmod 0640 FILE); it stays here and is read once readable"
)


@dataclass(frozen=True)
class FileLimits:
    """How a folder's files are read (see the module doc); ``setting`` names the size
    setting in the reason a too-large file is refused with, ``unreadable_hint`` what to change
    when this process may not read a file (``{user}`` and ``{group}``: this process's)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    settle_seconds: float = 0.0
    incomplete_wait_seconds: float = DEFAULT_INCOMPLETE_WAIT
    max_depth: int = MAX_DEPTH
    setting: str = "max_file_bytes"
    unreadable_hint: str = GENERIC_UNREADABLE_HINT


def asbx_limits(settings: AsbxSettings) -> FileLimits:
    """aws-slurm-burst's exports: it may write in place, so a file settles before it is read."""
    return FileLimits(
        max_bytes=settings.max_file_bytes,
        settle_seconds=settings.settle_seconds,
        incomplete_wait_seconds=settings.incomplete_wait_seconds,
        setting="asbx.max_file_bytes",
        unreadable_hint=ASBX_UNREADABLE_HINT,
    )


def spool_limits(settings: DaemonSettings) -> FileLimits:
    """The epilog's spool: written to a hidden name and renamed, so no settle time."""
    return FileLimits(
        max_bytes=settings.spool_max_file_bytes,
        settle_seconds=0,
        incomplete_wait_seconds=settings.spool_incomplete_wait_seconds,
        setting="daemon.spool_max_file_bytes",
    )


SPOOL_LIMITS = spool_limits(DaemonSettings())
"""The spool's limits with the default settings."""


# ---------------------------------------------------------------- listing


def entries(folder: Path, wanted: Callable[[str], bool]) -> list[tuple[Path, os.stat_result]]:
    """The entries of ``folder`` whose names are ``wanted``, with their ``lstat``: links and
    other non-regular entries included (so they are rejected, not silently left), folders
    not."""
    found = []
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        if not wanted(name):
            continue
        path = folder / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:  # gone between the listing and the look
            continue
        if not stat.S_ISDIR(info.st_mode):
            found.append((path, info))
    return found


# ---------------------------------------------------------------- reading


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_kind(path: Path, mode: int) -> ValidationError:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)[:200]
        except OSError:
            target = "?"
        return ValidationError(
            f"a symbolic link (to {target}): links are not followed; put the file itself here"
        )
    return ValidationError(f"{_kind(mode)}, not a regular file: not read")


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def _named_uid(uid: int) -> str:
    who = _user_name(uid)
    return f"uid {uid} ({who})" if who else f"uid {uid}"


def _named_gid(gid: int) -> str:
    name = _group_name(gid)
    return f"group {gid} ({name})" if name else f"group {gid}"


def _mode(mode: int) -> str:
    """``0600 (rw-------)``: the permission bits as ``chmod`` and ``ls -l`` write them."""
    return f"{stat.S_IMODE(mode):04o} ({stat.filemode(mode)[1:]})"


def _in_group(uid: int, gid: int) -> bool:
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return False
    if user.pw_gid == gid:
        return True
    try:
        return user.pw_name in grp.getgrgid(gid).gr_mem
    except KeyError:
        return False


def check_owner(info: os.stat_result, folder: os.stat_result) -> None:
    """``ValidationError`` unless the file's owner may write into the folder (module doc)."""
    uid = info.st_uid
    if uid in (0, os.geteuid(), folder.st_uid):
        return
    if folder.st_mode & stat.S_IWGRP and _in_group(uid, folder.st_gid):
        return
    group = "" if not folder.st_mode & stat.S_IWGRP else f", or a user of group {folder.st_gid}"
    raise ValidationError(
        f"owned by {_named_uid(uid)}: only root, uid {os.geteuid()} (this process), uid "
        f"{folder.st_uid} (the folder's owner){group} may write these files"
    )


def check_mode(info: os.stat_result, folder: os.stat_result) -> None:
    """``ValidationError`` when someone the folder does not let write there may still change
    the file: anyone (world-writable), or a group other than the folder's writing group."""
    mode = info.st_mode
    if mode & stat.S_IWOTH:
        raise ValidationError(
            f"writable by every user (mode {_mode(mode)}): anyone could have changed it, so "
            "it is not read; its writer must not give others write permission (chmod o-w)"
        )
    folder_writers = info.st_gid == folder.st_gid and folder.st_mode & stat.S_IWGRP
    if mode & stat.S_IWGRP and not folder_writers:
        raise ValidationError(
            f"writable by {_named_gid(info.st_gid)} (mode {_mode(mode)}), a group that may "
            "not write this folder: any of its users could have changed it, so it is not "
            "read; its writer must not give that group write permission (chmod g-w)"
        )


def unreadable_reason(path: Path, info: os.stat_result, limits: FileLimits) -> str:
    """Why this process may not read ``path`` and what to change: the file, its owner, its
    group and its mode (``UnreadableError``)."""
    uid, gid = os.geteuid(), os.getegid()
    user = _user_name(uid) or str(uid)
    group = _group_name(gid) or str(gid)
    hint = limits.unreadable_hint.format(user=user, group=group)
    return (
        f"{path} cannot be read by {_named_uid(uid)}, the user this process runs as: it is "
        f"owned by {_named_uid(info.st_uid)}, {_named_gid(info.st_gid)}, mode "
        f"{_mode(info.st_mode)}; {hint}"
    )


def why_unreadable(path: Path, limits: FileLimits) -> str | None:
    """``unreadable_reason`` when this process may not open ``path`` for reading, else None
    (for a status page: opens nothing but regular files, never through a link)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        os.close(os.open(path, _OPEN_FLAGS))
    except PermissionError:
        return unreadable_reason(path, info, limits)
    except OSError:
        return None
    return None


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """``ValidationError`` when JSON ``text`` nests deeper than ``limit`` (brackets inside
    strings do not count); linear, and without parsing, so any text is safe to check."""
    if text.count("[") + text.count("{") <= limit:  # the usual file: nothing to count
        return
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    # Closers beyond the openers make JSON invalid there: json.loads stops before any later
    # nesting, so the running sum need not be clamped at zero.
    deepest = max(accumulate(step - 1 for step in brackets.encode().translate(_STEPS)), default=0)
    if deepest > limit:
        raise ValidationError(
            f"nested {deepest} levels deep (objects and lists inside each other); at most "
            f"{limit} are read: refused before parsing"
        )


def _truncated(text: str, exc: json.JSONDecodeError) -> bool:
    """Does the JSON stop short (its end not written yet), rather than go wrong midway?"""
    if exc.msg.startswith("Unterminated string"):
        return True
    body = text.rstrip()
    # Only the last characters: searching a whole file for a pattern anchored at its end
    # would be quadratic in a long run of digits.
    offset = max(len(body) - _TAIL_WINDOW, 0)
    tail = _PARTIAL_TAIL.search(body, offset)
    end = tail.start() if tail else len(body)
    return exc.pos >= end


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(size: int, limits: FileLimits) -> ValidationError:
    return ValidationError(
        f"too large: {size} bytes; at most {limits.max_bytes} are read ({limits.setting})"
    )


def _open(path: Path, limits: FileLimits) -> tuple[int, os.stat_result]:
    """The open file and its ``fstat``; refuses links, anything but a regular file, a file
    whose owner may not write the folder and one others may change; ``UnreadableError`` for
    a file this process may not read."""
    folder = os.stat(path.parent)
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        raise _refuse_kind(path, before.st_mode)
    # Before opening: a stranger's file it cannot read must be refused, not wait forever.
    check_owner(before, folder)
    check_mode(before, folder)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a link after the look
            raise _refuse_kind(path, stat.S_IFLNK) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UnreadableError(path, unreadable_reason(path, before, limits)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_kind(path, info.st_mode)
        if (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
            raise NotReadyError("replaced while being opened")
        check_owner(info, folder)
        check_mode(info, folder)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_bytes(
    path: Path, limits: FileLimits, *, now: Callable[[], float] = time.time
) -> tuple[bytes, float]:
    """The file's bytes, at most ``limits.max_bytes``, and its age in seconds (module doc)."""
    fd, info = _open(path, limits)
    try:
        if info.st_nlink != 1:
            raise ValidationError(
                f"has {info.st_nlink} hard links (another name elsewhere): not read; "
                "put a copy of the file itself here"
            )
        age = now() - info.st_mtime
        if age < limits.settle_seconds:
            raise NotReadyError(
                f"changed {max(age, 0):.1f}s ago: read once it has been still for "
                f"{limits.settle_seconds:g}s"
            )
        if info.st_size > limits.max_bytes:
            raise _too_large(info.st_size, limits)
        data = _read_at_most(fd, limits.max_bytes + 1)
        if len(data) > limits.max_bytes:  # it grew meanwhile
            raise ValidationError(
                f"too large: grew past {limits.max_bytes} bytes while read ({limits.setting})"
            )
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
        raise NotReadyError("changed while being read")
    return data, age


def read_json(path: Path, limits: FileLimits, *, now: Callable[[], float] = time.time) -> object:
    """A folder's file, parsed: see the module doc for what is refused and what waits."""
    data, age = read_bytes(path, limits, now=now)
    waiting = age < limits.incomplete_wait_seconds
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if waiting and exc.end == len(data) and exc.reason == "unexpected end of data":
            raise NotReadyError("ends inside a character: waiting for the writer") from None
        raise ValidationError("not UTF-8 text") from None
    check_depth(text, limits.max_depth)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not _truncated(text, exc):
            raise ValidationError(f"not JSON: {exc}") from None
        if waiting:
            raise NotReadyError(
                f"its JSON stops short ({exc.msg}): waiting for the writer to finish"
            ) from None
        raise ValidationError(
            f"not JSON: truncated ({exc}), and unchanged for {age:.0f}s"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ValidationError(f"not JSON: {exc}") from None


# ---------------------------------------------------------------- moving aside


def _create_new(path: Path, text: str) -> None:
    """Write a new file; never through a link someone planted at that name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def write_new(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a crash (or a planted link): removed, unfollowed
    _create_new(tmp, text)
    os.replace(tmp, path)


def subfolder(folder: Path, name: str, mode: int) -> Path:
    """``folder/name``, made if missing; refused if it is a link (files moved there would
    land wherever it points)."""
    target = folder / name
    try:
        os.mkdir(target, mode)
    except FileExistsError:
        info = os.lstat(target)
        if not stat.S_ISDIR(info.st_mode):
            raise OSError(
                errno.ENOTDIR, f"{target} is {_kind(info.st_mode)}, not a folder"
            ) from None
    return target


def unusable_subfolder(folder: Path, *names: str) -> str | None:
    """Why one of ``folder``'s subfolders (``processed``, ``rejected``) cannot take files, if
    it exists as something else than a folder (a link planted there); else None."""
    for name in names:
        try:
            info = os.lstat(folder / name)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            return (
                f"{folder / name} is {_kind(info.st_mode)}, not a folder: files are not moved there"
            )
    return None


def move_aside(path: Path, reason: str) -> Path | None:
    """Move a file to ``rejected/`` beside it with a ``<name>.reason`` file saying why (None
    if it vanished meanwhile). A link is moved itself, never what it points to."""
    target_dir = subfolder(path.parent, REJECTED, 0o700)
    target = target_dir / path.name
    write_new(target_dir / f"{path.name}.reason", reason.strip() + "\n")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another round handled it meanwhile
        return None
    return target


__all__ = [
    "MAX_DEPTH",
    "REJECTED",
    "SPOOL_LIMITS",
    "FileLimits",
    "NotReadyError",
    "UnreadableError",
    "asbx_limits",
    "check_depth",
    "check_mode",
    "check_owner",
    "entries",
    "move_aside",
    "read_bytes",
    "read_json",
    "spool_limits",
    "subfolder",
    "unreadable_reason",
    "unusable_subfolder",
    "why_unreadable",
    "write_new",
]
