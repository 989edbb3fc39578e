"""Jobs submitted through `.jobs/`, kept in sqlite so they survive restarts.

One database per user (XDG state dir), one row per (mount, name). Every
write is its own short transaction, so workers of different mounts can
share the file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JobRecord:
    """One job of a mount's `.jobs/` directory (what status.json shows, and more)."""

    name: str
    job_id: str
    scheduler: str
    spec: dict[str, Any]
    state: str = "SUBMITTED"
    running: bool = False
    done: bool = False
    exit_code: int | None = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    #: Submissions made (more than one when the scheduler failed to start it).
    attempts: int = 1

    def status_json(self, exit_code_known: bool = True) -> bytes:
        """Returns: the content of ``status.json``."""
        exit_code: Any = self.exit_code
        if self.done and not exit_code_known:
            exit_code = "unknown"  # e.g. `at` reports 0 whatever the job did
        data = {"state": self.state, "running": self.running, "done": self.done,
                "exit_code": exit_code, "error": self.error, "job_id": self.job_id,
                "scheduler": self.scheduler, "submitted_at": self.submitted_at,
                "finished_at": self.finished_at, "attempts": self.attempts}
        return (json.dumps(data, indent=2) + "\n").encode()


class JobStore:
    """The registry.

    Args:
        path: the sqlite file.
        mount: the mount whose jobs this store handles.
    """

    def __init__(self, path: Path, mount: str) -> None:
        self.mount = mount
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS jobs (mount TEXT, name TEXT, record TEXT, "
                         "PRIMARY KEY (mount, name))")

    def load(self) -> dict[str, JobRecord]:
        """Returns: this mount's jobs by name."""
        rows = self._db.execute("SELECT record FROM jobs WHERE mount = ?", (self.mount,))
        records = [JobRecord(**json.loads(r[0])) for r in rows]
        return {r.name: r for r in records}

    def save(self, record: JobRecord) -> None:
        """Args: record: insert or replace it."""
        self._db.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                         (self.mount, record.name, json.dumps(asdict(record))))

    def delete(self, name: str) -> None:
        """Args: name: forget this job."""
        self._db.execute("DELETE FROM jobs WHERE mount = ? AND name = ?", (self.mount, name))

    def close(self) -> None:
        """Close the database."""
        self._db.close()
