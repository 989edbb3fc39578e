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

from . import __version__, commands, paths
from .busy import busy_message
from .client import JobDescription, XenonException, open_client, rpc
from .daemon.mountinfo import DeadMountError, is_xenonfs_mount, not_ours, recover_dead_mount
from .engine.locate import EngineNotFound
from .engine.process import EngineError, EngineSettings
from .mount import Mount, MountError, serve, tune_gc, user_error
from .source import (MountOptions, Source, SourceError, absolute_paths, check_target, options_help,
                     parse_source)


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


async def _mount_foreground(source: Source, mountpoint: Path, options: MountOptions) -> int:
    """``mount -f``: this process holds its own engine and the one mount (no
    daemon); for debugging and for systems without a user session."""
    tune_gc()
    mount = Mount(source, mountpoint, options)
    rpc.set_deadlines(options.engine_timeout)  # this process serves this one mount
    pidfile = _pidfile(mountpoint)
    try:
        async with open_client(EngineSettings()) as client:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(serve, mount, client)
                    pidfile.write_text(str(os.getpid()))
            finally:
                pidfile.unlink(missing_ok=True)
    except BaseException as raised:  # noqa: B036 - unwrap trio's exception groups
        exc = user_error(raised, _USER_ERRORS)
        if exc is None:
            raise
        print(f"xenonfs: cannot mount {source.url} on {mountpoint}: {exc}", file=sys.stderr)
        return 1
    return 0


def _umount(mountpoint: Path, lazy: bool) -> int:
    """Unmount a ``mount -f`` mount (no daemon holds it; the caller checked
    that it is a xenonfs mount). Returns: exit code."""
    pidfile = _pidfile(mountpoint)
    pid = int(pidfile.read_text()) if pidfile.exists() else None
    result = subprocess.run(["fusermount3", "-u", *(["-z"] if lazy else []), str(mountpoint)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        text = result.stderr.strip()
        print(f"xenonfs: {busy_message(mountpoint) if 'busy' in text.lower() else text}",
              file=sys.stderr)
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
    parser = argparse.ArgumentParser(
        prog="xenonfs", description="Mount remote file systems (sftp, s3, ftp, webdav, file) as "
        "local directories and run batch jobs through their .jobs/ directory, from one daemon.")
    parser.add_argument("--version", action="version", version=f"xenonfs {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv: debug, including the engine's)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a job through the engine on the embedded default "
                                       "(file adaptor, local scheduler)")
    demo.add_argument("--dir", type=Path, default=None,
                      help="working directory (default: a new temporary one)")
    mount = sub.add_parser("mount", help="mount SOURCE on MOUNTPOINT", epilog=options_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    mount.add_argument("source", help="file:///dir, sftp://[user@]host[:port]/path, user@host:path, "
                                      "ftp://..., s3+http(s)://..., webdav+http(s)://...")
    mount.add_argument("mountpoint", type=Path)
    mount.add_argument("-o", action="append", default=[], metavar="OPT[,OPT...]",
                       help="mount options, comma-separated (listed below)")
    mount.add_argument("-f", "--foreground", action="store_true",
                       help="no daemon: this process serves the mount until unmounted")
    umount = sub.add_parser("umount", help="upload pending changes and unmount (refused while "
                                           "the mount is in use, as umount(8))")
    umount.add_argument("mountpoint", type=Path)
    umount.add_argument("-l", "--lazy", action="store_true",
                        help="detach even if busy; finish when the last user leaves")
    daemon = sub.add_parser("daemon", help="run the daemon in the foreground (what systemd runs)")
    daemon.add_argument("--config", type=Path, default=None, help="config file (default: "
                        "$XDG_CONFIG_HOME/xenonfs/config.toml)")
    status = sub.add_parser("status", help="the daemon's mounts, transfers and engine")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("stop", help="flush uploads, unmount everything and stop the daemon")
    jobs = sub.add_parser("jobs", help="jobs of all mounts (list, wait, cancel)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command")
    jobs_sub.add_parser("list", help="list jobs of all mounts (the default)")
    for verb, text in (("wait", "wait until a job is done; exit with its exit code"),
                       ("cancel", "cancel a job")):
        cmd = jobs_sub.add_parser(verb, help=text)
        cmd.add_argument("name", help="the job's name in .jobs/")
        cmd.add_argument("--mount", default=None, help="mount name (if several have NAME)")
        if verb == "wait":
            cmd.add_argument("--timeout", type=float, default=None, help="seconds")
    flush = sub.add_parser("flush", help="upload dirty files now (of one mount, or all)")
    flush.add_argument("mountpoint", type=Path, nargs="?", default=None)
    refresh = sub.add_parser("refresh", help="forget cached metadata and data of PATH and below (refused while a file there has changes not uploaded or is open for writing)")
    refresh.add_argument("path", type=Path)
    config = sub.add_parser("config", help="configuration file tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate the config file")
    check.add_argument("path", nargs="?", default=None)
    service = sub.add_parser("service", help="systemd user service tools")
    service_sub = service.add_subparsers(dest="service_command", required=True)
    install = service_sub.add_parser("install", help="install the systemd user unit")
    install.add_argument("--unit-dir", default=None, help="default: ~/.config/systemd/user")
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    try:
        if args.command == "daemon":
            from .daemon.main import run_daemon
            return run_daemon(args.config, args.verbose)
        logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
        if args.command == "mount":
            # Paths in options are the user's: the daemon has another working directory.
            args.o = absolute_paths(args.o)
            source = parse_source(args.source)
            options = MountOptions.parse(args.o)
            options.password()  # fail now, in the foreground, on a bad password option
            args.mountpoint = args.mountpoint.resolve()
            try:
                if recover_dead_mount(args.mountpoint):
                    print(f"xenonfs: {args.mountpoint} was a dead xenonfs mount (its process "
                          "had died): unmounted it lazily, mounting again", file=sys.stderr)
            except DeadMountError as exc:
                print(f"xenonfs: {exc}", file=sys.stderr)
                return 1
            check_target(source, args.mountpoint, options)
            if not args.foreground:
                return commands.mount(args.source, args.mountpoint, args.o, args.verbose)
            return trio.run(_mount_foreground, source, args.mountpoint, options)
        if args.command == "umount":
            mountpoint = args.mountpoint.resolve()
            if not is_xenonfs_mount(mountpoint):
                # As root fusermount3 unmounts anything: touch only our own mounts.
                print(f"xenonfs: {not_ours(mountpoint)}", file=sys.stderr)
                return 1
            code = commands.umount(mountpoint, args.lazy)
            return _umount(mountpoint, args.lazy) if code is None else code
        if args.command == "status":
            return commands.status(args.json)
        if args.command == "stop":
            return commands.stop()
        if args.command == "jobs":
            if args.jobs_command == "wait":
                return commands.jobs_wait(args.name, args.mount, args.timeout)
            if args.jobs_command == "cancel":
                return commands.jobs_cancel(args.name, args.mount)
            return commands.jobs()
        if args.command == "flush":
            return commands.flush(args.mountpoint.resolve() if args.mountpoint else None)
        if args.command == "refresh":
            return commands.refresh(Path(os.path.abspath(args.path)))
        if args.command == "config":
            from .config import check_command
            return check_command(args.path)
        if args.command == "service":
            from .service import install_main
            return install_main(args.unit_dir)
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
