"""What the sftp backend sends through an open SFTP file: ranges of a local
file written in place, then sizes, times, a stat and the close.

The file is opened with ``block_size=None`` (`UNSPLIT`), so each write call is
one request, sent in order with the others (asyncssh would otherwise split a
write into tasks of its own, sent after requests made later). Writes go out
`FOLLOW_IN_FLIGHT` at a time, of at most the server's request size, and count
acknowledged bytes as progress; the size, fsync, times, stat and close go out
right behind the last write, without waiting for its answer: the server works
through requests in the order they came (as OpenSSH's does), so a small file's
upload is one round trip.

Everything here runs in the backend's asyncio thread.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any, Awaitable

import asyncssh

from ..vfs.remote import RemoteAttr

#: Bytes per write request (at most; the server's limit if it is lower),
#: and requests in flight (uploads of big files): 4 MiB, twice the SSH
#: channel's window (asyncssh's and OpenSSH's 2 MiB), so the window is always
#: full. More only waits in asyncssh's send buffer: 16 MiB in flight were no
#: faster and made a worker 70 MB larger during an upload.
FOLLOW_CHUNK = 256 << 10
FOLLOW_IN_FLIGHT = 16
#: ``open(..., block_size=UNSPLIT)``: each read or write call is one request.
UNSPLIT = None


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


def chunk_of(sftp: asyncssh.SFTPClient) -> int:
    """Returns: bytes per write request on ``sftp``: `FOLLOW_CHUNK`, or the
    server's limit where it is lower (OpenSSH drops the connection on a
    request over 256 KiB)."""
    return min(FOLLOW_CHUNK, sftp.limits.max_write_len or FOLLOW_CHUNK)


async def write_file(f: Any, local: str, ranges: list[tuple[int, int]], cut: int | None,
                     size: int | None, sync: bool, times_ns: tuple[int, int] | None,
                     handler: Any, chunk: int = FOLLOW_CHUNK) -> RemoteAttr | None:
    """Cut the open remote file ``f`` (opened `UNSPLIT`) to ``cut``, write
    ``ranges`` of ``local`` into it in requests of ``chunk`` bytes, set its
    size to ``size``, flush it (``sync``), set (atime, mtime) to ``times_ns``
    (None: leave them), then close it.

    Returns: its attributes before the close (None: the server would not say).

    Raises:
        What a request raised (``f`` is closed then too).
    """
    try:
        if cut is not None:
            await f.truncate(cut)
        # The last window of writes is still in flight: what follows is
        # sent right behind it and answered after it.
        writes = await _pipelined_writes(f, local, ranges, handler, chunk)
    except BaseException:
        await f.close()
        raise
    after = [f.truncate(size)] if size is not None else []
    if sync:
        after.append(_fsync(f))
    if times_ns is not None:
        after.append(f.utime(ns=times_ns))
    return await _last(f, writes, after)


async def _fsync(f: Any) -> None:
    try:
        await f.fsync()  # fsync@openssh.com
    except asyncssh.SFTPOpUnsupported:
        pass  # the server has the bytes; it cannot be asked for more


async def _last(f: Any, writes: list[asyncio.Future[Any]],
                requests: list[Awaitable[Any]]) -> RemoteAttr | None:
    """Send ``requests`` on ``f``, a stat and the close, all at once, behind
    ``writes`` (started, maybe not yet sent: tasks start in the order they
    were made, and gather starts its coroutines in order), and wait for all.

    Returns: the stat's attributes (None if it failed).

    Raises:
        What the first failed write or request or the close raised.
    """
    *done, attrs, closed = await asyncio.gather(*writes, *requests, f.stat(), f.close(),
                                                return_exceptions=True)
    for result in (*done, closed):
        if isinstance(result, BaseException):
            raise result
    return None if isinstance(attrs, BaseException) else attr_of(attrs)


async def _pipelined_writes(f: Any, local: str, ranges: list[tuple[int, int]],
                            handler: Any, chunk: int) -> list[asyncio.Future[Any]]:
    """Send ``ranges`` of the local file through the open remote file ``f``,
    about `FOLLOW_IN_FLIGHT` x `FOLLOW_CHUNK` bytes of write requests of
    ``chunk`` bytes at a time.

    Returns: the last writes, still in flight (the caller waits for them;
    on an error here they are cancelled)."""
    pending: set[asyncio.Task[Any]] = set()
    acked = 0
    # Small requests (a server without limits@openssh.com: 16 KiB) get more
    # of them in flight: about the same bytes on the way.
    in_flight = max(FOLLOW_IN_FLIGHT, min(1024, (FOLLOW_IN_FLIGHT * FOLLOW_CHUNK) // chunk))

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
                    data = os.pread(src.fileno(), min(chunk, end - offset), offset)
                    if not data:
                        break  # the local file is shorter: its size is set after
                    task = asyncio.ensure_future(f.write(data, offset))
                    task.add_done_callback(lambda t, n=len(data): written(t, n))
                    pending.add(task)
                    offset += len(data)
                    if len(pending) >= in_flight:
                        finished, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED)
                        for task in finished:
                            task.result()
        left, pending = list(pending), set()
        return left
    finally:
        for task in pending:
            task.cancel()
