"""The cache's persisted metadata: one SQLite database per mount.

One row per cache entry (its key, a JSON object). It was one small JSON
file per entry, written to a temporary name and renamed over the old one:
each save made a new inode and freed one. On ext4 without a journal (this
project's test machines) the allocator steps over recently freed inodes one
by one, so every save and every new file in the cache cost 0.2-0.9 ms of
kernel time, two or three times per small file written. A database in WAL
mode appends each save to one file; a commit is in the kernel's page cache
when it returns, so it survives the process being killed (as the renamed
file did; neither is synced to disk).
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger("xenonfs.cache")

#: The database's name inside a mount's cache directory.
NAME = "meta.sqlite"

#: Deletes `MetaStore.delete` may hold back (``soon``), done together in one
#: transaction: ``rm -r`` of many cached files costs one commit per batch.
BATCH = 256


def _os_error(exc: sqlite3.Error, what: str) -> OSError:
    full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return OSError(errno.ENOSPC if full else errno.EIO, f"cache metadata, {what}: {exc}")


class MetaStore:
    """Entry metadata by key, persisted in ``directory / NAME``.

    Args:
        directory: the mount's cache directory (its ``meta/`` holds the
            per-entry JSON files of earlier versions: taken over, then removed).

    Raises:
        OSError: the database cannot be opened (EIO; ENOSPC on a full disk).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / NAME
        try:
            # Autocommit: every save is its own transaction, as a renamed
            # file was. Only the mount's trio thread uses it.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS entries"
                             " (key TEXT PRIMARY KEY, info TEXT NOT NULL)")
        except sqlite3.Error as exc:
            raise _os_error(exc, f"opening {self.path}") from None
        #: Keys whose rows go at the next `flush` (their data files are gone:
        #: a row left by a crash meanwhile is dropped by the next load).
        self._doomed: set[str] = set()
        self._take_over(directory / "meta")

    def _take_over(self, legacy: Path) -> None:
        # An older version's dirty entries must not be forgotten by an upgrade.
        if not legacy.is_dir():
            return
        for meta in sorted(legacy.glob("*.json")):
            try:
                info = json.loads(meta.read_text())
            except (OSError, ValueError):
                log.warning("unreadable cache metadata %s; ignoring it", meta)
            else:
                self.put(meta.stem, info)
            meta.unlink(missing_ok=True)
        for tmp in legacy.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        try:
            legacy.rmdir()
        except OSError:
            pass

    def put(self, key: str, info: dict[str, Any]) -> None:
        """Persist ``info`` as the metadata of ``key`` (replacing any).

        Raises:
            OSError: ENOSPC when the disk is full, EIO otherwise.
        """
        self._doomed.discard(key)  # a new entry under the key: its row stays
        try:
            self._db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?)",
                             (key, json.dumps(info)))
        except sqlite3.Error as exc:
            raise _os_error(exc, f"saving {info.get('path')}") from None

    def delete(self, key: str, soon: bool = False) -> None:
        """Forget ``key`` (nothing if it is not there); ``soon``: at the next
        `flush`, only for an entry whose data file is gone already.

        Raises:
            OSError: ENOSPC when the disk is full (a delete is written too).
        """
        if soon:
            self._doomed.add(key)
            if len(self._doomed) >= BATCH:
                self.flush()
            return
        self._doomed.discard(key)
        try:
            self._db.execute("DELETE FROM entries WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise _os_error(exc, f"deleting {key}") from None

    def settle(self, key: str) -> None:
        """Delete ``key``'s row now if `delete` held it back (a new entry
        under that key is about to have data: a kill before its first save
        must not let the next load pair the old row with the new bytes).

        Raises:
            OSError: as `delete`.
        """
        if key in self._doomed:
            self.delete(key)

    def flush(self) -> None:
        """Delete the rows `delete` held back, in one transaction. A failure
        is logged: those rows' data files are gone, so a load drops them."""
        if not self._doomed:
            return
        keys, self._doomed = [(k,) for k in self._doomed], set()
        try:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM entries WHERE key = ?", keys)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            log.warning("could not delete %d cache metadata rows (%s); the next mount "
                        "drops them", len(keys), exc)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields: (key, metadata) of every entry, by key."""
        self.flush()
        try:
            rows = self._db.execute("SELECT key, info FROM entries ORDER BY key").fetchall()
        except sqlite3.Error as exc:
            raise _os_error(exc, f"reading {self.path}") from None
        for key, text in rows:
            try:
                yield key, json.loads(text)
            except ValueError:
                log.warning("unreadable cache metadata for %s; ignoring it", key)
