"""Start the test servers by hand: ``python -m tests.servers up [NAME ...]``.

Starts the named servers (all by default) on free loopback ports, prints how
to mount or use each one, and keeps them running until Ctrl-C or SIGTERM;
then stops each by its own PID. Passwords are not printed: they are in the
root-only files named (``/var/lib/xenonfs-tests/USER.password``).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from typing import Any, Callable

#: name -> (module, class, how to use it given the started server).
SERVERS: dict[str, tuple[str, str, Callable[[Any], str]]] = {
    "sshd": ("sshd", "SshServer", lambda s: (
        f"sftp://{s.user}@127.0.0.1:{s.port}{s.home}  (scheduler ssh://{s.user}@127.0.0.1:{s.port}; "
        f"-o password_file=/var/lib/xenonfs-tests/{s.user}.password,strict_host_key_checking=no)")),
    "ftpd": ("ftpd", "FtpServer", lambda s: (
        f"ftp://{s.user}@127.0.0.1:{s.port}{s.home}  "
        f"(-o password_file=/var/lib/xenonfs-tests/{s.user}.password)")),
    "atd": ("atd", "AtDaemon", lambda s: "scheduler=at://"),
    "gridengine": ("gridengine", "GridEngine", lambda s: (
        f"scheduler=gridengine:// (queue {s.queue}; over ssh with sshd: "
        f"scheduler=gridengine+ssh://USER@127.0.0.1:PORT)")),
    "webdav": ("webdav", "WebdavServer", lambda s: (
        f"webdav+http://{s.user}@127.0.0.1:{s.port}/dav  (-o password_file={s.password_file}; "
        f"files in {s.root})")),
    "s3": ("s3", "MotoServer", lambda s: (
        f"{s.url()}  (-o password_env=VAR with VAR={s.secret}; location {s.location})")),
    "s3rver": ("s3rver", "S3rverServer", lambda s: (
        f"{s.url()}  (-o password_env=VAR with VAR={s.secret}; location {s.location})")),
    "slurm": ("slurm", "SlurmCluster", lambda s: (
        f"scheduler=slurm:// with SLURM_CONF={s.conf} in the environment of the xenonfs "
        f"daemon (partitions {', '.join(s.partitions)}; over ssh the remote session needs it too)")),
}


def load(name: str) -> Any:
    """Args: name: a key of `SERVERS`. Returns: an unstarted server object.

    Raises:
        SystemExit: the name is unknown.
    """
    if name not in SERVERS:
        raise SystemExit(f"unknown server {name!r}; known: {', '.join(SERVERS)}")
    module, cls, _ = SERVERS[name]
    return getattr(importlib.import_module(f"tests.servers.{module}"), cls)()


def main(argv: list[str] | None = None) -> int:
    """Returns: exit status (0 after a clean stop)."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start servers and keep them running until Ctrl-C")
    up.add_argument("names", nargs="*", help=f"servers to start (default: all: {', '.join(SERVERS)})")
    sub.add_parser("list", help="list the servers")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(SERVERS))
        return 0
    started: list[tuple[str, Any]] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name in args.names or list(SERVERS):
            server = load(name)
            print(f"starting {name} ...", flush=True)
            started.append((name, server.start()))
            print(f"  {name}: {SERVERS[name][2](server)}", flush=True)
        print("all up; Ctrl-C stops them", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for name, server in reversed(started):
            print(f"stopping {name}", flush=True)
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
