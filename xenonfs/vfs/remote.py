"""What the vfs needs from a remote file system (implemented over the engine
client in `xenonfs.backends.engine`). Every method raises OSError with an errno."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Callable, Protocol


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
                     progress: Callable[[int], None] | None = None) -> None:
        """Replace the remote file with the local file's content, read up to
        its end (``size`` None: the file may still grow while it is read;
        only where ``caps.upload_while_writing``). ``progress`` gets the bytes
        sent so far, when the remote side reports them."""

    async def create_empty(self, path: str) -> None:
        """Create an empty remote file (replacing any)."""

    async def mkdir(self, path: str) -> None: ...

    async def rmdir(self, path: str) -> None: ...

    async def unlink(self, path: str) -> None: ...

    async def rename(self, old: str, new: str) -> None: ...

    async def copy(self, old: str, new: str) -> None:
        """Copy a file on the remote side (replacing ``new``); for adaptors
        that cannot rename."""

    async def symlink(self, path: str, target: str) -> None: ...

    async def readlink(self, path: str) -> str: ...

    async def chmod(self, path: str, mode: int) -> None: ...
