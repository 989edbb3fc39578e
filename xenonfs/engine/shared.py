"""An engine supervised by another process (the daemon), seen from a mount worker.

pyfuse3 serves one FUSE session per process, so every mount runs in its own
worker process; they all share the daemon's one engine. The daemon sends
each state change of its `Engine` as a small dict (`describe`); the worker
feeds it to `SharedEngine.update`, which offers the same view a `Connection`
uses (state, generation, wait_ready, alive, wait_changed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio

from .process import Endpoint, Engine, EngineError, EngineState
from .tls import TlsFiles

_TLS_FIELDS = ("ca_cert", "server_cert", "server_key", "client_cert", "client_key")


def describe(engine: Engine) -> dict[str, Any]:
    """Args: engine: the daemon's engine. Returns: what a worker needs to reach it
    (paths of the TLS files, never their contents)."""
    info: dict[str, Any] = {"state": engine.state.value, "generation": engine.generation,
                            "restarts": engine.restarts, "error": engine.last_error}
    if engine.state is EngineState.READY:
        endpoint = engine.endpoint()
        info.update(address=endpoint.address, pid=endpoint.pid, run_id=endpoint.run_id,
                    tls={name: str(getattr(endpoint.tls, name)) for name in _TLS_FIELDS})
    return info


class SharedEngine:
    """The `Engine` interface a `Connection` needs, fed by `update`."""

    def __init__(self) -> None:
        self.state = EngineState.STARTING
        self.generation = 0
        self.restarts = 0
        self.last_error: str | None = None
        self._endpoint: Endpoint | None = None
        self._changed = trio.Event()

    @property
    def pid(self) -> int | None:
        """Returns: the JVM's pid while it is ready."""
        return self._endpoint.pid if self._endpoint else None

    def update(self, info: dict[str, Any]) -> None:
        """Args: info: a `describe` dict from the daemon."""
        self.state = EngineState(info["state"])
        self.generation = int(info["generation"])
        self.restarts = int(info.get("restarts", 0))
        self.last_error = info.get("error")
        if self.state is EngineState.READY:
            tls = TlsFiles(**{name: Path(info["tls"][name]) for name in _TLS_FIELDS})
            self._endpoint = Endpoint(info["address"], tls, self.generation, int(info["pid"]),
                                      info.get("run_id", ""))
        else:
            self._endpoint = None
        self._changed.set()
        self._changed = trio.Event()

    def endpoint(self) -> Endpoint:
        """Returns: the current endpoint. Raises: EngineError: not ready."""
        if self.state is not EngineState.READY or self._endpoint is None:
            raise EngineError(f"engine is {self.state.value}" +
                              (f": {self.last_error}" if self.last_error else ""))
        return self._endpoint

    async def wait_ready(self, timeout: float | None = None) -> Endpoint:
        """Args: timeout: seconds, None for as long as the daemon keeps trying.

        Returns: the ready endpoint.

        Raises:
            EngineError: the engine failed or stopped, or the timeout passed.
        """
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while self.state not in (EngineState.FAILED, EngineState.STOPPED):
                if self.state is EngineState.READY:
                    return self.endpoint()
                await self._changed.wait()
        raise EngineError(f"engine not ready ({self.state.value})" +
                          (f": {self.last_error}" if self.last_error else ""))

    def alive(self) -> bool:
        """Returns: True while the ready generation's JVM runs."""
        if self._endpoint is None:
            return False
        try:
            os.kill(self._endpoint.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    async def wait_changed(self) -> None:
        """Wait for the next `update`."""
        await self._changed.wait()

    def stop(self) -> None:
        """The daemon owns the engine: nothing to stop here."""
