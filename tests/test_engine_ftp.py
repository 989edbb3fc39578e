"""The engine backend on a real vsftpd: calls made side by side.

The engine's ftp adaptor keeps one FTP control connection per file system
and answers a stat by changing its working directory and listing it, so two
calls at once on it mix their replies (CI saw ENOENT and EIO among eight
concurrent readers of one file)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import trio

from tests.conftest import Runner
from tests.servers.ftpd import FtpServer
from xenonfs.client import PasswordCredential
from xenonfs.backends.engine import EngineRemote


def test_concurrent_stats_and_downloads_on_ftp_all_answer_right(
        engine: Runner, ftpd: FtpServer, tmp_path: Path) -> None:
    backing = ftpd.home / f"c-{uuid.uuid4().hex[:8]}"
    backing.mkdir()
    shutil.chown(backing, ftpd.user, ftpd.user)
    sizes = {f"f{i}.bin": 1000 + i for i in range(8)}
    for name, size in sizes.items():
        (backing / name).write_bytes(b"x" * size)
    big = os.urandom(3 << 20)
    (backing / "big.bin").write_bytes(big)
    stats: dict[tuple[str, int], int | None] = {}
    downloads: list[bytes] = []

    async def main() -> None:
        client = engine.client
        fs = await client.create_file_system("ftp", ftpd.location, {},
                                             PasswordCredential(ftpd.user, ftpd.password))
        description = await client.get_file_system_adaptor_description("ftp")
        remote = EngineRemote(client, fs, str(backing), description)

        async def stat(name: str, turn: int) -> None:
            attr = await remote.stat(f"/{name}")
            stats[name, turn] = None if attr is None else attr.size

        async def download(turn: int) -> None:
            local = tmp_path / f"down-{turn}"
            await remote.download("/big.bin", str(local), lambda done: None)
            downloads.append(local.read_bytes())

        try:
            with trio.fail_after(120):
                async with trio.open_nursery() as nursery:
                    for turn in range(3):
                        for name in sizes:
                            nursery.start_soon(stat, name, turn)
                    for turn in range(3):
                        nursery.start_soon(download, turn)
        finally:
            await remote.close()
            await fs.close()

    try:
        engine(main)
    finally:
        shutil.rmtree(backing, ignore_errors=True)
    assert stats == {(name, turn): size for name, size in sizes.items() for turn in range(3)}
    assert downloads == [big] * 3
