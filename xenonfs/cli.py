"""The ``xenonfs`` command."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from . import __version__, paths
from .client import JobDescription, XenonException, open_client
from .engine.locate import EngineNotFound
from .engine.process import EngineError, EngineSettings
from .mount import Mount, MountError, serve
from .source import MountOptions, Source, SourceError, parse_source


async def _demo(workdir: Path) -> int:
    """Write a script with the `file` adaptor, run it on the `local` scheduler,
    read its output back: the whole engine path on the embedded default."""
    async with open_client(EngineSettings(cwd=str(workdir))) as client:
        print(f"engine: pid {client.engine.pid}, port {client.engine.port}, mutual TLS")
        fs = await client.create_file_system("file", "/")
        script = workdir / "hello.sh"
        result = workdir / "result.txt"
        for p in (script, result):
            if await fs.exists(str(p)):
                await fs.delete(str(p))
        await fs.write_to_file(str(script), [b"#!/bin/sh\n", b'echo "Hello from $(hostname)"\n'])
        print(f"wrote {script} through the file adaptor")
        sched = await client.create_scheduler("local")
        job = await sched.submit_batch_job(JobDescription(
            executable="/bin/sh", arguments=[str(script)], stdout=str(result),
            working_directory=str(workdir)))
        status = await sched.wait_until_done(job, 60)
        print(f"job {job.id}: {status.state}, exit code {status.exit_code}")
        print(f"{result}: " + (await fs.read_bytes(str(result))).decode().strip())
        return 0 if status.done and status.exit_code == 0 else 1


def _pidfile(mountpoint: Path) -> Path:
    key = hashlib.sha256(str(mountpoint).encode()).hexdigest()[:16]
    return paths.private_dir(paths.runtime_dir() / "mounts") / f"{key}.pid"


#: Seconds `xenonfs umount` waits for pending uploads.
UMOUNT_WAIT = 3600.0

_USER_ERRORS = (MountError, EngineNotFound, EngineError, XenonException, SourceError)


def _user_error(exc: BaseException) -> BaseException | None:
    """Returns: the error to show a user, found inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _user_error(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, _USER_ERRORS) else None


async def _mount_foreground(source: Source, mountpoint: Path, options: MountOptions,
                            ready_fd: int | None) -> int:
    mount = Mount(source, mountpoint, options)
    pidfile = _pidfile(mountpoint)
    try:
        async with open_client(EngineSettings()) as client:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(serve, mount, client)
                    pidfile.write_text(str(os.getpid()))
                    if ready_fd is not None:
                        os.write(ready_fd, b"ok\n")
                        os.close(ready_fd)
                        ready_fd = None
            finally:
                pidfile.unlink(missing_ok=True)
    except BaseException as raised:  # noqa: B036 - unwrap trio's exception groups
        exc = _user_error(raised)
        if exc is None:
            raise
        if ready_fd is not None:
            os.write(ready_fd, f"{exc}\n".encode())
            os.close(ready_fd)
        else:
            print(f"xenonfs: {exc}", file=sys.stderr)
        return 1
    return 0


def _mount_background(args: argparse.Namespace) -> int:
    """Start ``mount -f`` detached; return once it is usable or has failed."""
    read_end, write_end = os.pipe()
    log_path = paths.runtime_dir() / "mounts" / (_pidfile(args.mountpoint).stem + ".log")
    cmd = [sys.executable, "-m", "xenonfs.cli", *(["-v"] * args.verbose), "mount",
           args.source, str(args.mountpoint), "-f", "--ready-fd", str(write_end)]
    for opt in args.o:
        cmd += ["-o", opt]
    with open(log_path, "ab") as log_file:
        os.chmod(log_path, 0o600)
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                         pass_fds=(write_end,), start_new_session=True)
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        answer = ready.readline().strip()
    if answer == "ok":
        return 0
    print(f"xenonfs: {answer or 'the mount process ended; see ' + str(log_path)}",
          file=sys.stderr)
    return 1


def _umount(mountpoint: Path) -> int:
    pidfile = _pidfile(mountpoint)
    pid = int(pidfile.read_text()) if pidfile.exists() else None
    result = subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"xenonfs: {result.stderr.strip()}", file=sys.stderr)
        return 1
    if pid:
        # The mount process uploads anything still dirty, then exits.
        deadline = time.monotonic() + UMOUNT_WAIT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return 0
            time.sleep(0.1)
        print(f"xenonfs: unmounted, but the mount process {pid} is still uploading after "
              f"{UMOUNT_WAIT:.0f} s; its log is in {paths.runtime_dir() / 'mounts'}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns: exit code."""
    parser = argparse.ArgumentParser(prog="xenonfs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xenonfs {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv: debug, including the engine's)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a job through the engine on the embedded default "
                                       "(file adaptor, local scheduler)")
    demo.add_argument("--dir", type=Path, default=None,
                      help="working directory (default: a new temporary one)")
    mount = sub.add_parser("mount", help="mount SOURCE on MOUNTPOINT")
    mount.add_argument("source", help="file:///dir, sftp://[user@]host[:port]/path, user@host:path, "
                                      "ftp://..., s3+http(s)://..., webdav+http(s)://...")
    mount.add_argument("mountpoint", type=Path)
    mount.add_argument("-o", action="append", default=[], metavar="OPT[,OPT...]",
                       help="mount options (see README)")
    mount.add_argument("-f", "--foreground", action="store_true",
                       help="stay in the foreground until unmounted")
    mount.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    umount = sub.add_parser("umount", help="upload pending changes and unmount")
    umount.add_argument("mountpoint", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        if args.command == "mount":
            source = parse_source(args.source)
            options = MountOptions.parse(args.o)
            options.password()  # fail now, in the foreground, on a bad password option
            args.mountpoint = args.mountpoint.resolve()
            if not args.foreground:
                return _mount_background(args)
            return trio.run(_mount_foreground, source, args.mountpoint, options, args.ready_fd)
        if args.command == "umount":
            return _umount(args.mountpoint.resolve())
        if args.command == "demo":
            workdir = (args.dir or Path(tempfile.mkdtemp(prefix="xenonfs-demo-"))).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            return trio.run(_demo, workdir)
    except (EngineNotFound, EngineError, XenonException, SourceError, MountError) as exc:
        print(f"xenonfs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
