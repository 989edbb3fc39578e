"""Every file system RPC through the async client, on `file` and on real sftp."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Iterator

import pytest
import trio

from tests.conftest import SFTP_PROPS, Runner
from xenonfs.client import (CopyMode, FileSystem, Path, PosixFilePermission,
                            errors)
from xenonfs.client.types import mode_to_permissions


@pytest.fixture(params=["file", "sftp"])
def fs_root(request: pytest.FixtureRequest, engine: Runner, tmp_path) -> Iterator[tuple[FileSystem, Path]]:
    """A file system and an empty directory on it."""
    if request.param == "file":
        fs = engine(engine.client.create_file_system, "file", "/")
        root = Path(str(tmp_path))
    else:
        sshd = request.getfixturevalue("sshd")
        cred = request.getfixturevalue("sftp_credential")
        fs = engine(engine.client.create_file_system, "sftp", sshd.location, SFTP_PROPS, cred)
        root = Path(str(sshd.home)) / f"t-{uuid.uuid4().hex[:8]}"
        engine(fs.create_directory, root)
    try:
        yield fs, root
    finally:
        if request.param == "sftp":
            engine(fs.delete, root, True)
        engine(fs.close)


def test_namespace_operations(engine: Runner, fs_root) -> None:
    fs, root = fs_root

    async def body() -> None:
        assert await fs.exists(root)
        assert not await fs.exists(root / "nope")
        await fs.create_directory(root / "d")
        await fs.create_directories(root / "a" / "b" / "c")
        await fs.create_file(root / "d" / "empty")
        await fs.write_to_file(root / "d" / "f.txt", b"hello")
        attrs = await fs.get_attributes(root / "d" / "f.txt")
        assert attrs.size == 5 and attrs.is_regular and not attrs.is_directory
        assert attrs.last_modified_time > 0
        assert (await fs.get_attributes(root / "d")).is_directory
        names = sorted(a.path.name for a in await fs.list_all(root))
        assert names == ["a", "d"]
        deep = sorted(str(a.path) for a in await fs.list_all(root, recursive=True))
        assert str(root / "a" / "b" / "c") in deep and str(root / "d" / "f.txt") in deep
        await fs.rename(root / "d" / "f.txt", root / "d" / "g.txt")
        assert await fs.exists(root / "d" / "g.txt") and not await fs.exists(root / "d" / "f.txt")
        with pytest.raises(errors.DirectoryNotEmptyException) as info:
            await fs.delete(root / "d")
        assert info.value.errno == 39  # ENOTEMPTY
        await fs.delete(root / "d", recursive=True)
        assert not await fs.exists(root / "d")
        # symlinks
        await fs.write_to_file(root / "target", b"x")
        await fs.create_symbolic_link(root / "link", root / "target")
        assert (await fs.get_attributes(root / "link")).is_symbolic_link
        assert (await fs.read_symbolic_link(root / "link")).name == "target"
        # permissions
        await fs.set_posix_file_permissions(root / "target", mode_to_permissions(0o640))
        perms = (await fs.get_attributes(root / "target")).permissions
        assert perms == {PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                         PosixFilePermission.GROUP_READ}
        # working directory and relative paths
        await fs.set_working_directory(root)
        assert await fs.get_working_directory() == root
        assert await fs.exists("target")
        assert await fs.get_path_separator() == "/"
        assert await fs.is_open()
        assert fs.adaptor == await fs.get_adaptor_name()

    engine(body)


def test_write_append_read_and_copy_with_status(engine: Runner, fs_root) -> None:
    fs, root = fs_root

    async def body() -> None:
        payload = os.urandom(3 * 1024 * 1024 + 17)  # above the one-message limit

        async def chunks():
            for i in range(0, len(payload), 100_000):
                yield payload[i:i + 100_000]
                await trio.sleep(0)

        await fs.write_to_file(root / "big", chunks())
        got = await fs.read_bytes(root / "big")
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        reader = fs.read_from_file(root / "big")
        async with reader:
            assert len(await reader.__anext__()) > 0
        assert reader.via_copy  # large files never come as one message
        # writeToFile never overwrites
        with pytest.raises(errors.PathAlreadyExistsException):
            await fs.write_to_file(root / "big", b"again")
        # append (sftp and file can)
        await fs.write_to_file(root / "log", [b"one\n"])
        await fs.append_to_file(root / "log", [b"two\n"])
        assert await fs.read_bytes(root / "log") == b"one\ntwo\n"
        # copy to the local file system, with status, progress and errors
        local = await engine.client.local_fs()
        dest = Path(f"/tmp/xenonfs-copy-{os.getpid()}-{fs.adaptor}")
        seen = []
        try:
            status = await fs.copy_and_wait(root / "big", local, dest, CopyMode.REPLACE,
                                            progress=seen.append, interval=0.01)
            assert status.done and not status.has_error
            assert status.bytes_copied == len(payload) and seen
            assert open(dest, "rb").read() == payload
            op = await fs.copy(root / "big", local, dest, CopyMode.CREATE)
            status = await fs.wait_until_done(op)
            assert status.done and status.error_type.name == "ALREADY_EXISTS"
            with pytest.raises(errors.PathAlreadyExistsException):
                await fs.copy_and_wait(root / "big", local, dest, CopyMode.CREATE)
            op = await fs.copy(root / "big", local, dest, CopyMode.REPLACE)
            cancelled = await fs.cancel(op)
            assert cancelled.done
            with pytest.raises(errors.NoSuchPathException):
                await fs.copy_and_wait(root / "missing", local, dest, CopyMode.REPLACE)
        finally:
            if os.path.exists(dest):
                os.remove(dest)

    engine(body)


def test_a_listing_stopped_early_is_cancelled_and_the_next_one_is_whole(engine: Runner, fs_root) -> None:
    """A reader that stops after the first batch of a big listing must not
    return before the engine's call is over (the engine's sftp breaks on
    overlapping calls), and must leave the file system usable: the next
    listing has every entry, and the fixture's delete works."""
    fs, root = fs_root
    local = os.fspath(root)  # sshd's home is on this machine too
    for i in range(3000):
        open(os.path.join(local, f"e{i:05d}"), "w").close()

    async def body() -> None:
        with trio.fail_after(20):
            stream = await fs.list(root)
            first = await stream.batch()
            assert 0 < len(first) < 3000
            pump = stream._stream._thread
            await stream.aclose()
            await trio.to_thread.run_sync(pump.join, 10)
            assert not pump.is_alive()
            with pytest.raises(StopAsyncIteration):
                await stream.batch()
            names = {a.path.name for a in await fs.list_all(root)}
            assert names == {f"e{i:05d}" for i in range(3000)}
            # A whole-listing read (one worker thread) cancelled midway is
            # not cut short: it ends with the engine's call, so the next one
            # and the fixture's delete do not overlap it (sftp breaks on that).
            got: list = []
            with trio.move_on_after(0.005):
                got = await fs.list_all(root)
            assert len(got) == 3000
            assert len(await fs.list_all(root)) == 3000
            with pytest.raises(errors.NoSuchPathException):
                await fs.list_all(root / "missing")

    engine(body)


