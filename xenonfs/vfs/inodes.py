"""Path-keyed inode table with kernel lookup counts (`forget`)."""

from __future__ import annotations

import posixpath

ROOT_INODE = 1


def join(parent: str, name: str) -> str:
    """Args: parent: "/a"; name: "b". Returns: "/a/b"."""
    return posixpath.join(parent, name)


class InodeTable:
    """Maps inode numbers to mount-relative paths and back.

    An inode lives while the kernel holds lookups on it (or it is the root).
    """

    def __init__(self) -> None:
        self._path = {ROOT_INODE: "/"}
        self._ino = {"/": ROOT_INODE}
        self._lookups = {ROOT_INODE: 1}
        self._next = ROOT_INODE + 1

    def path(self, ino: int) -> str:
        """Returns: the path of ``ino``. Raises: OSError(ENOENT) for a forgotten inode."""
        try:
            return self._path[ino]
        except KeyError:
            raise FileNotFoundError(2, f"stale inode {ino}") from None

    def ino(self, path: str, lookup: bool = True) -> int:
        """Returns: the inode of ``path`` (new if needed), counting a kernel lookup."""
        ino = self._ino.get(path)
        if ino is None:
            ino = self._next
            self._next += 1
            self._ino[path], self._path[ino] = ino, path
            self._lookups[ino] = 0
        if lookup:
            self._lookups[ino] += 1
        return ino

    def peek(self, path: str) -> int | None:
        """Returns: the inode of ``path`` if it has one (no lookup counted)."""
        return self._ino.get(path)

    def forget(self, ino: int, count: int) -> None:
        """Drop ``count`` kernel lookups; forget the inode at zero."""
        if ino == ROOT_INODE or ino not in self._lookups:
            return
        self._lookups[ino] -= count
        if self._lookups[ino] <= 0:
            path = self._path.pop(ino)
            del self._lookups[ino]
            if self._ino.get(path) == ino:
                del self._ino[path]

    def rename(self, old: str, new: str, is_dir: bool = True) -> None:
        """Move ``old`` and everything below it to ``new`` (inodes keep their
        numbers); not ``is_dir``: ``old`` alone (no walk over every path)."""
        self.remove(new)
        prefix = old.rstrip("/") + "/"
        paths = ([p for p in self._ino if p == old or p.startswith(prefix)] if is_dir
                 else [old] if old in self._ino else [])
        for path in paths:
            ino = self._ino.pop(path)
            moved = new + path[len(old):]
            self._ino[moved], self._path[ino] = ino, moved

    def remove(self, path: str) -> None:
        """Unlink ``path`` from its inode (the inode stays until forgotten)."""
        ino = self._ino.pop(path, None)
        if ino is not None:
            self._path[ino] = path + "\0deleted"
