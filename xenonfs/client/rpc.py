"""Bridge between grpcio's thread-based calls and trio.

grpcio has no trio support. Unary calls use grpcio futures whose completion
callback wakes the trio task (no thread is parked per call). Streams are
pumped by one plain thread per call through a bounded trio memory channel,
so a slow consumer slows the producer instead of filling memory.

Engine reads (list, readFromFile) are never cancelled midway but read to
their end, and whoever stops early waits for that end: the engine goes on
with a cancelled call, and its sftp adaptor breaks on calls that overlap on
one connection (measured: a list started while a cancelled one still ran
hung, or failed "Failed to retrieve attributes" and left the file system
"client is closed"). Callers that keep one call at a time per connection
can rely on a returned read being over.

Every call has a deadline (`DEADLINES`): a unary call must be answered
within `Deadlines.call` seconds (plus the wait it asks the engine for, e.g.
waitUntilDone's timeout); a stream must make progress (a message, a pulled
request) at least every `Deadlines.idle` seconds, however long it runs in
all. Past it the call is cancelled and fails DEADLINE_EXCEEDED, which the
error table turns into EIO: a frozen server never blocks a caller without bound.

Nothing here translates errors: callers get grpc.RpcError and pass it to
`errors.from_rpc_error` in one place (`Connection`).
"""

from __future__ import annotations

import collections
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

import grpc
import trio

_END = object()


@dataclass
class Deadlines:
    """How long engine calls may wait (seconds; see the module docstring).

    Attributes:
        call: a unary call's answer (metadata: stat, mkdir, create, ...;
            connecting: `CONNECT_FACTOR` times it, at least `CONNECT_MIN`).
        idle: a stream's or a copy's progress (data: whatever the size).
    """

    call: float = 30.0
    idle: float = 30.0


#: This process's deadlines: a mount worker serves one mount and sets them
#: from its ``engine_timeout`` option (`set_deadlines`).
DEADLINES = Deadlines()


def set_deadlines(seconds: float) -> None:
    """Args: seconds: both deadlines (> 0, finite: checked by the option parser)."""
    DEADLINES.call = DEADLINES.idle = float(seconds)


class DeadlineExceeded(grpc.RpcError, grpc.Call):
    """A call we cancelled because it made no progress in time: it reads as
    the DEADLINE_EXCEEDED grpc reports for its own deadlines."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self._what = what

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        return self._what

    # grpc.Call's remaining abstract methods: nothing to tell.
    def initial_metadata(self) -> Any:
        return None

    def trailing_metadata(self) -> Any:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def _no_progress(idle: float) -> DeadlineExceeded:
    return DeadlineExceeded(f"no answer from the engine (or the server behind it) for "
                            f"{idle:g} s (deadline: the engine_timeout option)")


#: Requests that open a connection and log in (key exchange, a password check
#: that PAM may delay, and a cold engine loading the adaptor): CONNECT_FACTOR
#: call deadlines, and at least CONNECT_MIN seconds (a login took more than
#: 12 s on a busy 2-CPU machine).
_CONNECTS = ("CreateFileSystemRequest", "CreateSchedulerRequest")
CONNECT_FACTOR = 3
CONNECT_MIN = 30.0


def _unary_deadline(request: Any) -> float:
    """Returns: seconds a unary call with ``request`` may take: the call
    deadline (to connect: see `CONNECT_MIN`), plus the wait (in ms) the
    request itself asks for."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None:
        return DEADLINES.call
    if descriptor.name in _CONNECTS:
        return max(DEADLINES.call * CONNECT_FACTOR, CONNECT_MIN)
    asked = request.timeout if "timeout" in descriptor.fields_by_name else 0
    return DEADLINES.call + asked / 1000.0


def _on_done(fut: grpc.Future, fn: Callable[[], Any]) -> None:
    """Run ``fn`` in the current trio thread when ``fut`` completes."""
    token = trio.lowlevel.current_trio_token()

    def callback(_: grpc.Future) -> None:  # runs in a grpc thread
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            pass

    fut.add_done_callback(callback)


