"""The seed's synchronous API beyond the two examples."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from xenonfs import xenon


@pytest.fixture(scope="module")
def started() -> Iterator[None]:
    xenon.init(heap="128m")
    try:
        yield
    finally:
        xenon.shutdown()


def test_init_refuses_plain_text_and_unknown_settings() -> None:
    with pytest.raises(ValueError, match="mutual TLS"):
        xenon.init(disable_tls=True)
    with pytest.raises(ValueError, match="hepa"):
        xenon.init(hepa="1g")


def test_calls_before_init_say_so() -> None:
    xenon.shutdown()
    with pytest.raises(RuntimeError, match="init"):
        xenon.FileSystem.create("file")


def test_file_system_calls(started, tmp_path: Path) -> None:
    with xenon.FileSystem.create("file", "/") as fs:
        base = xenon.Path(str(tmp_path))
        fs.create_directories(base / "a" / "b")
        fs.write_to_file(base / "a" / "f", [b"x" * 10])
        fs.append_to_file(base / "a" / "f", [b"y"])
        assert b"".join(fs.read_from_file(base / "a" / "f")) == b"x" * 10 + b"y"
        names = sorted(p.path.name for p in fs.list(base, recursive=True))
        assert names == ["a", "b", "f"]
        big = tmp_path / "big"
        big.write_bytes(os.urandom(2 << 20))
        stream = fs.read_from_file(big)
        assert len(next(stream)) > 0
        stream.close()  # stopping early cleans up the copy and temp file
        op = fs.copy(base / "a" / "f", fs, base / "g", xenon.CopyMode.CREATE)
        status = fs.wait_until_done(op, 10_000)
        assert status.done and not status.has_error
        with pytest.raises(xenon.PathAlreadyExistsException):
            fs.create_directory(base / "a")
        with pytest.raises(xenon.NoSuchPathException):
            fs.get_attributes(base / "missing")
        with pytest.raises(xenon.DirectoryNotEmptyException):
            fs.delete(base / "a")
        fs.delete(base / "a", recursive=True)
        fs.set_posix_file_permissions(base / "g", {xenon.PosixFilePermission.OWNER_READ})
        assert oct(os.stat(tmp_path / "g").st_mode & 0o777) == "0o400"
        assert "file" in xenon.FileSystem.get_adaptor_names()
    with pytest.raises(xenon.XenonException):
        fs.exists(base)


def test_scheduler_calls(started, tmp_path: Path) -> None:
    with xenon.Scheduler.create("local") as sched:
        assert "multi" in sched.get_queue_names()
        job = sched.submit_batch_job(xenon.JobDescription(
            executable="/bin/sh", arguments=["-c", "exit 4"], queue_name="multi"))
        status = sched.wait_until_done(job, 20_000)
        assert isinstance(status, xenon.JobStatus) and status.exit_code == 4
        sleeper = sched.submit_batch_job(xenon.JobDescription(executable="/bin/sleep",
                                                              arguments=["30"],
                                                              queue_name="multi"))
        assert sched.wait_until_running(sleeper, 10_000).running
        assert sched.cancel_job(sleeper).done
        assert [q.name for q in sched.get_queue_statuses(["single"])] == ["single"]
        assert "local" in xenon.Scheduler.get_adaptor_names()
