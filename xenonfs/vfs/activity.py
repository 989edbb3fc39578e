"""What a mount is doing right now: transfers in progress and recent errors
(for `xenonfs status`; nothing here changes behaviour)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Transfer:
    """One upload or download in progress."""

    path: str
    direction: str  # "upload" | "download"
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Returns: bytes per second since the start."""
        return self.done / max(time.monotonic() - self.started, 1e-3)


class Activity:
    """Transfers in progress and the last errors of one mount."""

    def __init__(self, keep_errors: int = 20) -> None:
        self.transfers: dict[int, Transfer] = {}
        self.errors: deque[str] = deque(maxlen=keep_errors)
        self._next = 0

    def start(self, path: str, direction: str, total: int) -> int:
        """Returns: a key for `progress` and `finish`."""
        self._next += 1
        self.transfers[self._next] = Transfer(path, direction, total)
        return self._next

    def progress(self, key: int, done: int) -> None:
        """Args: key: from `start`; done: bytes so far."""
        transfer = self.transfers.get(key)
        if transfer is not None:
            transfer.done = done
            transfer.total = max(transfer.total, done)  # a file uploaded while written grows

    def finish(self, key: int) -> None:
        """Args: key: from `start`."""
        self.transfers.pop(key, None)

    def error(self, message: str) -> None:
        """Args: message: what went wrong (with the path), as logged."""
        self.errors.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}")
