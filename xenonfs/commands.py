"""CLI commands that talk to the daemon: mount, umount, status, stop, jobs.

Long waits show a progress display on a terminal (rich) and plain lines
otherwise, so logs of scripted runs stay readable.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import grpc
from google.protobuf.json_format import MessageToDict
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)
from rich.spinner import Spinner
from rich.table import Table

from ._proto import xenonfs_pb2 as pb
from .daemon.client import ControlClient, DaemonUnavailable, connect
from .source import MountOptions, parse_source

err = Console(stderr=True)


def _fail(message: str) -> int:
    print(f"xenonfs: {message}", file=sys.stderr)
    return 1


def _background(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _wait_with_transfers(client: ControlClient, thread: threading.Thread, what: str,
                         mount: str | None) -> None:
    """Show uploads/downloads of ``mount`` (all if None) until ``thread`` ends."""
    def transfers() -> list[Any]:
        try:
            reply = client.call("Transfers", pb.Empty(), timeout=5)
        except grpc.RpcError:
            return []
        return [t for t in reply.transfers if mount is None or t.mount == mount]

    if err.is_terminal:
        # One bar per transfer (bytes done of total, rate, time left) under a
        # spinner line saying what is being waited for; the spinner has no
        # bar of its own, so nothing shows "0/?" while there is nothing to count.
        progress = Progress(TextColumn("  {task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(), console=err)
        with Live(Group(Spinner("dots", text=what), progress), console=err, transient=True,
                  refresh_per_second=4):
            tasks: dict[str, Any] = {}
            while thread.is_alive():
                seen = set()
                for t in transfers():
                    key = f"{t.direction} {t.mount}:{t.path}"
                    seen.add(key)
                    if key not in tasks:
                        tasks[key] = progress.add_task(key, total=t.bytes_total or None)
                    progress.update(tasks[key], completed=t.bytes_done,
                                    total=max(t.bytes_total, t.bytes_done) or None)
                for key in [k for k in tasks if k not in seen]:
                    progress.remove_task(tasks.pop(key))
                thread.join(0.5)
        return
    last = 0.0
    while thread.is_alive():
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            for t in transfers():
                total = f"{t.bytes_total / 1e6:.1f}" if t.bytes_total else "?"
                print(f"xenonfs: {what}: {t.direction} {t.path}: {t.bytes_done / 1e6:.1f} of "
                      f"{total} MB ({t.rate / 1e6:.1f} MB/s)", file=sys.stderr)
        thread.join(0.5)


def _long_call(client: ControlClient, method: str, request: Any, what: str,
               mount: str | None) -> tuple[Any, int | None]:
    """Make a call that may take long, showing transfers meanwhile.

    Returns:
        (reply, None), or (None, exit code) after printing the error.
    """
    thread, box = _background(lambda: client.call(method, request))
    _wait_with_transfers(client, thread, what, mount)
    thread.join()
    if "error" in box:
        exc = box["error"]
        return None, _fail(exc.details() if isinstance(exc, grpc.RpcError) else str(exc))
    return box["result"], None


def mount(source: str, mountpoint: Path, opts: list[str], verbose: int) -> int:
    """``xenonfs mount`` through the daemon (started if none runs). Returns: exit code."""
    parse_source(source)  # bad input fails here, before any daemon starts
    options = MountOptions.parse(opts)
    # password_env/password_file name the caller's variable and file: resolve
    # them here and hand the daemon the value (over the peer-checked socket).
    secret = options.password() or ""
    if not mountpoint.is_dir():
        return _fail(f"mountpoint {mountpoint} is not a directory")
    try:
        client = connect(start=True, verbose=verbose,
                         progress=lambda m: print(f"xenonfs: {m}", file=sys.stderr),
                         drop_env=(options.password_env,) if options.password_env else ())
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    request = pb.MountRequest(source=source, mountpoint=str(mountpoint), options=opts,
                              secret=secret)
    _, failed = _long_call(client, "Mount", request, f"mounting {source}", mount="")
    return failed or 0


def umount(mountpoint: Path, lazy: bool = False) -> int | None:
    """``xenonfs umount`` of a daemon mount. Returns: exit code, or None when no
    daemon holds that mountpoint (the caller falls back to fusermount3)."""
    try:
        client = connect(start=False)
    except DaemonUnavailable:
        return None
    listing = client.call("ListMounts", pb.Empty(), timeout=30)
    match = [m for m in listing.mounts if m.mountpoint == str(mountpoint) or m.name == str(mountpoint)]
    if not match:
        return None
    reply, failed = _long_call(client, "Unmount", pb.MountRef(mountpoint=str(mountpoint),
                                                               lazy=lazy),
                               f"unmounting {mountpoint} (uploading)", match[0].name)
    if failed:
        return failed
    if reply.detached:
        print(f"xenonfs: detached {mountpoint}; it ends, uploading what is dirty, when its "
              "last user leaves (`xenonfs status` shows it until then)", file=sys.stderr)
        return 0
    still = reply.still_dirty
    if still:
        return _fail(f"unmounted, but {len(still)} file(s) could not be uploaded and stay in "
                     f"the cache (uploaded at the next mount): " + ", ".join(still))
    return 0


def engine_line(engine: Any) -> str:
    """Args: engine: an EngineInfo. Returns: the engine's line of ``xenonfs status``."""
    if engine.state == "ready":
        line = f"engine: ready, pid {engine.pid}, port {engine.port}"
    elif engine.state == "restarting" and engine.retry_in > 0:
        line = f"engine: restarting (next attempt in {engine.retry_in:.1f} s)"
    else:
        line = f"engine: {engine.state}"
    line += f", {engine.restarts} restart(s)"
    if engine.last_error:  # the JVM's last words can be long: the log has them all
        error = engine.last_error
        line += f"; last error: {error[:300]}{'...' if len(error) > 300 else ''}"
    return line


