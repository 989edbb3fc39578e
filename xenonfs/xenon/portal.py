"""A trio event loop in a background thread, for the synchronous API.

The synchronous seed API (`xenonfs.xenon`) runs the async client in one
daemon thread and hands each call over with `trio.from_thread.run`. The
engine JVM is forked from that thread, so it lives and dies with it.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any, Awaitable, Callable

import trio

from ..client import XenonClient, open_client
from ..engine.process import EngineSettings

log = logging.getLogger("xenonfs.xenon")


class Portal:
    """Runs an engine + client in a background trio thread.

    Args:
        settings: engine settings.
    """

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.client: XenonClient | None = None
        self._thread = threading.Thread(target=self._main, name="xenonfs-portal", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            try:
                async with open_client(self._settings) as client:
                    self.client = client
                    self._ready.set()
                    await self._stop.wait()
            finally:
                self.client = None

        try:
            trio.run(main)
        except BaseException as exc:  # reported to the thread that called init()
            if not self._ready.is_set():
                self._error = exc
            else:
                log.error("xenonfs engine thread ended: %s", exc)
        finally:
            self._ready.set()

    @property
    def running(self) -> bool:
        """Returns: True while the loop thread runs."""
        return self._thread.is_alive() and self.client is not None

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``await fn(*args)`` in the loop thread and return its result.

        Raises:
            RuntimeError: the engine was stopped.
            Whatever ``fn`` raises.
        """
        if self._token is None or not self._thread.is_alive():
            raise RuntimeError("xenon is not running: call xenon.init() first")
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def stop(self, timeout: float = 30.0) -> None:
        """Close everything, stop the engine and the thread."""
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
            self._thread.join(timeout)


_portal: Portal | None = None
_lock = threading.Lock()


def start(settings: EngineSettings, do_not_exit: bool = False) -> Portal:
    """Start the shared portal (once).

    Args:
        settings: engine settings.
        do_not_exit: do not stop the engine at interpreter exit (it still dies
            with the process, as the engine never outlives its parent).

    Returns:
        The portal.
    """
    global _portal
    with _lock:
        if _portal is not None and _portal.running:
            log.warning("xenon.init() called again; the engine is already running")
            return _portal
        _portal = Portal(settings)
        if not do_not_exit:
            atexit.register(_portal.stop)
        return _portal


def current() -> Portal:
    """Returns: the running portal. Raises: RuntimeError before xenon.init()."""
    if _portal is None or not _portal.running:
        raise RuntimeError("xenon is not running: call xenon.init() first")
    return _portal


def shutdown() -> None:
    """Stop the shared portal, if any."""
    global _portal
    with _lock:
        if _portal is not None:
            _portal.stop()
            _portal = None
