"""Who keeps a mount busy: the processes whose working directory, root,
program or open files lie inside it (what `fuser -m` shows), so a refused
unmount can name them."""

from __future__ import annotations

import os
from pathlib import Path

#: At most this many processes are named; the rest are counted.
SHOWN = 5


def _inside(target: str, mountpoint: str) -> bool:
    return target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")


def _uses(pid: str, mountpoint: str) -> str | None:
    """Returns: how process ``pid`` uses the mount (first found), or None."""
    proc = Path("/proc") / pid
    try:
        for link, what in (("cwd", "working directory"), ("root", "root directory"),
                           ("exe", "program")):
            try:
                if _inside(os.readlink(proc / link), mountpoint):
                    return what
            except OSError:
                continue
        for fd in os.listdir(proc / "fd"):
            try:
                target = os.readlink(proc / "fd" / fd)
            except OSError:
                continue
            if _inside(target.removesuffix(" (deleted)"), mountpoint):
                return f"open file {target}"
    except OSError:  # gone, or another user's
        return None
    return None


def users_of(mountpoint: Path) -> list[str]:
    """Args: mountpoint: absolute.

    Returns:
        "pid N (command): how" for each process this user may inspect that
        uses the mount; reading /proc/PID links never enters the FUSE mount.
    """
    found = []
    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if pid == me:
            continue
        how = _uses(pid, str(mountpoint))
        if how is None:
            continue
        try:
            name = (Path("/proc") / pid / "comm").read_text().strip()
        except OSError:
            name = "?"
        found.append(f"pid {pid} ({name}): {how}")
    return found


def busy_message(mountpoint: Path) -> str:
    """Returns: one sentence saying the mount is busy, by whom, and what to do."""
    users = users_of(mountpoint)
    if users:
        shown = "; ".join(users[:SHOWN])
        more = f"; and {len(users) - SHOWN} more" if len(users) > SHOWN else ""
        who = f": in use by {shown}{more}"
    else:
        who = ": in use, e.g. by another user's process or a mount inside it"
    return (f"cannot unmount {mountpoint}: it is busy (EBUSY){who}; close what uses it, or "
            f"`xenonfs umount --lazy {mountpoint}` to detach it now and finish when the "
            "last user leaves")