async def _wait_future(fut: grpc.Future) -> Any:
    done = trio.Event()
    _on_done(fut, done.set)
    try:
        await done.wait()
    except BaseException:
        fut.cancel()
        raise
    return fut.result()


async def unary(method: grpc.UnaryUnaryMultiCallable, request: Any,
                timeout: float | None = None) -> Any:
    """Make a unary call without blocking trio.

    Args:
        method: a stub attribute (e.g. ``stub.exists``).
        request: the request message.
        timeout: seconds; None for the default deadline (`_unary_deadline`).

    Returns:
        The response message.

    Raises:
        grpc.RpcError: the call failed (DEADLINE_EXCEEDED past its deadline).
            Cancelling the task cancels the call.
    """
    if timeout is None:
        timeout = _unary_deadline(request)
    return await _wait_future(method.future(request, timeout=timeout))


class ResponseStream:
    """Async iterator over a server-streaming (or bidi) call's responses.

    A daemon thread drains the grpc iterator into a bounded deque; the trio
    side is woken only when it is actually waiting, so a 10,000-message
    listing costs no thread round trip per message (that round trip was
    two thirds of the time of a large ``list``). When the deque is full the
    thread stops reading, so a slow consumer slows the producer instead of
    filling memory. `aclose` cancels the call, or with ``drain`` lets the
    thread read it to its end, dropping the rest, and waits for that (see the module docstring).
    """

    def __init__(self, call: Any, buffer: int = 256, drain: bool = False) -> None:
        self._call = call
        self._drain = drain
        self._limit = buffer
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._finished = False
        self._waiter: trio.Event | None = None
        self._ready: collections.deque[Any] = collections.deque()
        self._failure: grpc.RpcError | None = None
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name="xenonfs-grpc-stream")
        self._thread.start()

    def _put(self, item: Any) -> bool:
        """Runs in the pump thread. Returns: False once the consumer closed."""
        with self._cond:
            while len(self._items) >= self._limit and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                self._token.run_sync_soon(waiter.set)
            except trio.RunFinishedError:
                return False
        return True

    def _pump(self) -> None:
        end: Any = _END
        try:
            for msg in self._call:
                if not self._put(msg):
                    if self._drain:
                        for _ in self._call:
                            pass
                    else:
                        self._call.cancel()
                    return
        except grpc.RpcError as exc:
            end = exc
        self._put(end)

    def __aiter__(self) -> "ResponseStream":
        return self

    async def __anext__(self) -> Any:
        if not self._ready:
            self._ready.extend(await self.batch())
        return self._ready.popleft()

    async def batch(self, gather: float = 0.0) -> list[Any]:
        """Args: gather: after the first response arrives, wait this many
            seconds for more (bulk readers: fewer wakeups per message).

        Returns: every response that has arrived (at least one; waits for it).

        Raises:
            StopAsyncIteration: the stream ended.
            grpc.RpcError: the call failed (after the responses before the failure).
        """
        if self._finished or self._closed:
            await trio.lowlevel.checkpoint()
            if self._failure is not None and not self._closed:
                raise self._failure
            raise StopAsyncIteration
        while True:
            with self._cond:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    self._cond.notify()
                    break
                waiter = self._waiter = trio.Event()
            # A cancelled wait loses nothing: the stream stays usable.
            with trio.move_on_after(DEADLINES.idle) as idle:
                await waiter.wait()
            if idle.cancelled_caught:
                self._give_up()
                raise self._failure  # type: ignore[misc]
            if gather:
                await trio.sleep(gather)
        await trio.lowlevel.checkpoint()
        last = items[-1]
        if last is _END or isinstance(last, grpc.RpcError):
            items.pop()
            self._finished = True
            self._failure = last if last is not _END else None
        if not items:
            if self._failure is not None:
                raise self._failure
            raise StopAsyncIteration
        return items

    def _give_up(self) -> None:
        """No message within the idle deadline: cancel the call (a drain would
        wait for the silent server too) and fail the stream."""
        self._call.cancel()
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        self._finished = True
        self._failure = _no_progress(DEADLINES.idle)

    async def aclose(self) -> None:
        """Cancel the call (if still running; drained instead with ``drain``)
        and drop buffered responses."""
        if not self._drain:
            self._call.cancel()
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        self._ready.clear()
        if self._drain:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._thread.join)
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> "ResponseStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def server_stream(method: grpc.UnaryStreamMultiCallable, request: Any,
                  timeout: float | None = None, buffer: int = 256) -> ResponseStream:
    """Args: method: stub attribute; request: message; timeout: seconds; buffer: queue length.
    Returns: the response stream (use ``async with`` so it is closed; closing
    early drains the call, see the module docstring)."""
    return ResponseStream(method(request, timeout=timeout), buffer, drain=True)


