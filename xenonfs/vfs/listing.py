"""A directory listing that fills while the engine streams it.

The FUSE layer hands entries to the kernel as they arrive, so `ls` and the
kernel work on the first entries while the rest are still on the way.

Locking: everything runs in the trio thread. The vfs's fill task is the one
writer (`add`, `finish`); readers wait on an event that is replaced at each
change, so a waiter never misses one.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from .remote import RemoteAttr

if TYPE_CHECKING:
    from .core import Attr

log = logging.getLogger("xenonfs.vfs")

#: Names of one directory found by remote stats (within ``dir_timeout``)
#: after which it is listed (`ListingMixin._found_in`).
LIST_AFTER = 4

#: Stats sent together when a directory's known names need fresh attributes.
STATS_IN_FLIGHT = 64

Entry = tuple[str, "Attr"]


class Listing:
    """Entries of one directory, in order, growing until `done`."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.done = False
        self.error: OSError | None = None
        self._changed = trio.Event()

    @classmethod
    def complete(cls, entries: list[Entry]) -> "Listing":
        """Returns: a finished listing of ``entries``."""
        listing = cls()
        listing.entries = entries
        listing.done = True
        return listing

    def add(self, entries: list[Entry]) -> None:
        """Append ``entries`` and wake the readers."""
        if entries:
            self.entries.extend(entries)
            self._wake()

    def finish(self, error: OSError | None = None) -> None:
        """Mark the end (``error``: the listing failed there)."""
        self.done, self.error = True, error
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_beyond(self, count: int) -> None:
        """Wait until more than ``count`` entries are there, or the end.

        Raises:
            OSError: the listing failed with no entry beyond ``count``.
        """
        while len(self.entries) <= count and not self.done:
            await self._changed.wait()
        if len(self.entries) <= count and self.error is not None:
            raise self.error

    async def wait_done(self) -> list[Entry]:
        """Returns: every entry, once the listing is complete.

        Raises:
            OSError: the listing failed.
        """
        while not self.done:
            await self._changed.wait()
        if self.error is not None:
            raise self.error
        return self.entries


def _prefix(path: str) -> str:
    """Returns: ``path`` with one trailing slash (children are prefix + name)."""
    return path if path.endswith("/") else path + "/"