def status(as_json: bool) -> int:
    """``xenonfs status``. Returns: exit code (1 when no daemon runs)."""
    try:
        client = connect(start=False)
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    version = client.version()
    mounts = client.call("ListMounts", pb.Empty(), timeout=30).mounts
    engine = client.call("EngineStatus", pb.Empty(), timeout=10)
    transfers = client.call("Transfers", pb.Empty(), timeout=30).transfers
    if as_json:
        print(json.dumps({
            "daemon": {"pid": version.pid, "version": version.xenonfs, "protocol": version.protocol,
                       "socket": str(client.path)},
            "engine": MessageToDict(engine, preserving_proto_field_name=True),
            "mounts": [MessageToDict(m, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True) for m in mounts],
            "transfers": [MessageToDict(t, preserving_proto_field_name=True) for t in transfers],
        }, indent=2))
        return 0
    out = Console()
    out.print(f"daemon pid {version.pid} (xenonfs {version.xenonfs}), socket {client.path}")
    out.print(engine_line(engine))
    header = ("name", "mountpoint", "source", "backend", "state", "cache", "dirty", "last error")
    rows = [(m.name, m.mountpoint, m.source, m.backend,
             m.state + (f" (restarted {m.restarts} times)" if m.restarts else ""),
             f"{m.cache_bytes / 1e6:.1f} MB",
             str(m.dirty_files), m.errors[-1] if m.errors else "") for m in mounts]
    if not rows:
        out.print("no mounts")
    elif out.is_terminal:
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:  # whole lines for scripts and logs: a table would wrap long paths
        for row in [header, *rows]:
            print("\t".join(row))
    for t in transfers:
        out.print(f"{t.direction} {t.mount}:{t.path} {t.bytes_done / 1e6:.1f}/"
                  f"{t.bytes_total / 1e6:.1f} MB at {t.rate / 1e6:.1f} MB/s")
    return 0


def stop() -> int:
    """``xenonfs stop``: flush, unmount everything, stop. Returns: exit code."""
    try:
        client = connect(start=False)
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    pid = client.version().pid
    try:
        client.call("Stop", pb.Empty(), timeout=10)
    except grpc.RpcError as exc:
        # An idle daemon can be gone before its answer is sent.
        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
            return _fail(exc.details() or exc.code().name)
    thread = threading.Thread(target=_wait_pid, args=(pid,), daemon=True)
    thread.start()
    _wait_with_transfers(client, thread, "stopping the daemon (uploading)", None)
    thread.join()
    return 0


def _wait_pid(pid: int) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def jobs() -> int:
    """``xenonfs jobs [list]``. Returns: exit code."""
    try:
        client = connect(start=False)
        reply = client.call("ListJobs", pb.Empty(), timeout=30)
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    except grpc.RpcError as exc:
        return _fail(exc.details() or exc.code().name)
    rows = [(j.mount, j.name, j.job_id, j.state, str(j.exit_code) if j.has_exit_code else
             ("unknown" if j.done else ""), j.error) for j in reply.jobs]
    header = ("mount", "name", "job id", "state", "exit code", "error")
    out = Console()
    if out.is_terminal and rows:
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:
        for row in [header, *rows]:
            print("\t".join(row))
    return 0


