"""The ``xenonfs`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import trio

from . import __version__
from .client import JobDescription, XenonException, open_client
from .engine.locate import EngineNotFound
from .engine.process import EngineError, EngineSettings


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(name)s %(levelname)s: %(message)s")
    try:
        if args.command == "demo":
            workdir = (args.dir or Path(tempfile.mkdtemp(prefix="xenonfs-demo-"))).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            return trio.run(_demo, workdir)
    except (EngineNotFound, EngineError, XenonException) as exc:
        print(f"xenonfs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
