"""The trio-asyncio bridge of the native backends (`xenonfs.backends.aio`):
a call's result is freed as soon as its caller drops it. A reference cycle
there kept every ranged read's 1 MiB until the cyclic GC ran, and a worker
streaming 1 GiB grew to 600-1700 MB."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest
import trio

from xenonfs.backends.aio import AsyncioInTrio, AsyncioThread

#: Both hosts of the loop; each made inside the trio run that uses it.
HOSTS = pytest.mark.parametrize("host", [AsyncioInTrio, AsyncioThread],
                                ids=["in-trio", "thread"])


class Payload:
    """Stands for a read's bytes (bytes cannot be weakly referenced)."""


@HOSTS
def test_a_result_is_freed_when_its_caller_drops_it(host: type[AsyncioThread]) -> None:
    made: list[AsyncioThread] = []

    async def make() -> Payload:
        await asyncio.sleep(0)
        return Payload()

    async def main() -> list[weakref.ref[Payload]]:
        aio = host()
        made.append(aio)
        refs = []
        for _ in range(3):
            result = await aio.run(make)
            refs.append(weakref.ref(result))
            del result
        await trio.sleep(0.1)  # the asyncio side is done with its task too
        return refs

    gc.disable()  # only reference counting may free them
    try:
        refs = trio.run(main)
        alive = [r for r in refs if r() is not None]
    finally:
        gc.enable()
        for aio in made:
            aio.close()
    assert alive == []


@HOSTS
def test_an_error_still_reaches_the_caller(host: type[AsyncioThread]) -> None:
    made: list[AsyncioThread] = []

    async def fail() -> None:
        raise OSError(5, "no")

    async def main() -> str:
        aio = host()
        made.append(aio)
        try:
            await aio.run(fail)
        except OSError as exc:
            return str(exc)
        return "no error"
    try:
        assert trio.run(main) == "[Errno 5] no"
    finally:
        for aio in made:
            aio.close()


class Failed(Exception):
    """An error that holds a payload (as a failed upload's frames hold its chunks)."""

    def __init__(self, payload: Payload) -> None:
        super().__init__("failed")
        self.payload = payload


@HOSTS
def test_an_error_is_freed_when_its_caller_drops_it(host: type[AsyncioThread]) -> None:
    made: list[AsyncioThread] = []

    async def fail() -> None:
        raise Failed(Payload())

    async def main() -> weakref.ref[Payload]:
        aio = host()
        made.append(aio)
        try:
            await aio.run(fail)
        except Failed as exc:
            ref = weakref.ref(exc.payload)
        await trio.sleep(0.1)
        return ref

    gc.disable()
    try:
        ref = trio.run(main)
        alive = ref() is not None
    finally:
        gc.enable()
        for aio in made:
            aio.close()
    assert not alive


def test_the_loop_runs_in_trios_thread_and_its_timers_do_not_hold_trio_up() -> None:
    """The default bridge steps asyncio in trio's thread: a coroutine runs
    there, asyncio timers fire while trio tasks go on, and a trio cancel
    reaches the coroutine."""
    from xenonfs.backends.aio import shared

    async def where() -> int:
        await asyncio.sleep(0.05)  # an asyncio timer
        return threading.get_ident()

    async def forever() -> None:
        await asyncio.sleep(3600)

    async def main() -> tuple[bool, int, int, bool, bool]:
        aio = shared()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await trio.sleep(0.005)
                ticks += 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            ident = await aio.run(where)
            nursery.cancel_scope.cancel()
        cancelled = False
        with trio.move_on_after(0.1) as scope:
            await aio.run(forever)
        cancelled = scope.cancelled_caught
        left = [t for t in asyncio.all_tasks(aio.loop) if not t.done()]
        return (isinstance(aio, AsyncioInTrio), ident, ticks, cancelled, left == [])

    is_inline, ident, ticks, cancelled, nothing_left = trio.run(main)
    assert is_inline
    assert ident == threading.get_ident()
    assert ticks >= 3  # trio ran while asyncio's timer was pending
    assert cancelled and nothing_left


def test_the_loop_is_closed_when_the_trio_run_ends() -> None:
    from xenonfs.backends.aio import shared

    async def main() -> asyncio.AbstractEventLoop:
        aio = shared()
        assert shared() is aio  # one per run
        await aio.run(lambda: asyncio.sleep(0))
        return aio.loop

    first = trio.run(main)
    second = trio.run(main)
    assert first is not second
    assert first.is_closed() and second.is_closed()