async def server_stream_all(method: grpc.UnaryStreamMultiCallable, request: Any,
                            convert: Callable[[Any], Any], timeout: float | None = None,
                            on_batch: Callable[[list[Any]], None] | None = None,
                            batch: int = 256) -> list[Any]:
    """Read a whole server stream on one worker thread, converting each message there.

    For callers that want every message anyway (a directory listing): one
    thread reading and converting beats `ResponseStream`'s hand-over of each
    message to trio (10,000-entry sftp list: 0.34-0.39 s -> 0.24-0.33 s).

    Args:
        method: stub attribute; request: message; convert: applied to each
            response (runs in the worker thread); timeout: seconds.
        on_batch: called in trio with each run of ``batch`` converted
            responses as they arrive, and with the rest before returning:
            every response exactly once, in order (lets a reader start early).

    Returns:
        The converted responses, in order.

    Raises:
        grpc.RpcError: the call failed (after ``on_batch`` saw the responses
            before the failure). A cancelled task still waits for the call's
            end (see the module docstring).
    """
    call = method(request, timeout=timeout)
    token = trio.lowlevel.current_trio_token()
    out: list[Any] = []
    delivered = 0
    failed: BaseException | None = None
    last = [time.monotonic()]  # of the last message (written by the reader thread)

    def deliver(end: int) -> None:  # in trio; by index, so any order is safe
        nonlocal delivered, failed
        if end > delivered and failed is None and on_batch is not None:
            try:
                on_batch(out[delivered:end])
            except BaseException as exc:  # noqa: B036 - re-raised in the task below
                failed = exc
            delivered = end

    def read() -> None:
        for msg in call:
            last[0] = time.monotonic()
            out.append(convert(msg))
            if on_batch is not None and len(out) % batch == 0:
                token.run_sync_soon(deliver, len(out))

    try:
        # Shielded: a cancelled caller still gets the whole listing, once the
        # engine's call is over (the watch's own exit would raise Cancelled);
        # the idle watch still ends a call that stops making progress.
        with trio.CancelScope(shield=True):
            async with _idle_watch(call.cancel, last) as watch:
                try:
                    await trio.to_thread.run_sync(read, abandon_on_cancel=False)
                except grpc.RpcError:
                    if not watch.fired:
                        raise
        if watch.fired:
            raise _no_progress(DEADLINES.idle)
    finally:
        deliver(len(out))
        if failed is not None:
            raise failed
    return out


class _IdleWatch:
    """See `_idle_watch`. Attributes: fired: it cancelled the call."""

    def __init__(self) -> None:
        self.fired = False


@asynccontextmanager
async def _idle_watch(cancel: Callable[[], Any], last: list[float],
                      extra: float = 0.0) -> AsyncIterator[_IdleWatch]:
    """Call ``cancel`` once ``last[0]`` (time.monotonic() of the last progress,
    updated by whoever sees it) is more than the idle deadline (+ ``extra``)
    ago, for as long as the block runs. The block's own exceptions pass
    unwrapped."""
    watch = _IdleWatch()
    idle = DEADLINES.idle + extra

    async def watcher() -> None:
        while True:
            await trio.sleep(min(1.0, idle / 4))
            if time.monotonic() - last[0] > idle:
                watch.fired = True
                cancel()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher)
        raised: BaseException | None = None
        try:
            yield watch
        except BaseException as exc:  # noqa: B036 - re-raised below, outside the nursery
            raised = exc
        nursery.cancel_scope.cancel()
    if raised is not None:
        raise raised