def test_reading_a_directory_is_eisdir(engine: Runner, fs_root) -> None:
    fs, root = fs_root

    async def body() -> None:
        with pytest.raises(errors.InvalidPathException) as info:
            await fs.read_bytes(root)
        assert info.value.errno == 21  # EISDIR

    engine(body)


def test_closed_file_system_refuses_use(engine: Runner, tmp_path) -> None:
    async def body() -> None:
        fs = await engine.client.create_file_system("file", "/")
        assert await fs.exists(str(tmp_path))
        ids = await engine.client.list_file_systems()
        assert fs._session.current_id in ids
        await fs.close()
        assert fs._session.current_id not in await engine.client.list_file_systems()
        with pytest.raises(errors.FileSystemClosedException):
            await fs.exists(str(tmp_path))
        assert not await fs.is_open()

    engine(body)


def test_adaptor_descriptions_and_static_calls(engine: Runner) -> None:
    async def body() -> None:
        c = engine.client
        names = await c.get_file_system_adaptor_names()
        assert set(names) == {"file", "sftp", "ftp", "webdav", "s3"}
        s3 = await c.get_file_system_adaptor_description("s3")
        assert s3.needs_size_beforehand and not s3.supports_rename
        sftp = next(d for d in await c.get_file_system_adaptor_descriptions() if d.name == "sftp")
        assert sftp.supports_rename and sftp.can_append
        assert any(p.name.endswith("strictHostKeyChecking") for p in sftp.supported_properties)
        with pytest.raises(errors.UnknownAdaptorException):
            await c.get_file_system_adaptor_description("nope")
        locals_ = await c.local_file_systems()
        assert locals_ and await locals_[0].exists("/")
        sched_names = await c.get_scheduler_adaptor_names()
        assert set(sched_names) == {"local", "ssh", "at", "slurm", "gridengine", "torque"}
        local = await c.get_scheduler_adaptor_description("local")
        assert local.supports_interactive and local.is_embedded
        assert len(await c.get_scheduler_adaptor_descriptions()) == 6

    engine(body)
