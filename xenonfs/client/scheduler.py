"""Async scheduler handle over the engine's SchedulerService."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import grpc
import trio

from .._proto import xenon_pb2 as pb
from . import rpc
from .connection import Session, Stubs
from .errors import EngineUnavailableException, XenonException, from_rpc_error
from .filesystem import WAIT_SLICE
from .types import Credential, Job, JobDescription, JobStatus, QueueStatus, credential_from_pb

if TYPE_CHECKING:
    from .client import XenonClient
    from .filesystem import FileSystem


def _job(job: Job | str) -> pb.Job:
    return pb.Job(id=job.id if isinstance(job, Job) else str(job))


@dataclass(frozen=True)
class Output:
    """One piece of an interactive job's output."""

    stdout: bytes
    stderr: bytes


class InteractiveJob:
    """A running interactive job: write its stdin, read its stdout/stderr.

    The output iterator ends when the job's output streams close.
    """

    def __init__(self, job: Job, responses: rpc.ResponseStream, feed: rpc.RequestFeed | None) -> None:
        self.job = job
        self._responses = responses
        self._feed = feed

    async def send(self, data: bytes) -> None:
        """Args: data: bytes for the job's stdin.

        Raises:
            RuntimeError: stdin was given as an iterable at submission, or closed.
        """
        if self._feed is None:
            raise RuntimeError("stdin of this job is fed from an iterable or already closed")
        await self._feed.send(pb.SubmitInteractiveJobRequest(stdin=bytes(data)))

    async def close_stdin(self) -> None:
        """End the job's input (it sees EOF)."""
        if self._feed is not None:
            feed, self._feed = self._feed, None
            await feed.close()

    def __aiter__(self) -> "InteractiveJob":
        return self

    async def __anext__(self) -> Output:
        while True:
            try:
                msg = await self._responses.__anext__()
            except grpc.RpcError as exc:
                raise from_rpc_error(exc, "submitInteractiveJob") from None
            if msg.stdout or msg.stderr:  # the engine also sends empty messages
                return Output(msg.stdout, msg.stderr)

    async def receive(self) -> Output | None:
        """Returns: the next output, or None at the end."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    async def receive_lines(self, grace: float = 0.05) -> Output | None:
        """Like `receive`, but while stdout ends mid-line, wait up to ``grace``
        seconds for the rest: a program's "text" and "\n" writes can arrive
        as two engine messages (unbuffered output does two writes per print).

        Returns:
            The joined output, or None at the end.
        """
        first = await self.receive()
        if first is None:
            return None
        out, err = first.stdout, first.stderr
        while out and not out.endswith(b"\n"):
            with trio.move_on_after(grace):
                more = await self.receive()
                if more is None:
                    break
                out, err = out + more.stdout, err + more.stderr
                continue
            break
        return Output(out, err)

    async def aclose(self) -> None:
        """Stop streaming (the job itself is not cancelled; use the scheduler)."""
        if self._feed is not None:
            self._feed.abandon()
            self._feed = None
        await self._responses.aclose()

    async def __aenter__(self) -> "InteractiveJob":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Scheduler:
    """A scheduler in the engine (local, ssh, at, slurm, gridengine, torque)."""

    def __init__(self, client: "XenonClient", session: Session, adaptor: str, location: str) -> None:
        self._client = client
        self._session = session
        self.adaptor = adaptor
        self.location = location

    def __repr__(self) -> str:
        return f"<Scheduler {self.adaptor}:{self.location!r} id={self._session.current_id}>"

    @property
    def closed(self) -> bool:
        """Returns: True after `close`."""
        return self._session.closed

    @property
    def engine_id(self) -> str | None:
        """Returns: the engine's id of the scheduler now (a new one after a
        `reconnect` or an engine restart); None before first use."""
        return self._session.current_id

    async def _unary(self, name: str, build: Callable[[Any], Any], *,
                     idempotent: bool = True) -> Any:
        async def go(stubs: Stubs) -> Any:
            remote = await self._session.remote(stubs)
            return await rpc.unary(getattr(stubs.sched, name), build(remote))
        return await self._client.connection.call(f"{self.adaptor}.{name}", go,
                                                  idempotent=idempotent)

    async def remote_handle(self) -> Any:
        """Returns: the engine's Scheduler message of the current generation."""
        return await self._session.remote(await self._client.connection.stubs())

    async def reconnect(self) -> None:
        """Drop the engine-side scheduler (its connection is gone: the engine's
        SSH library closes an idle one, and never opens it again) and make a
        new one with the same settings; the old one is closed if possible.
        Jobs the old one ran in its memory (local, ssh) are not known to the
        new one."""
        stale, session = self._session._remote, self._session
        session.invalidate()
        await session.remote(await self._client.connection.stubs())
        if stale is None:
            return
        with contextlib.suppress(XenonException):  # it may be gone with its connection
            await self._client.connection.call(
                "close", lambda stubs: rpc.unary(stubs.sched.close, stale), idempotent=False)

    # -- information -------------------------------------------------------
    async def get_adaptor_name(self) -> str:
        """Returns: the adaptor name."""
        return (await self._unary("getAdaptorName", lambda s: s)).name

    async def get_location(self) -> str:
        """Returns: the location."""
        return (await self._unary("getLocation", lambda s: s)).location

    async def get_credential(self) -> Credential | None:
        """Returns: the credential it was created with (None: the default)."""
        return credential_from_pb(await self._unary("getCredential", lambda s: s))

    async def get_properties(self) -> dict[str, str]:
        """Returns: the properties it was created with."""
        return dict((await self._unary("getProperties", lambda s: s)).properties)

    async def get_queue_names(self) -> list[str]:
        """Returns: the queue names."""
        return list((await self._unary("getQueueNames", lambda s: s)).name)

    async def get_default_queue_name(self) -> str:
        """Returns: the default queue."""
        return (await self._unary("getDefaultQueueName", lambda s: s)).name

    async def get_default_runtime(self) -> int:
        """Returns: the default maximum runtime of a job, in minutes."""
        return (await self._unary("getDefaultRuntime", lambda s: s)).value

    async def is_open(self) -> bool:
        """Returns: True if the scheduler's connection is open."""
        if self.closed:
            return False
        return (await self._unary("isOpen", lambda s: s)).value

    async def get_jobs(self, queues: Sequence[str] = ()) -> list[Job]:
        """Args: queues: queue names (empty: all). Returns: jobs in them."""
        msg = await self._unary("getJobs", lambda s: pb.SchedulerAndQueues(
            scheduler=s, queues=list(queues)))
        return [Job(j.id) for j in msg.jobs]

    async def get_queue_status(self, queue: str) -> QueueStatus:
        """Args: queue: a queue name. Returns: its status."""
        return QueueStatus.from_pb(await self._unary("getQueueStatus", lambda s: pb.GetQueueStatusRequest(
            scheduler=s, queue=queue)))

    async def get_queue_statuses(self, queues: Sequence[str] = ()) -> list[QueueStatus]:
        """Args: queues: names (empty: all). Returns: their statuses."""
        msg = await self._unary("getQueueStatuses", lambda s: pb.SchedulerAndQueues(
            scheduler=s, queues=list(queues)))
        return [QueueStatus.from_pb(q) for q in msg.statuses]

    async def get_file_system(self) -> "FileSystem":
        """Returns: the file system the scheduler uses internally (e.g. its sftp link)."""
        return await self._client._scheduler_file_system(self)

    # -- jobs ----------------------------------------------------------------
    async def submit_batch_job(self, description: JobDescription) -> Job:
        """Args: description: what to run. Returns: the job.

        Raises:
            XenonException: e.g. NoSuchQueueException, InvalidJobDescriptionException.
        """
        desc = description.to_pb()
        msg = await self._unary("submitBatchJob", lambda s: pb.SubmitBatchJobRequest(
            scheduler=s, description=desc), idempotent=False)
        return Job(msg.id)

    async def submit_interactive_job(self, description: JobDescription,
                                     stdin: Iterable[bytes] | None = None) -> InteractiveJob:
        """Start an interactive job.

        Args:
            description: what to run.
            stdin: an iterable of bytes read in a grpc thread (may block); if
                None, feed stdin with `InteractiveJob.send` / `close_stdin`.

        Returns:
            The running job with its output stream.
        """
        desc = description.to_pb()
        stubs = await self._client.connection.stubs()
        remote = await self._session.remote(stubs)
        first = pb.SubmitInteractiveJobRequest(scheduler=remote, description=desc)
        feed: rpc.RequestFeed | None = None
        if stdin is None:
            feed = rpc.RequestFeed(first)
            requests: Any = iter(feed)
        else:
            def requests_from(src: Iterable[bytes] = stdin) -> Any:
                yield first
                for chunk in src:
                    yield pb.SubmitInteractiveJobRequest(stdin=bytes(chunk))
            requests = requests_from()
        responses = rpc.ResponseStream(stubs.sched.submitInteractiveJob(requests))
        try:
            head = await responses.__anext__()
        except grpc.RpcError as exc:
            if feed is not None:
                feed.abandon()
            raise from_rpc_error(exc, f"{self.adaptor}.submitInteractiveJob") from None
        except StopAsyncIteration:
            raise EngineUnavailableException("interactive job stream ended before a job id",
                                             method="submitInteractiveJob") from None
        return InteractiveJob(Job(head.job.id), responses, feed)

    async def get_job_status(self, job: Job | str) -> JobStatus:
        """Args: job: a job. Returns: its status. Raises: NoSuchJobException."""
        return JobStatus.from_pb(await self._unary("getJobStatus", lambda s: pb.JobRequest(
            scheduler=s, job=_job(job))))

    async def get_job_statuses(self, jobs: Sequence[Job | str]) -> list[JobStatus]:
        """Args: jobs: jobs. Returns: their statuses (unknown ones carry an error)."""
        msg = await self._unary("getJobStatuses", lambda s: pb.GetJobStatusesRequest(
            scheduler=s, jobs=[_job(j) for j in jobs]))
        return [JobStatus.from_pb(st) for st in msg.statuses]

    async def wait_until_done(self, job: Job | str, timeout: float | None = None) -> JobStatus:
        """Args: job: a job; timeout: seconds (None: until done).
        Returns: the status (not done when the timeout passed)."""
        return await self._wait("waitUntilDone", job, timeout)

    async def wait_until_running(self, job: Job | str, timeout: float | None = None) -> JobStatus:
        """Args: job: a job; timeout: seconds (None: until running or done).
        Returns: the status."""
        return await self._wait("waitUntilRunning", job, timeout)

    async def _wait(self, method: str, job: Job | str, timeout: float | None) -> JobStatus:
        # Long waits are made of slices so a cancelled caller or an engine
        # restart is noticed, and no call blocks the engine for hours.
        deadline = None if timeout is None else trio.current_time() + timeout
        while True:
            left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - trio.current_time())
            ms = max(1, int(left * 1000))
            status = JobStatus.from_pb(await self._unary(method, lambda s: pb.WaitRequest(
                scheduler=s, job=_job(job), timeout=ms)))
            done = status.done or (method == "waitUntilRunning" and status.running)
            if done or (deadline is not None and trio.current_time() >= deadline):
                return status

    async def cancel_job(self, job: Job | str) -> JobStatus:
        """Args: job: a job. Returns: its status after cancelling."""
        return JobStatus.from_pb(await self._unary("cancelJob", lambda s: pb.JobRequest(
            scheduler=s, job=_job(job)), idempotent=False))

    async def close(self) -> None:
        """Close the scheduler; later use raises SchedulerClosedException."""
        if self.closed:
            return
        try:
            await self._unary("close", lambda s: s, idempotent=False)
        finally:
            self._session.mark_closed()
            self._client._forget(self)

    async def __aenter__(self) -> "Scheduler":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


