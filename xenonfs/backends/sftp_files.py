"""What the sftp backend sends through an open SFTP file: ranges of a local
file written in place, then sizes, times, a stat and the close.

Writes go out `FOLLOW_IN_FLIGHT` at a time (all of a small file's at once)
and count acknowledged bytes as progress; once they are answered, the size,
fsync, times, stat and close go out together and are answered together (the
server works through requests in the order they came, as OpenSSH's does):
two round trips for a small file.

Everything here runs in the backend's asyncio thread.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any, Awaitable

import asyncssh

from ..vfs.remote import RemoteAttr

#: Bytes per write request, and requests in flight (uploads of big files).
FOLLOW_CHUNK = 256 << 10
FOLLOW_IN_FLIGHT = 64


def attr_of(a: asyncssh.SFTPAttrs) -> RemoteAttr:
    """Returns: ``a`` as the vfs has attributes."""
    mode = a.permissions or 0
    kind = stat.S_IFMT(mode)
    if kind not in (stat.S_IFDIR, stat.S_IFLNK):
        kind = stat.S_IFREG
    mtime = a.mtime_ns if a.mtime_ns is not None else int(a.mtime or 0) * 1_000_000_000
    atime = a.atime_ns if a.atime_ns is not None else (
        int(a.atime) * 1_000_000_000 if a.atime is not None else None)
    size = 0 if kind == stat.S_IFDIR else (a.size or 0)
    return RemoteAttr(kind, size, mtime, stat.S_IMODE(mode), a.nlink, atime, None)


async def write_file(f: Any, local: str, ranges: list[tuple[int, int]], cut: int | None,
                     size: int | None, sync: bool, times_ns: tuple[int, int] | None,
                     handler: Any) -> RemoteAttr | None:
    """Cut the open remote file ``f`` to ``cut``, write ``ranges`` of
    ``local`` into it, set its size to ``size``, flush it (``sync``), set
    (atime, mtime) to ``times_ns`` (None: leave them), then close it.

    Returns: its attributes before the close (None: the server would not say).

    Raises:
        What a request raised (``f`` is closed then too).
    """
    try:
        if cut is not None:
            await f.truncate(cut)
        # All writes in flight together; what follows them waits for their
        # answers (asyncssh may send a big write's requests after requests
        # made later), then goes out at once.
        await _pipelined_writes(f, local, ranges, handler)
    except BaseException:
        await f.close()
        raise
    after = [f.truncate(size)] if size is not None else []
    if sync:
        after.append(_fsync(f))
    if times_ns is not None:
        after.append(f.utime(ns=times_ns))
    return await _last(f, after)


async def _fsync(f: Any) -> None:
    try:
        await f.fsync()  # fsync@openssh.com
    except asyncssh.SFTPOpUnsupported:
        pass  # the server has the bytes; it cannot be asked for more


async def _last(f: Any, requests: list[Awaitable[Any]]) -> RemoteAttr | None:
    """Send ``requests`` on ``f``, a stat and the close, all at once (in that
    order: gather starts them so).

    Returns: the stat's attributes (None if it failed).

    Raises:
        What the first failed request or the close raised.
    """
    *done, attrs, closed = await asyncio.gather(*requests, f.stat(), f.close(),
                                                return_exceptions=True)
    for result in (*done, closed):
        if isinstance(result, BaseException):
            raise result
    return None if isinstance(attrs, BaseException) else attr_of(attrs)


async def _pipelined_writes(f: Any, local: str, ranges: list[tuple[int, int]],
                            handler: Any) -> None:
    """Send ``ranges`` of the local file through the open remote file ``f``,
    `FOLLOW_IN_FLIGHT` write requests of `FOLLOW_CHUNK` at a time."""
    pending: set[asyncio.Task[Any]] = set()
    acked = 0

    def written(task: asyncio.Task[Any], nbytes: int) -> None:
        # Progress counts what the server acknowledged, as each write does.
        nonlocal acked
        if not task.cancelled() and task.exception() is None:
            acked += nbytes
            if handler is not None:
                handler(None, None, acked, 0)
    try:
        with open(local, "rb", buffering=0) as src:
            for start, end in ranges:
                offset = start
                while offset < end:
                    data = os.pread(src.fileno(), min(FOLLOW_CHUNK, end - offset), offset)
                    if not data:
                        break  # the local file is shorter: its size is set after
                    task = asyncio.ensure_future(f.write(data, offset))
                    task.add_done_callback(lambda t, n=len(data): written(t, n))
                    pending.add(task)
                    offset += len(data)
                    if len(pending) >= FOLLOW_IN_FLIGHT:
                        finished, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED)
                        for task in finished:
                            task.result()
        if pending:
            await asyncio.gather(*pending)
            pending.clear()
    finally:
        for task in pending:
            task.cancel()