class RequestFeed:
    """A request iterator for grpc fed from trio.

    grpc pulls requests in its own thread; each pull waits on a trio channel.
    Closing the feed ends the request stream (a normal end of input), so to
    abort a call, cancel the call instead.
    """

    def __init__(self, first: Any | None, buffer: int = 4,
                 pulled: list[float] | None = None) -> None:
        self._first = first
        self._send, self._recv = trio.open_memory_channel[Any](buffer)
        self._token = trio.lowlevel.current_trio_token()
        #: [time.monotonic() of grpc's last pull], for the idle deadline.
        self._pulled = pulled if pulled is not None else [0.0]

    def __iter__(self) -> Iterator[Any]:
        if self._first is not None:
            yield self._first
        while True:
            try:
                item = trio.from_thread.run(self._recv.receive, trio_token=self._token)
            except (trio.EndOfChannel, trio.ClosedResourceError, trio.BrokenResourceError,
                    trio.RunFinishedError, trio.Cancelled):
                self._pulled[0] = time.monotonic()  # then the answer
                return
            self._pulled[0] = time.monotonic()
            yield item

    async def send(self, message: Any) -> None:
        """Args: message: next request. Raises: trio.BrokenResourceError if grpc stopped reading."""
        await self._send.send(message)

    async def close(self) -> None:
        """End the request stream."""
        await self._send.aclose()

    def abandon(self) -> None:
        """Drop the feed without a clean end (after the call was cancelled)."""
        self._recv.close()
        self._send.close()


async def stream_unary_from(method: grpc.StreamUnaryMultiCallable, first: Any,
                            source: Any, wrap: Callable[[bytes], Any],
                            timeout: float | None = None) -> Any:
    """Make a client-streaming call whose data comes from ``source``.

    Args:
        method: stub attribute (e.g. ``stub.writeToFile``).
        first: the first request (with the target, no data).
        source: bytes, an iterable of bytes (read in grpc's thread; may block),
            or an async iterable of bytes.
        wrap: turns a chunk into a request message.
        timeout: seconds, or None.

    Returns:
        The response message.

    Raises:
        grpc.RpcError: the call failed; an exception from ``source`` cancels
            the call (so no truncated file is committed) and propagates.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = [bytes(source)]
    # Progress: grpc pulled a request (it sends them as the server takes them).
    last = [time.monotonic()]
    if not hasattr(source, "__aiter__"):
        def requests(src: Iterable[bytes] = source) -> Iterator[Any]:
            yield first
            for chunk in src:
                if chunk:
                    last[0] = time.monotonic()
                    yield wrap(bytes(chunk))
            last[0] = time.monotonic()  # then the answer, within the call deadline
        fut = method.future(requests(), timeout=timeout)
        return await _wait_streamed(fut, last)

    feed = RequestFeed(first, pulled=last)
    fut = method.future(iter(feed), timeout=timeout)
    with trio.CancelScope() as feeding:
        _on_done(fut, feeding.cancel)
        try:
            async for chunk in source:
                if chunk:
                    with trio.move_on_after(DEADLINES.idle) as idle:
                        await feed.send(wrap(bytes(chunk)))
                    if idle.cancelled_caught:  # grpc stopped pulling: the server is silent
                        raise _no_progress(DEADLINES.idle)
        except BaseException:
            if not feeding.cancel_called:
                fut.cancel()
                feed.abandon()
            raise
    if feeding.cancelled_caught:
        feed.abandon()  # the call ended early: its result says why
    else:
        await feed.close()
    return await _wait_streamed(fut, last)


async def _wait_streamed(fut: grpc.Future, last: list[float]) -> Any:
    """Returns: the result of a client-streaming call once it is answered.

    Raises:
        grpc.RpcError: it failed, or made no progress within the idle deadline
            (the last request plus the call deadline for the answer).
    """
    async with _idle_watch(fut.cancel, last, extra=DEADLINES.call) as watch:
        try:
            return await _wait_future(fut)
        except grpc.RpcError:
            if not watch.fired:
                raise
    raise _no_progress(DEADLINES.idle)
