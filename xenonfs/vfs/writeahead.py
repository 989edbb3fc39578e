"""Upload a file while it is still being written, for writers that go in order.

`cp`, `dd`, `tar`, `rsync` and most programs write a new file from its first
byte to its last. For those, waiting until close() to start the upload makes
close() take as long as the whole transfer (1 GiB over the engine's sftp:
~13 s after the ~2.5 s the local write took). A `WriteAhead` sends the local
copy's bytes as they are appended, so close() waits only for the tail.

Rules (the cache stays the truth; this is only an early start):
- The bytes always go to the local copy first; the stream reads them back
  from there, so nothing here holds data that the cache does not.
- It starts once a file written in order from offset 0 passes `THRESHOLD`
  (small files keep the one-call upload at close).
- Any write out of order, truncate, rename or unlink abandons it; so does
  another transfer that needs the connection. Abandoning ends the engine call
  normally, never by cancelling it: a cancelled writeToFile goes on in the
  engine on the same sftp connection, and the next transfer there fails. The
  upload at close then happens the normal way, from the cache (it replaces
  the partial file).
- `finish` says whether the remote file now holds exactly the bytes sent; the
  caller checks the remote size as for any upload.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Callable

import trio

from .activity import Activity
from .remote import Remote

log = logging.getLogger("xenonfs.vfs")

#: A file written in order starts uploading once it has this many bytes.
THRESHOLD = 8 << 20
#: Bytes per message to the engine.
CHUNK = 1 << 20


class _Chunks:
    """The async iterator the remote side reads: the local copy from ``sent``
    up to ``written``, waiting for more until the writer is done."""

    def __init__(self, owner: "WriteAhead") -> None:
        self._owner = owner

    def __aiter__(self) -> "_Chunks":
        return self

    async def __anext__(self) -> bytes:
        w = self._owner
        while True:
            if w.abandoned:  # end the call normally: a cancelled one lingers in the engine
                raise StopAsyncIteration
            if w.sent < w.written:
                n = min(CHUNK, w.written - w.sent)
                data = os.pread(w.fd, n, w.sent)
                if len(data) != n:  # the local copy shrank under us
                    w.abandon()
                    continue
                w.sent += n
                w.on_progress(w.sent)
                return data
            if w.closing:
                raise StopAsyncIteration
            await w.more.wait()
            w.more = trio.Event()


class WriteAhead:
    """A streamed upload of one cache file that is being appended to.

    Args:
        path: the file's path in the mount.
        data: the local copy.
        written: bytes already in the local copy, in order.
        remote: where it goes.
        on_progress: gets the bytes sent so far.
    """

    def __init__(self, path: str, data: Path, written: int, remote: Remote,
                 on_progress: Callable[[int], None]) -> None:
        self.path = path
        self.written = written
        self.sent = 0
        self.closing = False
        self.abandoned = False
        self.more = trio.Event()
        self.done = trio.Event()
        self.error: OSError | None = None
        self.on_progress = on_progress
        self._remote = remote
        self.fd = os.open(data, os.O_RDONLY)

    async def run(self) -> None:
        """Send until finished or abandoned (run it in a nursery)."""
        try:
            await self._remote.upload_stream(self.path, _Chunks(self))
        except OSError as exc:
            self.error = exc
            if not self.abandoned and exc.errno not in (errno.EBUSY, errno.EAGAIN):
                log.warning("streamed upload of %s failed (it is sent again at close): %s",
                            self.path, exc, extra={"PATH": self.path})
        finally:
            os.close(self.fd)
            self.done.set()

    def appended(self, offset: int, size: int) -> bool:
        """Note a write of ``size`` bytes at ``offset`` to the local copy.

        Returns: False if it was not at the end (the stream is then abandoned).
        """
        if self.abandoned or self.closing or offset != self.written:
            self.abandon()
            return False
        self.written += size
        self.more.set()
        return True

    def abandon(self) -> None:
        """Stop sending; the upload at close sends the whole file instead."""
        self.abandoned = True
        self.more.set()

    async def finish(self, size: int) -> bool:
        """Send the rest and wait for the remote side.

        Args:
            size: the local copy's size now.

        Returns:
            True if all ``size`` bytes were sent in order and the remote side
            accepted them; False if the caller must upload the normal way.
        """
        if size != self.written:
            self.abandon()
        self.closing = True
        self.more.set()
        await self.done.wait()
        return not self.abandoned and self.error is None and self.sent == size


class WriteAheads:
    """The files of one mount that are written in order, and their uploads.

    Args:
        remote: where files go.
        nursery: runs the uploads.
        activity: shows them as transfers.
    """

    def __init__(self, remote: Remote, nursery: trio.Nursery, activity: Activity) -> None:
        self._remote = remote
        self._nursery = nursery
        self._activity = activity
        self._in_order: dict[str, int] = {}  # path -> bytes written in order from 0
        self._running: dict[str, WriteAhead] = {}

    def starts_empty(self, path: str) -> None:
        """``path``'s local copy was just created or truncated to 0 bytes."""
        self._in_order[path] = 0

    def note_write(self, path: str, data: Path, offset: int, size: int) -> None:
        """A write of ``size`` bytes at ``offset`` went into ``data``, the local
        copy of ``path``: follow it, and start the upload once the file is big."""
        ahead = self._running.get(path)
        if ahead is not None:
            ahead.appended(offset, size)
            return
        end = self._in_order.pop(path, None)
        if end is None or offset != end:
            return
        end += size
        if end < THRESHOLD:
            self._in_order[path] = end
        elif self._remote.caps.stream_upload:
            key = self._activity.start(path, "upload", 0)
            ahead = WriteAhead(path, data, end, self._remote,
                               lambda done: self._activity.progress(key, done))
            self._running[path] = ahead
            self._nursery.start_soon(self._run, ahead, key)

    async def _run(self, ahead: WriteAhead, key: int) -> None:
        try:
            await ahead.run()
        finally:
            self._activity.finish(key)

    def take(self, path: str) -> WriteAhead | None:
        """Returns: ``path``'s running upload, for its close to finish (or None)."""
        self._in_order.pop(path, None)
        return self._running.pop(path, None)

    async def stop(self, path: str) -> bool:
        """Abandon ``path``'s upload and wait until it has let go (before the
        file is truncated, moved or removed remotely).

        Returns: True if one was running (the remote file may then be partial,
        or missing if the upload failed between its delete and its write).
        """
        ahead = self.take(path)
        if ahead is None:
            return False
        ahead.abandon()
        await ahead.done.wait()
        return True