class ListingMixin:
    """The directory part of `Vfs` (kept here to keep that module short):
    listings stream in through `Listing`, then fill the attribute and
    directory caches. Uses the `Vfs` attributes declared below."""

    inodes: Any
    remote: Any
    nursery: trio.Nursery
    attr_timeout: float
    dir_timeout: float
    _attrs: dict[str, tuple[RemoteAttr | None, float]]
    _dirs: dict[str, tuple[dict[str, None], float]]
    _dir_changes: dict[str, int]
    _own_dirs: set[str]
    _listings: dict[str, Listing]
    _misses: dict[str, tuple[set[str] | None, float]]

    if TYPE_CHECKING:  # defined by Vfs
        async def _stat(self, path: str) -> RemoteAttr | None: ...

        def _attr(self, ino: int, path: str, remote: RemoteAttr) -> Attr: ...

    def _entry(self, prefix: str, name: str, attr: RemoteAttr) -> Entry:
        child = prefix + name
        return name, self._attr(self.inodes.ino(child, lookup=False), child, attr)

    async def readdir(self, ino: int) -> list[tuple[str, Attr]]:
        """Returns: (name, attributes) of every entry of directory ``ino``."""
        return await (await self.open_listing(ino)).wait_done()

    async def open_listing(self, ino: int) -> Listing:
        """Start listing directory ``ino`` (or share a listing under way).

        Returns: the listing, once it has its first entry or its end.

        Raises:
            OSError: the listing failed before its first entry.
        """
        path = self.inodes.path(ino)
        cached = self._dirs.get(path)
        if cached is not None and cached[1] > time.monotonic():
            prefix = _prefix(path)
            now = time.monotonic()
            names = [n for n in cached[0] if not (path == "/" and n == ".jobs")]
            found: dict[str, RemoteAttr | None] = {}
            for name in names:
                hit = self._attrs.get(prefix + name)  # fresh after a listing: no await per entry
                if hit is not None and hit[1] > now:
                    found[name] = hit[0]
            await self._stat_all(prefix, [n for n in names if n not in found], found)
            return Listing.complete([self._entry(prefix, name, found[name]) for name in names
                                     if found.get(name) is not None])
        listing = self._listings.get(path)
        if listing is None:
            listing = self._listings[path] = Listing()
            self.nursery.start_soon(self._fill, path, listing)
        await listing.wait_beyond(0)
        return listing

    async def _stat_all(self, prefix: str, names: list[str],
                        found: dict[str, RemoteAttr | None]) -> None:
        """Stat ``prefix + name`` of each of ``names`` into ``found``, all
        in flight together (one by one, `rm -r` of a tree made here waited
        a round trip per name at each directory it opened)."""
        limit = trio.CapacityLimiter(STATS_IN_FLIGHT)
        errors: list[OSError] = []

        async def one(name: str) -> None:
            async with limit:
                if errors:
                    return
                try:
                    found[name] = await self._stat(prefix + name)
                except OSError as exc:  # the caller's error, not an exception group
                    errors.append(exc)

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(one, name)
        if errors:
            raise errors[0]

    def _found_in(self, path: str, name: str) -> None:
        """A remote stat found ``name`` in directory ``path``: `LIST_AFTER`
        different names found so within ``dir_timeout`` list the directory,
        in the background, and the listing's attributes answer the lookups
        that follow (rsync, make and git stat every name of a tree they
        compare, one by one: one listing instead of a round trip per name).
        The stats go ahead meanwhile, so a big directory costs no lookup a
        wait. Names not found do not count (a listing cannot say "not there"
        of a directory others may add to: `tar x` into one gains nothing),
        nor does open's revalidation, and a directory is listed so at most
        once per ``dir_timeout``."""
        now = time.monotonic()
        if path in self._listings or self._dirs.get(path, (None, 0.0))[1] > now:
            return  # listed, or being listed, already
        if path in self._own_dirs or self.attr_timeout <= 0:
            # Made here: its names are known, which a listing would undo. No
            # attribute cache: a listing would answer no lookup.
            return
        names, since = self._misses.get(path, (set(), now))
        if now - since > self.dir_timeout:
            names, since = set(), now
        elif names is None:
            return  # listed since `since`
        names.add(name)
        if len(names) < LIST_AFTER:
            if len(self._misses) >= 4096:
                self._misses.clear()  # a bound, not a cache: counting starts again
            self._misses[path] = (names, since)
            return
        self._misses[path] = (None, now)
        listing = self._listings[path] = Listing()
        # Kept as a stat's answer is (not as long as a readdir's, below):
        # others' changes show as soon as without the listing.
        self.nursery.start_soon(self._fill, path, listing, self.attr_timeout,
                                name=f"listing {path}")

    async def _fill(self, path: str, listing: Listing, keep: float | None = None) -> None:
        """List ``path`` into ``listing`` as the entries arrive, then cache
        it (the attributes for ``keep`` seconds; default: as long as a
        listing is kept, for the lookups of `ls -l` right after it)."""
        if keep is None:
            keep = max(self.attr_timeout, self.dir_timeout)
        prefix = _prefix(path)
        seen: set[str] = set()  # a reconnect's retry repeats what was shown
        changes = self._dir_changes.get(path, 0)

        def unchanged() -> bool:
            """Returns: whether we changed no name in ``path`` since the
            listing began (else what it says may be from before that)."""
            return self._dir_changes.get(path, 0) == changes

        def on_chunk(items: list[tuple[str, RemoteAttr]]) -> None:
            until = time.monotonic() + keep
            out = []
            for name, attr in items:
                if name in seen or (path == "/" and name == ".jobs"):
                    continue
                seen.add(name)
                if unchanged():
                    self._attrs[prefix + name] = (attr, until)
                out.append(self._entry(prefix, name, attr))
            listing.add(out)

        try:
            full = await self.remote.listdir(path, on_chunk)
            # From the end of the listing (a big one takes seconds), and as long
            # as the listing itself: `ls -l` looks every entry up right after.
            until = time.monotonic() + keep
            if unchanged():
                for name, attr in full:
                    self._attrs[prefix + name] = (attr, until)
                self._dirs[path] = (dict.fromkeys(name for name, _ in full), until)
                self._own_dirs.discard(path)  # the server's names: others may add some
            listing.finish()
        except OSError as exc:
            listing.finish(exc)
        except Exception:
            log.exception("listing %s", path)
            listing.finish(OSError(errno.EIO, f"{path}: listing failed"))
        finally:
            self._listings.pop(path, None)
            if not listing.done:  # cancelled (unmount)
                listing.finish(OSError(errno.EIO, f"{path}: listing failed"))
