"""The trio-asyncio bridge of the native backends (`xenonfs.backends.aio`):
a call's result is freed as soon as its caller drops it. A reference cycle
there kept every ranged read's 1 MiB until the cyclic GC ran, and a worker
streaming 1 GiB grew to 600-1700 MB."""

from __future__ import annotations

import asyncio
import gc
import weakref

import trio

from xenonfs.backends.aio import AsyncioThread


class Payload:
    """Stands for a read's bytes (bytes cannot be weakly referenced)."""


def test_a_result_is_freed_when_its_caller_drops_it() -> None:
    aio = AsyncioThread()

    async def make() -> Payload:
        await asyncio.sleep(0)
        return Payload()

    async def main() -> list[weakref.ref[Payload]]:
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
        aio.close()
    assert alive == []


def test_an_error_still_reaches_the_caller() -> None:
    aio = AsyncioThread()

    async def fail() -> None:
        raise OSError(5, "no")

    async def main() -> str:
        try:
            await aio.run(fail)
        except OSError as exc:
            return str(exc)
        return "no error"
    try:
        assert trio.run(main) == "[Errno 5] no"
    finally:
        aio.close()


class Failed(Exception):
    """An error that holds a payload (as a failed upload's frames hold its chunks)."""

    def __init__(self, payload: Payload) -> None:
        super().__init__("failed")
        self.payload = payload


def test_an_error_is_freed_when_its_caller_drops_it() -> None:
    aio = AsyncioThread()

    async def fail() -> None:
        raise Failed(Payload())

    async def main() -> weakref.ref[Payload]:
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
        aio.close()
    assert not alive
