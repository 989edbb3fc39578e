"""The worker's heap trimming (`xenonfs.daemon.memory`), on glibc's real heap."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a child, for a heap of its own: what an upload leaves behind. Blocks of
# 256 KiB (its write requests) come from the heap once a bigger block was
# freed, small objects made meanwhile stay, and freeing the big ones leaves
# holes that malloc keeps resident.
_PROBE = textwrap.dedent("""
    import ctypes, trio
    from xenonfs.daemon import memory

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    memory.EVERY = 0.1

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(memory.trim_forever)
            await trio.sleep(0.3)
            libc.free(libc.malloc(4 << 20))  # glibc's mmap threshold rises to 4 MiB
            big, kept = [], []
            for _ in range(24):  # 6 MiB: less than memory.GROWTH
                block = libc.malloc(256 << 10)
                ctypes.memset(block, 1, 256 << 10)
                big.append(block)
                kept.append(libc.malloc(64))
            for block in big:
                libc.free(block)
            grown = memory.resident()
            await trio.sleep(1.0)  # the size stands still meanwhile
            print((grown - memory.resident()) >> 20)
            nursery.cancel_scope.cancel()
    trio.run(main)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim only")
def test_what_a_finished_upload_left_in_the_heap_goes_back() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 4, f"only {out.stdout.strip()} MiB given back"
