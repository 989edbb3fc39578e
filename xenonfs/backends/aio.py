"""asyncio libraries (asyncssh) called from trio: one asyncio event loop per
trio run, stepped by a trio system task in trio's own thread
(`AsyncioInTrio`), shared by the run's native backends.

A trio task hands a coroutine to that loop (`run`) and sleeps until it is
done; the asyncio task's completion callback reschedules it. Cancelling the
trio task cancels the coroutine in its loop. A call costs no thread wake-up:
the loop's sockets wait in trio's epoll (through the loop's own epoll fd).
`XENONFS_ASYNCIO=thread` runs the loop in a thread of its own instead
(`AsyncioThread`: two cross-thread wake-ups per call; both measured in the
README).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import math
import os
import threading
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

import trio

T = TypeVar("T")


class AsyncioThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            self.loop.run_forever()

        self._thread = threading.Thread(target=serve, name="asyncio", daemon=True)
        self._thread.start()
        started.wait()

    async def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``make()`` in the asyncio loop and return its result.

        Args:
            make: builds the coroutine (called in the asyncio thread).

        Returns:
            What the coroutine returned.

        Raises:
            What the coroutine raised; trio.Cancelled when this task is
            cancelled (the coroutine is cancelled too, and waited for).
        """
        token = trio.lowlevel.current_trio_token()
        task = trio.lowlevel.current_task()
        box: dict[str, Any] = {}

        def done(fut: concurrent.futures.Future[T]) -> None:
            box["future"] = fut
            token.run_sync_soon(trio.lowlevel.reschedule, task)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(_call(make),
                                                                                self.loop)
        future.add_done_callback(done)

        def abort(raise_cancel: Any) -> trio.lowlevel.Abort:
            future.cancel()  # reaches the coroutine in its loop; `done` still reschedules us
            return trio.lowlevel.Abort.FAILED

        await trio.lowlevel.wait_task_rescheduled(abort)
        # Popped: the future's callback (`done`) holds `box`, so a future left
        # in it would be a reference cycle, keeping its result (1 MiB of a
        # ranged read) until the cyclic GC ran: hundreds of MB while streaming.
        fut = box.pop("future")
        if fut.cancelled():
            # Only a cancel of ours cancels it: trio delivers that at the next checkpoint.
            await trio.lowlevel.checkpoint()
            raise trio.TooSlowError("cancelled")  # pragma: no cover - the checkpoint raised
        try:
            return fut.result()
        finally:
            # A raised error's traceback holds this frame: without these, a
            # cycle through the futures (which hold the error) again.
            fut = future = None  # type: ignore[assignment]

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` in the asyncio thread (fire and forget)."""
        self.loop.call_soon_threadsafe(fn)

    def close(self) -> None:
        """Stop the loop (the thread ends)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class AsyncioInTrio(AsyncioThread):
    """An asyncio event loop stepped by a trio system task, in trio's thread.

    It steps asyncio's loop one iteration at a time (never letting its select
    block) while asyncio has callbacks ready, and otherwise waits in trio for
    its epoll fd (readable when any of its sockets is) or its next timer.
    Its time is trio's, so both agree on deadlines (and trio's test clocks
    drive its timers too). The loop is closed when the trio run ends.
    This uses asyncio's private loop internals (`_run_once`, `_ready`,
    `_scheduled`, `_selector`), present from 3.11 through 3.14.
    Create within a trio run.
    """

    def __init__(self) -> None:  # noqa: D107 - no thread: see the class
        self.loop = asyncio.new_event_loop()
        self.loop.time = trio.current_time  # type: ignore[method-assign]
        self._sleep: trio.CancelScope | None = None
        trio.lowlevel.spawn_system_task(self._drive, name="xenonfs asyncio loop")

    async def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        task = trio.lowlevel.current_task()
        # An empty context: the coroutine sees none of the trio task's.
        future = self.loop.create_task(_call(make), context=contextvars.Context())
        future.add_done_callback(lambda _: trio.lowlevel.reschedule(task))
        self._poke()

        def abort(raise_cancel: Any) -> trio.lowlevel.Abort:
            future.cancel()  # the callback above still reschedules us
            self._poke()
            return trio.lowlevel.Abort.FAILED

        await trio.lowlevel.wait_task_rescheduled(abort)
        try:
            if future.cancelled():
                await trio.lowlevel.checkpoint()  # delivers our cancel
                raise trio.TooSlowError("cancelled")  # pragma: no cover - it raised
            return future.result()
        finally:
            # A raised error's traceback holds this frame, and the task holds
            # the error: without this, a cycle kept until the cyclic GC runs.
            future = None  # type: ignore[assignment]

    run.__doc__ = AsyncioThread.run.__doc__

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` in the loop soon (fire and forget; nothing once closed)."""
        if not self.loop.is_closed():
            self.loop.call_soon(fn)
            self._poke()

    def close(self) -> None:
        """Nothing: the loop closes when the trio run ends."""

    def _poke(self) -> None:
        """Wake the driver: work came from trio's side (no fd says so)."""
        if self._sleep is not None:
            self._sleep.cancel()

    def _step(self) -> None:
        loop = self.loop
        loop._stopping = True  # type: ignore[attr-defined]  # select's timeout is 0 then
        asyncio.events._set_running_loop(loop)
        try:
            loop._run_once()  # type: ignore[attr-defined]
        finally:
            asyncio.events._set_running_loop(None)
            loop._stopping = False  # type: ignore[attr-defined]

    async def _drive(self) -> None:
        loop = self.loop
        ready, scheduled = loop._ready, loop._scheduled  # type: ignore[attr-defined]
        fd = loop._selector.fileno()  # type: ignore[attr-defined]
        loop._thread_id = threading.get_ident()  # type: ignore[attr-defined]  # is_running()
        try:
            while True:
                self._step()
                if ready:
                    await trio.lowlevel.checkpoint()
                    continue
                deadline = scheduled[0]._when if scheduled else math.inf
                with trio.CancelScope(deadline=deadline) as self._sleep:
                    await trio.lowlevel.wait_readable(fd)
                self._sleep = None
        finally:
            self._sleep = None
            for pending in asyncio.all_tasks(loop):
                pending.cancel()
            for _ in range(3):  # let cancelled tasks end (and close what they hold)
                self._step()
            loop._thread_id = None  # type: ignore[attr-defined]
            loop.close()


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_shared: AsyncioThread | None = None
_lock = threading.Lock()
_per_run: trio.lowlevel.RunVar[AsyncioInTrio] = trio.lowlevel.RunVar("xenonfs_asyncio")


def shared() -> AsyncioThread:
    """Call within a trio run.

    Returns: the trio run's asyncio loop (made on first use); with
    ``XENONFS_ASYNCIO=thread``, the process's asyncio thread.
    """
    if os.environ.get("XENONFS_ASYNCIO") == "thread":
        global _shared
        with _lock:
            if _shared is None:
                _shared = AsyncioThread()
            return _shared
    try:
        return _per_run.get()
    except LookupError:
        aio = AsyncioInTrio()
        _per_run.set(aio)
        return aio
