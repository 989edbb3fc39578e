"""Which file system is mounted where (/proc/self/mountinfo).

As root, fusermount3 and libfuse unmount whatever is on top at a path, a
tmpfs mounted over a xenonfs mount included: every unmount of ours first asks
here whether the mount on top is a xenonfs one.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path

#: The type /proc shows for our mounts (FUSE with subtype=xenonfs).
XENONFS_TYPE = "fuse.xenonfs"


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in octal (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_at(path: Path | str) -> list[str]:
    """Returns: the types of the file systems mounted at ``path``, the one on
    top (which a lookup reaches and umount(2) would unmount) last."""
    entries: list[tuple[str, str, str]] = []  # (mount id, parent id, type)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == str(path) and "-" in fields:
                entries.append((fields[0], fields[1], fields[fields.index("-", 6) + 1]))
    # One mounted over another at the same path has the lower one as parent.
    order: list[str] = []
    below = {parent for _, parent, _ in entries}
    by_id = {ident: (parent, kind) for ident, parent, kind in entries}
    top = next((ident for ident, _, _ in reversed(entries) if ident not in below), None)
    while top in by_id:
        parent, kind = by_id.pop(top)
        order.append(kind)
        top = parent
    return order[::-1]


def is_xenonfs_mount(path: Path | str) -> bool:
    """Returns: whether the mount on top at ``path`` is a xenonfs one."""
    found = mounts_at(path)
    return bool(found) and found[-1] == XENONFS_TYPE


def not_ours(path: Path | str) -> str:
    """Returns: why ``path`` is not a xenonfs mount, as a sentence."""
    found = mounts_at(path)
    if not found:
        return f"{path} is not a xenonfs mount (nothing is mounted there)"
    over = f", over a xenonfs mount (unmount the {found[-1]} first)" \
        if XENONFS_TYPE in found else ""
    return f"{path} is not a xenonfs mount: the file system mounted there is {found[-1]}{over}"


class DeadMountError(Exception):
    """A dead mount at a mountpoint could not be cleared (the message says why)."""


def is_dead_mount(path: Path | str) -> bool:
    """Returns: whether ``path`` is a mount whose process died (ENOTCONN)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def recover_dead_mount(path: Path | str) -> bool:
    """Clear a dead xenonfs mount at ``path`` (its process died: every access
    fails "Transport endpoint is not connected") by a lazy unmount, so it can
    be mounted again. Nothing happens where the path answers.

    Returns:
        True when a dead mount was cleared.

    Raises:
        DeadMountError: the dead mount is not a xenonfs one (never touched), or
            fusermount3 failed (its words).
    """
    if not is_dead_mount(path):
        return False  # the caller's own checks name any other problem
    if not is_xenonfs_mount(path):
        raise DeadMountError(f"{path}: {os.strerror(errno.ENOTCONN)}, and {not_ours(path)}")
    result = subprocess.run(["fusermount3", "-u", "-z", str(path)], capture_output=True,
                            text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise DeadMountError(f"{path} is a dead xenonfs mount and fusermount3 could not "
                             f"unmount it: {result.stderr.strip()}")
    return True
