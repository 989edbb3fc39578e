"""Where xenonfs keeps things on the local disk (XDG rules via platformdirs)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import platformdirs

APP = "xenonfs"


class UnsafeDirectory(RuntimeError):
    """A private directory exists but is not private (owner or mode wrong)."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as a directory only we can enter.

    Args:
        path: the directory.

    Returns:
        ``path``, existing, owned by us, mode 0700.

    Raises:
        UnsafeDirectory: it exists and belongs to another user, or is a symlink.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise UnsafeDirectory(f"{path} is not a directory owned by uid {os.getuid()}; "
                              "remove it or point xenonfs elsewhere")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def runtime_dir() -> Path:
    """Returns: the private per-user runtime directory (``$XDG_RUNTIME_DIR/xenonfs``).

    Without a usable ``$XDG_RUNTIME_DIR`` (no systemd login session, e.g. in
    containers or cron) it falls back to ``$TMPDIR/xenonfs-UID``.
    """
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir() and os.access(xdg, os.W_OK):
        return private_dir(Path(xdg) / APP)
    return private_dir(Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}")


def state_dir() -> Path:
    """Returns: the private per-user state directory (``$XDG_STATE_HOME/xenonfs``)."""
    return private_dir(Path(platformdirs.user_state_dir(APP)))
