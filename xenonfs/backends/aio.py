"""asyncio libraries (asyncssh) called from trio: one asyncio event loop in a
thread of its own, shared by the process's native backends.

A trio task hands a coroutine to that loop (`AsyncioThread.run`) and sleeps
until it is done; the loop's completion callback wakes the task through its
trio token, so no trio worker thread waits per call. Cancelling the trio task
cancels the coroutine in its loop. The cost of one call is two cross-thread
wake-ups (measured in the README).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_shared: AsyncioThread | None = None
_lock = threading.Lock()


def shared() -> AsyncioThread:
    """Returns: the process's asyncio thread (started on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = AsyncioThread()
        return _shared
