"""The `.jobs/` layer's ordering of a cancel and a status poll, without a kernel.

The race needs a poll to land inside the cancel call, which a real scheduler
does only now and then (CI24: `at`'s atrm drops a running job from atq before
the engine's cancel returns; a poll in that gap read "DONE", and the job was
reported finished instead of cancelled). The scheduler side here is scripted
so the poll always lands in that gap; the real `at` runs the same test in
tests/test_jobs_matrix.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from xenonfs.vfs.inodes import InodeTable
from xenonfs.vfs.jobs import JobsDir, JobState
from xenonfs.vfs.jobstore import JobStore


class AtLikeRunner:
    """A scheduler that forgets a job (and calls it done) during its cancel,
    and answers the cancel only after a status poll has seen that."""

    scheduler = "at:local://"
    exit_code_known = False
    max_interactive = None

    def __init__(self) -> None:
        self.removed = False
        self.polled_after_removal = trio.Event()

    async def submit(self, spec: dict[str, Any]) -> str:
        return "7"

    async def statuses(self, job_ids: list[str]) -> list[JobState]:
        if self.removed:
            self.polled_after_removal.set()
            return [JobState("DONE", False, True, 0) for _ in job_ids]
        return [JobState("RUNNING", True, False) for _ in job_ids]

    async def cancel(self, job_id: str) -> JobState:
        self.removed = True
        await self.polled_after_removal.wait()
        return JobState("CANCELLED", False, True, None, "cancelled")

    async def queues(self) -> list[dict[str, Any]]:
        return []

    async def read_output(self, path: str) -> bytes:
        return b""

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, Any]:
        raise OSError(95, "no interactive jobs")


def test_a_poll_during_a_cancel_does_not_decide_the_final_state(tmp_path: Path) -> None:
    async def main() -> tuple[str, bool]:
        runner = AtLikeRunner()
        async with trio.open_nursery() as nursery:
            jobs = JobsDir(runner, JobStore(tmp_path / "jobs.sqlite", "m"), InodeTable(),
                           "/remote", 0.01, nursery)
            nursery.start_soon(jobs.poll_forever)
            await jobs.submit("sleeper", b'executable = "/bin/sleep"\narguments = ["600"]\n',
                              "toml")
            with trio.fail_after(10):
                while not jobs.jobs["sleeper"].running:
                    await trio.sleep(0.01)
                await jobs.cancel("sleeper")
            job = jobs.jobs["sleeper"]
            nursery.cancel_scope.cancel()
            return job.state, job.done

    assert trio.run(main) == ("CANCELLED", True)
