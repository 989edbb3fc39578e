"""A mount worker: one process per mount, started by the daemon.

pyfuse3 serves a single FUSE session per process, so the daemon cannot hold
several mounts itself. Each worker serves one `Mount` and reaches the
daemon's engine through a `SharedEngine` that the daemon keeps up to date.
A crashed worker takes only its own mount down; its dirty files stay in its
cache and are uploaded when the mount comes back.

Run as ``python -m xenonfs.daemon.worker FD`` where FD is the worker's end of
a socketpair (`pipe`); the first message is ``{"op": "start", ...}``.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import trio

from ..client import rpc
from ..client.client import XenonClient
from ..client.connection import Connection
from ..engine.shared import SharedEngine
from ..logs import register_secret, set_default_field, setup_logging
from ..mount import Mount, MountError, tune_gc, user_error
from .memory import trim_forever
from ..source import MountOptions, SourceError, parse_source
from .pipe import Pipe, PipeClosed

log = logging.getLogger("xenonfs.worker")


class Worker:
    """Serves one mount and answers the daemon's requests.

    Args:
        pipe: the channel to the daemon.
        start: the daemon's start message.
    """

    def __init__(self, pipe: Pipe, start: dict[str, Any]) -> None:
        self.pipe = pipe
        self.engine = SharedEngine()
        self.engine.update(start["engine"])
        options = MountOptions(**start["options"])
        options.secret = start.get("secret") or None
        # One mount per worker: its engine calls' deadlines are the process's.
        rpc.set_deadlines(options.engine_timeout)
        self.mount = Mount(parse_source(start["source"]), Path(start["mountpoint"]), options,
                           start.get("trusted_ca"))
        self.name = start["name"]
        self._unmount_ids: list[int] = []

    async def _answer(self, message: dict[str, Any]) -> None:
        op, ident = message.get("op"), message.get("id")
        vfs = self.mount.vfs
        reply: dict[str, Any] = {"id": ident}
        if op == "engine":
            self.engine.update(message["engine"])
            return
        if op == "unmount":
            how = message.get("how", "force")
            if how == "lazy":  # answered now: the mount ends when its last user leaves
                try:
                    await self.mount.unmount(lazy=True)
                    reply["detached"] = True
                except MountError as exc:
                    reply["error"] = str(exc)
                await self.pipe.send(reply)
                return
            # Answered once the mount has ended and uploaded what was dirty (`run`).
            self._unmount_ids.append(ident)
            if how == "force":
                self.mount.stop()
                return
            try:
                await self.mount.unmount()
            except MountError as exc:  # busy: refused, the mount stays as it was
                self._unmount_ids.remove(ident)
                await self.pipe.send({"id": ident, "error": str(exc), "busy": True})
            return
        if vfs is None:
            reply["error"] = "not mounted yet"
        elif op == "status":
            reply["status"] = {**vfs.status(), "backend": self.mount.backend_name}
        elif op == "transfers":
            reply["transfers"] = [
                {"path": t.path, "direction": t.direction, "done": t.done,
                 "total": t.total, "rate": t.rate}
                for t in vfs.activity.transfers.values()]
        elif op == "flush":
            reply["still_dirty"] = await vfs.upload_dirty()
        elif op == "forget":  # `xenonfs refresh`: metadata and cached data
            try:
                reply["dropped"] = vfs.refresh(message.get("path") or "/")
            except OSError as exc:  # a dirty file there: refused, nothing dropped
                reply["error"] = exc.strerror or str(exc)
        elif op in ("jobs", "submit", "cancel"):
            reply.update(await self._jobs(op, message))
        else:
            reply["error"] = f"unknown request {op!r}"
        await self.pipe.send(reply)

    async def _jobs(self, op: str, message: dict[str, Any]) -> dict[str, Any]:
        jobs = self.mount.jobs
        if jobs is None:
            return {"error": "this mount has no scheduler (see -o scheduler=URL)"}
        try:
            if op == "submit":
                await jobs.submit(message["name"], message["spec"].encode(), message["format"])
            elif op == "cancel":
                if message["name"] not in jobs.jobs:
                    return {"error": f"no job {message['name']!r}"}
                await jobs.cancel(message["name"])
        except OSError as exc:
            return {"error": exc.strerror or str(exc)}
        wanted = [message["name"]] if op != "jobs" else list(jobs.jobs)
        records = [jobs.jobs[n] for n in wanted if n in jobs.jobs]
        return {"jobs": [json.loads(r.status_json(jobs.runner.exit_code_known)) | {"name": r.name}
                         for r in records]}

    async def _commands(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    message = await self.pipe.receive()
                except PipeClosed:
                    # The daemon is gone, and with it the engine: unmount
                    # (dirty files stay in the cache for the next mount).
                    log.warning("%s: the daemon went away; unmounting", self.name)
                    self.mount.stop()
                    return
                nursery.start_soon(self._answer, message, name=f"request {message.get('op')}")

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
            async for _ in sigs:
                self.mount.stop()
                return

    async def run(self) -> int:
        """Mount, serve, report. Returns: the process exit code."""
        client = XenonClient(Connection(self.engine))  # type: ignore[arg-type]
        unmounted = trio.Event()

        async def serve(task_status: trio.TaskStatus[None]) -> None:
            # Mount.run returns once unmounted, after trying the dirty files.
            try:
                await self.mount.run(client, task_status=task_status)
            finally:
                unmounted.set()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._commands, name="commands")
                nursery.start_soon(self._signals, name="signals")
                nursery.start_soon(trim_forever, name="heap trim")
                try:
                    await nursery.start(serve, name=f"mount {self.name}")
                except Exception as raised:  # noqa: BLE001 - every failure is told to the daemon
                    found = user_error(raised)
                    if found is None:  # not one of ours: a bug; keep its traceback
                        log.error("mount failed", exc_info=raised)
                        found = _innermost(raised)
                        why = f"{type(found).__name__}: {found}"
                    else:
                        why = str(found)
                    await self.pipe.send({"event": "failed", "error": why})
                    nursery.cancel_scope.cancel()
                    return 2
                await self.pipe.send({"event": "mounted"})
                await unmounted.wait()
                still_dirty = list(self.mount.still_dirty)
                try:
                    await self.pipe.send({"event": "unmounted", "still_dirty": still_dirty})
                    for ident in self._unmount_ids:
                        await self.pipe.send({"id": ident, "still_dirty": still_dirty})
                except PipeClosed:
                    pass
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                client.connection.close()
        return 0


def _innermost(exc: BaseException) -> BaseException:
    """Returns: the first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _main(fd: int) -> int:
    pipe = Pipe(socket.socket(fileno=fd))
    try:
        start = await pipe.receive()
    except PipeClosed:
        return 2
    setup_logging(int(start.get("log_level", logging.INFO)))
    tune_gc()
    set_default_field("MOUNT", start.get("name", "?"))
    if start.get("secret"):
        register_secret(start["secret"])
    try:
        worker = Worker(pipe, start)
    except SourceError as exc:
        await pipe.send({"event": "failed", "error": str(exc)})
        return 2
    return await worker.run()


def main(argv: list[str] | None = None) -> int:
    """Args: argv: [FD]. Returns: exit code."""
    # A crash in C (libfuse, grpc) then leaves a Python stack on stderr, which
    # the daemon keeps to say why the worker died.
    faulthandler.enable()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m xenonfs.daemon.worker FD (started by the xenonfs daemon)",
              file=sys.stderr)
        return 2
    return trio.run(_main, int(args[0]))


if __name__ == "__main__":
    sys.exit(main())
