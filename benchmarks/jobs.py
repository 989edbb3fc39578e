"""`.jobs/` benchmark, side by side in one run on the local scheduler.

Run by hand from the repository root:

    python benchmarks/jobs.py [--jobs 1000] [--queue multi]

Measures: submitting and finishing N trivial jobs through `.jobs/` spec files
vs through the client directly, and the status latency (job end -> status.json
says done).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mounts import mounted, stop_daemon  # noqa: E402
from xenonfs.client import JobDescription, open_client  # noqa: E402


def through_client(n: int, queue: str, workdir: Path) -> tuple[float, float]:
    """Returns: (seconds to submit n jobs, seconds until all are done)."""
    async def main() -> tuple[float, float]:
        async with open_client() as client:
            sched = await client.create_scheduler("local")
            t = time.perf_counter()
            jobs = [await sched.submit_batch_job(JobDescription(
                executable="/bin/true", queue_name=queue, working_directory=str(workdir)))
                for _ in range(n)]
            submitted = time.perf_counter() - t
            # Batched polling, as a careful client would (and as .jobs/ does).
            pending = [j.id for j in jobs]
            while pending:
                statuses = await sched.get_job_statuses(pending)
                pending = [st.job.id for st in statuses if not st.done]
                await trio.sleep(0.05)
            return submitted, time.perf_counter() - t
    return trio.run(main)


def through_jobs_dir(mnt: Path, n: int, queue: str) -> tuple[float, float]:
    """Returns: (seconds to write n spec files, seconds until every status.json says done)."""
    jobs = mnt / ".jobs"
    spec = f'executable = "/bin/true"\nqueue_name = "{queue}"\n'
    t = time.perf_counter()
    for i in range(n):
        with open(jobs / f"j{i:05d}.toml", "w") as f:
            f.write(spec)
    submitted = time.perf_counter() - t
    pending = {f"j{i:05d}" for i in range(n)}
    while pending:
        pending = {p for p in pending
                   if not json.loads((jobs / p / "status.json").read_text())["done"]}
        time.sleep(0.05)
    return submitted, time.perf_counter() - t


def status_latency(mnt: Path, rounds: int, poll: float) -> list[float]:
    """Returns: seconds from a job's end (the time it writes) to status.json saying done."""
    result = []
    for i in range(rounds):
        stamp = mnt / f"end{i}"
        # A random run time, so job ends fall anywhere between two polls.
        with open(mnt / ".jobs" / f"lat{i}.toml", "w") as f:
            f.write(f'executable = "/bin/sh"\narguments = ["-c", "sleep {1 + random.random():.3f}; '
                    f'date +%s.%N > end{i}"]\nqueue_name = "multi"\n')
        while not json.loads((mnt / ".jobs" / f"lat{i}" / "status.json").read_text())["done"]:
            time.sleep(poll / 10)
        seen = time.time()
        result.append(seen - float(stamp.read_text()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--queue", default="multi")
    parser.add_argument("--poll", type=float, default=0.5, help="job_poll_interval")
    args = parser.parse_args()
    runtime = Path(tempfile.mkdtemp(prefix="xenonfs-jbench-run-"))
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    os.environ["XDG_CONFIG_HOME"] = str(runtime / "config")
    os.environ["XDG_STATE_HOME"] = str(runtime / "state")
    work = Path(tempfile.mkdtemp(prefix="xenonfs-jbench-"))
    backing = work / "backing"
    backing.mkdir()
    try:
        c_sub, c_all = through_client(args.jobs, args.queue, backing)
        with mounted(f"file://{backing}", work / "mnt", [f"job_poll_interval={args.poll}"],
                     cache_dir=work / "cache") as mnt:
            j_sub, j_all = through_jobs_dir(mnt, args.jobs, args.queue)
            latency = status_latency(mnt, 10, args.poll)
    finally:
        stop_daemon(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    n = args.jobs
    print(f"\n{n} trivial jobs, local scheduler, queue {args.queue}, poll {args.poll} s\n")
    print("| path | submit (jobs/s) | submit + all done (s) |")
    print("|---|---|---|")
    print(f"| client directly | {n / c_sub:.0f} | {c_all:.1f} |")
    print(f"| .jobs/ spec files | {n / j_sub:.0f} | {j_all:.1f} |")
    print(f"\nratio .jobs/ / client, submit+done time: {j_all / c_all:.2f}")
    print(f"status latency (job end -> status.json done): median {statistics.median(latency):.2f} s, "
          f"max {max(latency):.2f} s over {len(latency)} jobs")


if __name__ == "__main__":
    main()
