"""Engine and client throughput on one 512 MiB file, side by side in one run.

Run by hand from the repository root, as root (it starts the test sshd):

    python benchmarks/engine.py [--size-mib 512] [--jobs 200]

Prints MB/s for: the engine's copy sftp->file and file->sftp, the engine's raw
readFromFile/writeToFile over sftp, this client's read_from_file/write_to_file
over sftp, sshfs for reference (if installed), and the submit rate of trivial
local batch jobs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.sshd import SshServer  # noqa: E402
from xenonfs._proto import xenon_pb2 as pb  # noqa: E402
from xenonfs._proto import xenon_pb2_grpc as pbg  # noqa: E402
from xenonfs.client import CopyMode, JobDescription, PasswordCredential, open_client  # noqa: E402
from xenonfs.engine.process import EngineSettings  # noqa: E402

PROPS = {"xenon.adaptors.filesystems.sftp.strictHostKeyChecking": "false",
         "xenon.adaptors.filesystems.sftp.loadKnownHosts": "false"}
MB = 1e6


def raw_stub(endpoint) -> pbg.FileSystemServiceStub:
    """A channel without the client's message cap: the raw engine, as PyXenon used it."""
    ca, key, cert = endpoint.tls.client_credentials()
    channel = grpc.secure_channel(endpoint.address, grpc.ssl_channel_credentials(ca, key, cert),
                                  options=[("grpc.max_receive_message_length", -1),
                                           ("grpc.max_send_message_length", -1)])
    return pbg.FileSystemServiceStub(channel)


async def run(size: int, jobs: int, sshd: SshServer, workdir: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    src = workdir / "src.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for i in range(size >> 20):
            f.write(i.to_bytes(8, "little") + block[8:])
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    remote = f"{sshd.home}/bench.bin"
    cred = PasswordCredential(sshd.user, sshd.password)

    def rate(seconds: float) -> str:
        return f"{size / MB / seconds:7.1f}"

    async with open_client(EngineSettings(heap="2g", cwd=str(workdir))) as client:
        local = await client.local_fs()
        sftp = await client.create_file_system("sftp", sshd.location, PROPS, cred)

        async def rm_remote() -> None:
            if await sftp.exists(remote):
                await sftp.delete(remote)

        await rm_remote()
        t = time.perf_counter()
        await local.copy_and_wait(str(src), sftp, remote, CopyMode.REPLACE)
        rows.append(("engine copy file->sftp (upload)", rate(time.perf_counter() - t)))

        dst = workdir / "dst.bin"
        t = time.perf_counter()
        await sftp.copy_and_wait(remote, local, str(dst), CopyMode.REPLACE)
        rows.append(("engine copy sftp->file (download)", rate(time.perf_counter() - t)))
        assert hashlib.sha256(dst.read_bytes()).hexdigest() == want
        dst.unlink()

        stub = raw_stub(client.engine.endpoint())
        handle = await sftp.remote_handle()

        def raw_read() -> str:
            h = hashlib.sha256()
            for msg in stub.readFromFile(pb.PathRequest(filesystem=handle,
                                                        path=pb.Path(path=remote))):
                h.update(msg.buffer)
            return h.hexdigest()

        t = time.perf_counter()
        got = await trio.to_thread.run_sync(raw_read)
        rows.append(("engine readFromFile (one message)", rate(time.perf_counter() - t)))
        assert got == want

        t = time.perf_counter()
        reader = sftp.read_from_file(remote)
        h = hashlib.sha256()
        async with reader:
            async for chunk in reader:
                h.update(chunk)
        rows.append(("xenonfs client read_from_file", rate(time.perf_counter() - t)))
        assert h.hexdigest() == want

        await rm_remote()

        def raw_write() -> None:
            def requests():
                yield pb.WriteToFileRequest(filesystem=handle, path=pb.Path(path=remote))
                with open(src, "rb") as f:
                    while chunk := f.read(1 << 20):
                        yield pb.WriteToFileRequest(buffer=chunk)
            stub.writeToFile(requests())

        t = time.perf_counter()
        await trio.to_thread.run_sync(raw_write)
        rows.append(("engine writeToFile (1 MiB messages)", rate(time.perf_counter() - t)))
        await rm_remote()

        async def chunks():
            async with await trio.open_file(src, "rb") as f:
                while chunk := await f.read(1 << 20):
                    yield chunk

        t = time.perf_counter()
        await sftp.write_to_file(remote, chunks())
        rows.append(("xenonfs client write_to_file", rate(time.perf_counter() - t)))
        assert (await sftp.get_attributes(remote)).size == size

        sched = await client.create_scheduler("local")
        t = time.perf_counter()
        submitted = [await sched.submit_batch_job(JobDescription(
            executable="/bin/true", queue_name="unlimited")) for _ in range(jobs)]
        submit_s = time.perf_counter() - t
        for job in submitted:
            await sched.wait_until_done(job, 120)
        all_s = time.perf_counter() - t
        rows.append((f"local batch jobs: submit {jobs}", f"{jobs / submit_s:7.1f} jobs/s"))
        rows.append((f"local batch jobs: submit+finish {jobs}", f"{jobs / all_s:7.1f} jobs/s"))
        await rm_remote()
    return rows


def sshfs_rows(size: int, sshd: SshServer, workdir: Path) -> list[tuple[str, str]]:
    if not shutil.which("sshfs"):
        return [("sshfs", "not installed")]
    mnt = workdir / "mnt"
    mnt.mkdir()
    subprocess.run(["sshfs", f"{sshd.user}@127.0.0.1:{sshd.home}", str(mnt), "-p",
                    str(sshd.port), "-o", "password_stdin,StrictHostKeyChecking=no,"
                    "UserKnownHostsFile=/dev/null"], input=sshd.password + "\n", text=True,
                   check=True, capture_output=True)
    rows = []
    try:
        t = time.perf_counter()
        shutil.copyfile(workdir / "src.bin", mnt / "sshfs.bin")
        rows.append(("sshfs write (cp, reference)", f"{size / MB / (time.perf_counter() - t):7.1f}"))
        subprocess.run(["sync"], check=False)
        # Drop the page cache copy so the read goes to the server.
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        t = time.perf_counter()
        with open(mnt / "sshfs.bin", "rb") as f:
            while f.read(1 << 20):
                pass
        rows.append(("sshfs read (reference)", f"{size / MB / (time.perf_counter() - t):7.1f}"))
        (mnt / "sshfs.bin").unlink()
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    size = args.size_mib << 20
    sshd = SshServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="xenonfs-bench-"))
    try:
        rows = trio.run(run, size, args.jobs, sshd, workdir)
        rows += sshfs_rows(size, sshd, workdir)
    finally:
        sshd.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.size_mib} MiB file, sftp = OpenSSH on loopback; MB/s unless noted\n")
    width = max(len(r[0]) for r in rows)
    print(f"| {'path'.ljust(width)} | MB/s |")
    print(f"|{'-' * (width + 2)}|------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value.strip()} |")


if __name__ == "__main__":
    main()
