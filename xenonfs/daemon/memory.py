"""Give freed heap memory back to the system while a worker streams.

Data read through a native backend passes through many buffers made in the
asyncio thread and freed in the trio thread; glibc keeps some of that memory
in its arenas instead of returning it. Most of what a streaming worker once
held (600-1700 MB after 1 GiB) was no such thing but a reference cycle in
the trio-asyncio bridge that kept each read's bytes until the cyclic GC ran
(fixed in `backends.aio`; the worker now stays under 90 MB). What is left to
fragmentation `malloc_trim` gives back. It runs when the worker's resident
size grew by `GROWTH` since the last trim, or by `SETTLED` and then stood
still for a look (a transfer ended: a 256 MiB upload left the worker 40-70 MB
larger until the next big growth), so an idle or steady worker pays for at
most one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Any

import trio

log = logging.getLogger("xenonfs.daemon")

#: Bytes of growth of the resident size that make the next look trim.
GROWTH = 8 << 20
#: Bytes of growth that a look trims once the size stands still (within this).
SETTLED = 1 << 20
#: Seconds between looks.
EVERY = 1.0


def _trimmer() -> Any:
    """Returns: glibc's malloc_trim (None: another C library, nothing to do)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def resident() -> int:
    """Returns: this process's resident size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def trim_forever() -> None:
    """Trim the heap after each `GROWTH` of the resident size, and after a
    smaller growth that settled (runs until cancelled)."""
    trim = _trimmer()
    if trim is None:
        log.debug("no malloc_trim in this C library: freed heap memory stays with us")
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    low = last = resident()
    while True:
        await trio.sleep(EVERY)
        now = resident()
        if now - low >= GROWTH or (now - low >= SETTLED and abs(now - last) < SETTLED):
            trim(0)
            low = now = resident()
        else:
            low = min(low, now)
        last = now
