"""Files the sftp backend created and keeps open for their first upload.

A file made by create() is written and closed right after (tar x, cp, an
editor's save), so the handle its creation opened is kept for the upload
that follows: that upload then needs no open of its own, one round trip
less per small file (sshfs does the same: its create is its open). A kept
handle goes at the upload, when its path is renamed or removed, when its
connection is replaced, and after `KEEP_FOR` seconds unused.

A create in a directory the vfs made itself (``defer``) does not even wait
for the open's answer: the open is sent and the create returns; the upload
that follows (every create's close uploads) waits for it and reports its
failure (`Fresh.opening`).

Everything here runs in the backend's asyncio thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

log = logging.getLogger("xenonfs.sftp")

#: Seconds a created file's handle waits for its upload.
KEEP_FOR = 30.0


@dataclass
class Fresh:
    """One kept handle: the connection it belongs to, the open file, and
    its attributes as created (asked for at once, read when needed).

    ``opening``: the open is still under way; once it is done, it has set
    ``file`` and ``created`` (`FreshFiles.keep_opening`)."""

    sftp: Any
    file: Any
    created: asyncio.Future[Any] | None = None
    timer: asyncio.TimerHandle | None = None
    opening: asyncio.Future[None] | None = None

    def __post_init__(self) -> None:
        # Answers nobody reads (the handle went unused) are no error to report.
        for fut in (self.created, self.opening):
            if fut is not None:
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def settled(self) -> None:
        """Wait for the open.

        Raises:
            What the open raised.
        """
        if self.opening is not None:
            try:
                # Shielded: a cancelled upload must not cancel an open the
                # server may have done (its handle would stay open there).
                await asyncio.shield(self.opening)
            except asyncio.CancelledError:
                _discard(self)
                raise

    async def atime_ns(self) -> int | None:
        """Returns: the file's atime as created (None: not known)."""
        if self.created is None:
            return None
        try:
            attrs = await self.created
        except Exception:  # noqa: BLE001 - only a shortcut: the caller asks itself
            return None
        return attrs.atime_ns if attrs.atime_ns is not None else (
            int(attrs.atime) * 1_000_000_000 if attrs.atime is not None else None)


class FreshFiles:
    """The kept handles of one backend, by path."""

    def __init__(self) -> None:
        self._files: dict[str, Fresh] = {}

    def keep(self, path: str, fresh: Fresh) -> None:
        """Keep ``fresh`` for the first upload of ``path``."""
        self.release(path)
        fresh.timer = asyncio.get_running_loop().call_later(KEEP_FOR, self._expire, path, fresh)
        self._files[path] = fresh

    def keep_opening(self, path: str, sftp: Any, open_: Callable[[], Awaitable[Any]]) -> None:
        """Send ``open_()`` (the open, which carries the file's mode) and keep
        the file for the first upload of ``path`` at once, before it is
        answered.

        The open starts as a task that sends its request in its first step:
        it goes out before any request asked for after this call (a chmod
        right after the create is not undone by the create arriving later)."""
        fresh = Fresh(sftp, None)

        async def opening() -> None:
            fresh.file = await open_()
            fresh.created = asyncio.ensure_future(fresh.file.stat())
            fresh.created.add_done_callback(lambda f: f.cancelled() or f.exception())
        fresh.opening = asyncio.ensure_future(opening())
        fresh.opening.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.keep(path, fresh)

    def take(self, path: str, sftp: Any) -> Fresh | None:
        """Returns: the kept handle of ``path`` on connection ``sftp``, now the
        caller's to close (None: there is none)."""
        fresh = self._files.pop(path, None)
        if fresh is None:
            return None
        if fresh.timer is not None:
            fresh.timer.cancel()
        if fresh.sftp is not sftp:  # died with its connection
            return None
        return fresh

    def release(self, path: str) -> None:
        """Close the kept handles of ``path`` and of everything under it
        (before it is renamed or removed)."""
        if not self._files:
            return
        prefix = path.rstrip("/") + "/"
        for name in [p for p in self._files if p == path or p.startswith(prefix)]:
            fresh = self._files.pop(name)
            if fresh.timer is not None:
                fresh.timer.cancel()
            _discard(fresh)

    def _expire(self, path: str, fresh: Fresh) -> None:
        if self._files.get(path) is fresh:
            del self._files[path]
            _discard(fresh)


def _discard(fresh: Fresh) -> None:
    """Close ``fresh``'s file without waiting (once it is open)."""
    if fresh.opening is None or fresh.opening.done():
        if fresh.file is not None:
            _close_soon(fresh.file)
        return
    fresh.opening.add_done_callback(lambda _: fresh.file is not None and _close_soon(fresh.file))


def _close_soon(f: Any) -> None:
    """Close ``f`` without waiting; a failure only means the handle is gone."""
    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.debug("closing a kept file: %s", task.exception())
    asyncio.ensure_future(f.close()).add_done_callback(done)
