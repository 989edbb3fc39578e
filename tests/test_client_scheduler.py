"""Scheduler RPCs through the async client: local and real ssh (OpenSSH)."""

from __future__ import annotations

import uuid

import pytest
import trio

from tests.conftest import SSH_PROPS, Runner
from xenonfs.client import JobDescription, errors


def test_local_batch_jobs_status_wait_cancel(engine: Runner, tmp_path) -> None:
    async def body() -> None:
        s = await engine.client.create_scheduler("local")
        try:
            assert await s.get_queue_names() == ["single", "multi", "unlimited"]
            assert await s.get_default_queue_name() == "single"
            statuses = await s.get_queue_statuses()
            assert {q.name for q in statuses} == {"single", "multi", "unlimited"}
            assert (await s.get_queue_status("multi")).name == "multi"
            assert await s.get_default_runtime() >= 0
            assert await s.is_open()
            assert await s.get_adaptor_name() == "local"
            out = tmp_path / "out.txt"
            job = await s.submit_batch_job(JobDescription(
                executable="/bin/sh", arguments=["-c", "echo $GREETING; exit 7"],
                environment={"GREETING": "hi"}, stdout=str(out), queue_name="multi"))
            status = await s.wait_until_done(job)
            assert status.done and status.exit_code == 7 and not status.has_error
            assert out.read_text() == "hi\n"
            # a long job: running, listed, then cancelled
            long = await s.submit_batch_job(JobDescription(executable="/bin/sleep",
                                                           arguments=["60"], queue_name="multi"))
            running = await s.wait_until_running(long, 10)
            assert running.running
            assert long in await s.get_jobs(["multi"])
            assert not (await s.wait_until_done(long, 0.2)).done
            batch = await s.get_job_statuses([long])
            assert batch[0].job == long and not batch[0].done
            cancelled = await s.cancel_job(long)
            assert cancelled.done and cancelled.error_type.name == "CANCELLED"
            # the engine forgets a job after its first done status
            with pytest.raises(errors.NoSuchJobException):
                await s.get_job_status(long)
            fs = await s.get_file_system()
            assert await fs.exists(str(out))
        finally:
            await s.close()
        with pytest.raises(errors.SchedulerClosedException):
            await s.get_queue_names()

    engine(body)


def test_local_interactive_job_streams_both_ways(engine: Runner) -> None:
    async def body() -> None:
        s = await engine.client.local_scheduler()
        job = await s.submit_interactive_job(JobDescription(
            executable="/bin/sh", arguments=["-c", "while read l; do echo \"<$l>\"; "
                                             "echo err >&2; done"], queue_name="multi"))
        async with job:
            got_out, got_err = b"", b""
            for word in (b"alpha", b"beta"):
                await job.send(word + b"\n")
                with trio.fail_after(20):
                    while not got_out.endswith(b"<" + word + b">\n"):
                        out = await job.receive()
                        assert out is not None
                        got_out += out.stdout
                        got_err += out.stderr
            await job.close_stdin()
            with trio.fail_after(20):
                while (out := await job.receive()) is not None:
                    got_err += out.stderr
        assert got_out == b"<alpha>\n<beta>\n"
        assert b"err" in got_err
        status = await s.wait_until_done(job.job, 20)
        assert status.done and status.exit_code == 0

    engine(body)


def test_bad_job_descriptions(engine: Runner) -> None:
    async def body() -> None:
        s = await engine.client.local_scheduler()
        with pytest.raises(errors.NoSuchQueueException, match="nope"):
            await s.submit_batch_job(JobDescription(executable="/bin/true", queue_name="nope"))
        job = await s.submit_batch_job(JobDescription(executable="/does/not/exist"))
        status = await s.wait_until_done(job, 20)
        assert status.done and status.has_error and "start" in status.error_message
        with pytest.raises(errors.NoSuchJobException):
            await s.get_job_status("local-99999")
        with pytest.raises(TypeError, match="tasks"):
            JobDescription(executable="x", tasks="many").to_pb()  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            JobDescription(executble="x")  # type: ignore[call-arg]
        with pytest.raises(errors.UnknownPropertyException, match="pollingDelay"):
            await engine.client.create_scheduler(
                "local", "", {"xenon.adaptors.schedulers.local.queue.pollingDelay": "100"})
        # still usable after all that
        assert "single" in await s.get_queue_names()

    engine(body)


def test_ssh_batch_and_interactive(engine: Runner, sshd, sftp_credential) -> None:
    async def body() -> None:
        s = await engine.client.create_scheduler("ssh", sshd.location, SSH_PROPS, sftp_credential)
        try:
            assert await s.get_credential() == sftp_credential
            assert await s.get_location() == sshd.location
            assert await s.get_properties() == SSH_PROPS
            name = f"out-{uuid.uuid4().hex[:6]}.txt"
            job = await s.submit_batch_job(JobDescription(executable="/bin/sh",
                                                          arguments=["-c", "whoami; exit 3"],
                                                          stdout=name))
            status = await s.wait_until_done(job, 60)
            assert status.done and status.exit_code == 3
            assert (sshd.home / name).read_text() == f"{sshd.user}\n"
            (sshd.home / name).unlink()
            ij = await s.submit_interactive_job(JobDescription(executable="/usr/bin/tr",
                                                               arguments=["a-z", "A-Z"]))
            async with ij:
                await ij.send(b"shout\n")
                await ij.close_stdin()
                out = b""
                with trio.fail_after(30):
                    while (msg := await ij.receive()) is not None:
                        out += msg.stdout
            assert out == b"SHOUT\n"
        finally:
            await s.close()

    engine(body)
