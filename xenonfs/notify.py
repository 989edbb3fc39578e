"""systemd's notify protocol (READY/STATUS/WATCHDOG/STOPPING) via systemd-python.

Every call is a no-op when $NOTIFY_SOCKET is unset (not started by systemd).
"""

from __future__ import annotations

import os

import trio
from systemd import daemon as sd_daemon


class Notifier:
    """Tells systemd about the daemon's life cycle."""

    def _send(self, text: str) -> None:
        if os.environ.get("NOTIFY_SOCKET"):
            sd_daemon.notify(text)

    def ready(self, status: str) -> None:
        """Args: status: a one-line summary shown by ``systemctl status``."""
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, text: str) -> None:
        """Args: text: a one-line summary."""
        self._send(f"STATUS={text}")

    def reloading(self) -> None:
        """A SIGHUP reload has begun (`ready` ends it)."""
        self._send("RELOADING=1")

    def stopping(self) -> None:
        """Shutdown has begun (flushing, unmounting)."""
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        """Still alive."""
        self._send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Returns: seconds between `watchdog` calls, or None (see
        `watchdog_interval` of this module)."""
        return watchdog_interval()


def watchdog_interval() -> float | None:
    """Returns: seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), or
    None when systemd asked for none (or asked another process)."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2e6


async def watchdog_task(notifier: Notifier, *,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Ping the watchdog forever (returns at once when there is none).

    The pings come from the trio loop itself, so a hung loop stops them and
    systemd restarts the daemon: that is the point of the watchdog.
    """
    interval = notifier.watchdog_interval()
    task_status.started()
    if interval is None:
        return
    while True:
        notifier.watchdog()
        await trio.sleep(interval)