def flush(mountpoint: Path | None) -> int:
    """``xenonfs flush [MOUNTPOINT]``: upload dirty files now. Returns: exit code."""
    try:
        client = connect(start=False)
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    ref = pb.MountRef(mountpoint=str(mountpoint) if mountpoint else "")
    reply, failed = _long_call(client, "Flush", ref, "uploading", None)
    if failed:
        return failed
    still = reply.still_dirty
    if still:
        return _fail(f"{len(still)} file(s) could not be uploaded (kept in the cache): "
                     + ", ".join(still))
    return 0


def refresh(path: Path) -> int:
    """``xenonfs refresh PATH``: forget cached metadata and data of PATH (and below) in the
    mount that holds it. Returns: exit code."""
    try:
        client = connect(start=False)
    except DaemonUnavailable as exc:
        return _fail(str(exc))
    mounts = client.call("ListMounts", pb.Empty(), timeout=30).mounts
    holder = max((m for m in mounts if path == Path(m.mountpoint) or
                  Path(m.mountpoint) in path.parents), key=lambda m: len(m.mountpoint),
                 default=None)
    if holder is None:
        return _fail(f"{path} is not inside a mount of this daemon")
    rel = path.relative_to(holder.mountpoint)
    inside = "/" if rel == Path(".") else f"/{rel}"
    try:
        client.call("Forget", pb.PathRef(mountpoint=holder.mountpoint, path=inside), timeout=30)
    except grpc.RpcError as exc:
        return _fail(exc.details() or exc.code().name)
    return 0


def _find_job(client: ControlClient, name: str, mount: str | None) -> Any:
    jobs = [j for j in client.call("ListJobs", pb.Empty(), timeout=60).jobs
            if j.name == name and mount in (None, j.mount)]
    if len(jobs) > 1:
        raise LookupError(f"several mounts have a job {name!r}: give --mount "
                          f"({', '.join(j.mount for j in jobs)})")
    if not jobs:
        raise LookupError(f"no job {name!r}" + (f" in mount {mount}" if mount else ""))
    return jobs[0]


def jobs_wait(name: str, mount: str | None, timeout: float | None) -> int:
    """``xenonfs jobs wait NAME``: until the job is done. Returns: its exit code
    (1 if it has none, e.g. cancelled; 124 on timeout)."""
    try:
        client = connect(start=False)
        job = _find_job(client, name, mount)
    except (DaemonUnavailable, LookupError) as exc:
        return _fail(str(exc))
    deadline = None if timeout is None else time.monotonic() + timeout
    with err.status(f"job {name}: {job.state}") if err.is_terminal else _Plain() as shown:
        last = None
        while not job.done:
            if deadline is not None and time.monotonic() > deadline:
                _fail(f"job {name} is still {job.state} after {timeout:.0f} s")
                return 124
            if job.state != last:
                last = job.state
                shown.update(f"job {name}: {job.state}")
            time.sleep(0.5)
            job = _find_job(client, name, job.mount)
    code = job.exit_code if job.has_exit_code else None
    print(f"job {name} ({job.job_id}): {job.state}, exit code "
          f"{code if code is not None else 'unknown'}" + (f", {job.error}" if job.error else ""))
    return code if code is not None else 1


def jobs_cancel(name: str, mount: str | None) -> int:
    """``xenonfs jobs cancel NAME``. Returns: exit code."""
    try:
        client = connect(start=False)
        job = _find_job(client, name, mount)
        job = client.call("CancelJob", pb.JobRef(mount=job.mount, name=name), timeout=60)
    except (DaemonUnavailable, LookupError) as exc:
        return _fail(str(exc))
    except grpc.RpcError as exc:
        return _fail(exc.details() or exc.code().name)
    print(f"job {name} ({job.job_id}): {job.state}")
    return 0


class _Plain:
    """`rich`'s status display for non-terminals: one line per change."""

    def __enter__(self) -> "_Plain":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @staticmethod
    def update(text: str) -> None:
        print(f"xenonfs: {text}", file=sys.stderr)
