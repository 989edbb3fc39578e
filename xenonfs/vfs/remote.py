"""What the vfs needs from a remote file system (each module of
`xenonfs.backends` implements it). Every method raises OSError with an errno;
what a backend cannot do its `Capabilities` say, and the vfs answers for it
(ENOTSUP), never calling it."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class RemoteAttr:
    """Attributes of a remote path.

    Attributes:
        kind: stat.S_IFREG, S_IFDIR or S_IFLNK.
        size: bytes.
        mtime_ns: modification time.
        mode: permission bits, or None when the adaptor reports none.
    """

    kind: int
    size: int
    mtime_ns: int
    mode: int | None
    #: Hard links to it, where the backend knows (None: 1, or 2 for a directory).
    nlink: int | None = None
    #: Access and change times, where the backend knows (None: the mtime).
    atime_ns: int | None = None
    ctime_ns: int | None = None
    #: The file's inode number on the server, where the backend knows (None:
    #: not known). With size, mtime and ctime, the version an upload checks
    #: it does not overwrite unseen (`vfs.conflict`).
    ino: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.kind == stat.S_IFDIR


@dataclass(frozen=True)
class Capabilities:
    """What the adaptor can do (from its engine description)."""

    rename: bool = True
    append: bool = True
    create_symlinks: bool = True
    read_symlinks: bool = True
    set_permissions: bool = True
    read_permissions: bool = True
    needs_size: bool = False
    #: `upload` may read a local file that is still growing (size None).
    upload_while_writing: bool = False
    #: `mkdir` and `create_empty` give the exact mode asked (else the vfs
    #: sets it after, where it can set permissions).
    create_mode: bool = False
    #: `utimens` sets access and modification times.
    set_times: bool = False
    #: `link` makes hard links.
    hard_links: bool = False
    #: `statfs` reports the remote side's numbers.
    statfs: bool = False
    #: all 12 permission bits (setuid, setgid, sticky too); else only 0o777.
    special_modes: bool = False
    #: `upload` keeps the remote file's mode (it writes in place).
    upload_keeps_mode: bool = False
    #: `open_read`/`read_range`/`close_read` read parts of a file, and
    #: `write_ranges` changes parts of it in place: the vfs then caches files
    #: sparsely, fetching what is read and sending what was written.
    ranged: bool = False


class Remote(Protocol):
    """Remote operations on paths relative to the mount root ("/" is the root)."""

    caps: Capabilities

    async def stat(self, path: str) -> RemoteAttr | None:
        """Returns: attributes, or None if the path does not exist."""

    async def listdir(self, path: str, on_chunk: Callable[[list[tuple[str, RemoteAttr]]], None]
                      | None = None) -> list[tuple[str, RemoteAttr]]:
        """Returns: (name, attributes) of each entry; ``on_chunk`` sees them
        in runs as they arrive, each once, in the order returned."""

    async def download(self, path: str, local: str, progress: Callable[[int], None]) -> None:
        """Copy the remote file to the local path (replacing it), calling
        ``progress(bytes_done)`` as data arrives."""

    async def upload(self, local: str, path: str, size: int | None,
                     progress: Callable[[int], None] | None = None,
                     growth: Any = None) -> None:
        """Replace the remote file with the local file's content, read up to
        its end (``size`` None: the file may still grow while it is read;
        only where ``caps.upload_while_writing``; then ``growth.final``, once
        not None, is the size it ends at, for a backend that waits for it).
        ``progress`` gets the bytes sent so far, when the remote side reports them."""

    async def open_read(self, path: str) -> Any:
        """Returns: a reader of ``path`` for `read_range` (only where ``caps.ranged``)."""

    async def read_range(self, reader: Any, offset: int, size: int) -> bytes:
        """Returns: up to ``size`` bytes at ``offset`` (fewer only at the end)."""

    async def close_read(self, reader: Any) -> None:
        """Let go of a reader."""

    async def write_ranges(self, local: str, path: str, ranges: list[tuple[int, int]],
                           cut: int | None, size: int | None,
                           progress: Callable[[int], None] | None = None,
                           sync: bool = False,
                           times: tuple[int | None, int | None] | None = None
                           ) -> RemoteAttr | None:
        """Change the remote file in place (created if missing): first cut it
        to ``cut`` bytes (None: no cut), then write ``ranges`` of the local
        file at the same offsets, then set its size to ``size`` (None: leave
        it); ``sync``: ask the server to flush it to its disk, where it can;
        ``times``: last, set (atime, mtime) as `utimens`. Only where
        ``caps.ranged``.

        Returns: the file's attributes after it, where learnt on the way
        (None: the caller stats)."""

    async def create_empty(self, path: str, mode: int | None = None,
                           defer: bool = False) -> None:
        """Create an empty remote file (replacing any), with ``mode`` where
        ``caps.create_mode``. ``defer``: the vfs uploads the file next and
        knows its directory is writable: the backend may return before the
        server answers, and raise a failure at that upload instead."""

    async def mkdir(self, path: str, mode: int | None = None) -> None:
        """Make a directory, with ``mode`` where ``caps.create_mode``."""

    async def rmdir(self, path: str) -> None: ...

    async def unlink(self, path: str) -> None: ...

    async def rename(self, old: str, new: str) -> None: ...

    async def copy(self, old: str, new: str) -> None:
        """Copy a file on the remote side (replacing ``new``); for adaptors
        that cannot rename."""

    async def symlink(self, path: str, target: str) -> None: ...

    async def readlink(self, path: str) -> str: ...

    async def chmod(self, path: str, mode: int) -> None: ...

    async def utimens(self, path: str, atime_ns: int | None,
                      mtime_ns: int | None) -> RemoteAttr | None:
        """Set times (None: leave it); only where ``caps.set_times``.

        Returns: the attributes after it, where learnt on the way (None: not
        known; the times as the server keeps them may differ from those given)."""

    async def link(self, path: str, new: str) -> None:
        """Make ``new`` a hard link to ``path``; only where ``caps.hard_links``."""

    async def statfs(self) -> dict[str, int]:
        """Returns: statvfs numbers (f_bsize, f_frsize, f_blocks, f_bfree,
        f_bavail, f_files, f_ffree, f_favail, f_namemax); only where
        ``caps.statfs``."""

    async def close(self) -> None:
        """Let go of connections."""
