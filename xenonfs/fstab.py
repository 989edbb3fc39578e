"""``mount.xenonfs``: lets an /etc/fstab line mount through xenonfs.

    sftp://host/dir  /mnt/x  xenonfs  noauto,user,_netdev,ro  0 0

mount(8) runs ``mount.xenonfs SPEC DIR [-sfnv] [-N NS] [-o OPTIONS]``; the
options that are mount(8)'s or fstab's own are dropped, the rest are
xenonfs mount options. Install the helper where mount(8) looks:
``ln -s "$(command -v mount.xenonfs)" /sbin/mount.xenonfs``.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

#: mount(8)/fstab options that mean nothing to xenonfs.
DROPPED = {"defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group",
           "_netdev", "netdev", "nofail", "exec", "noexec", "suid", "nosuid", "dev", "nodev",
           "atime", "noatime", "relatime", "norelatime", "nodiratime", "diratime",
           "strictatime", "lazytime", "sync", "async", "loud", "silent"}


def map_options(opts: list[str]) -> list[str]:
    """Args: opts: ``-o`` values from mount(8). Returns: the xenonfs ones, in order."""
    kept = []
    for group in opts:
        for item in filter(None, (o.strip() for o in group.split(","))):
            name = item.split("=", 1)[0]
            if name in DROPPED or name.startswith("x-") or name in ("comment", "helper"):
                continue
            kept.append(item)
    return kept


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mount.xenonfs``. Returns: exit code."""
    parser = argparse.ArgumentParser(prog="mount.xenonfs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="the source, as in fstab's first field")
    parser.add_argument("dir", help="the mountpoint")
    parser.add_argument("-o", action="append", default=[], help="options")
    parser.add_argument("-f", action="store_true", help="fake: print what would run")
    parser.add_argument("-v", action="store_true", help="print the command")
    parser.add_argument("-s", action="store_true", help="sloppy (accepted, no effect)")
    parser.add_argument("-n", action="store_true", help="no mtab (accepted, no effect)")
    parser.add_argument("-N", metavar="NS", help="mount namespace (not supported)")
    parser.add_argument("-t", metavar="TYPE", help="type (accepted, no effect)")
    args = parser.parse_args(argv)
    if args.N:
        print("mount.xenonfs: -N (mount namespaces) is not supported", file=sys.stderr)
        return 32
    options = map_options(args.o)
    cmd = [sys.executable, "-m", "xenonfs.cli", "mount", args.spec, args.dir]
    if options:
        cmd += ["-o", ",".join(options)]
    if args.f or args.v:
        print(shlex.join(cmd))
    if args.f:
        return 0
    # mount(8) reads exit status 32 as "mount failure".
    return 0 if subprocess.run(cmd).returncode == 0 else 32


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
