"""Commands on a scheduler host through the engine (the base of our slurm and
gridengine runners): local, and ssh to the test OpenSSH server."""

from __future__ import annotations

import pytest
import trio

from tests.conftest import SSH_PROPS, Runner
from tests.servers.sshd import SshServer
from xenonfs.client import PasswordCredential
from xenonfs.hpc.commands import CommandError, CommandRunner

#: Arguments a naive "join with spaces" would break.
TRICKY = ["two words", "it's", '"dq"', "$HOME", "a;b", "*", "", "back\\slash", "new\nline"]


async def _check(runner: CommandRunner) -> None:
    # Arguments arrive exactly as given, one per line (printf repeats its format).
    result = await runner.run(["printf", "[%s]\\n", *TRICKY])
    assert result.exit_code == 0
    assert result.stdout == "".join(f"[{a}]\n" for a in TRICKY)
    # stdin arrives verbatim, even text that looks like a here-document end.
    text = "line 1\n__XENONFS_EOF__\n$PATH `x`\n"
    assert (await runner.run(["cat"], stdin=text)).stdout == text
    # exit code and stderr; check=False returns them.
    failed = await runner.run(["sh", "-c", "echo out; echo err >&2; exit 5"], check=False)
    assert (failed.exit_code, failed.stdout, failed.stderr) == (5, "out\n", "err\n")
    with pytest.raises(CommandError) as info:
        await runner.run(["sh", "-c", "echo broken >&2; exit 3"])
    assert "exited 3" in str(info.value) and "broken" in str(info.value)
    # output without a final newline is kept as it is
    assert (await runner.run(["printf", "no newline"])).stdout == "no newline"
    # an interactive job: what we send comes back
    job = await runner.start(["tr", "a-z", "A-Z"], workdir="/tmp", environment={"X": "y z"})
    async with job:
        await job.send(b"hello\n")
        await job.close_stdin()
        out = b""
        while (chunk := await job.receive()) is not None:
            out += chunk.stdout
    assert out == b"HELLO\n"


def test_local_commands(engine: Runner) -> None:
    async def body() -> None:
        runner = await CommandRunner.create(engine.client, "", {}, None)
        try:
            await _check(runner)
            # commands run one at a time but many callers may wait for them
            async with trio.open_nursery() as n:
                for i in range(5):
                    n.start_soon(runner.run, ["true"])
        finally:
            await runner.close()
    engine(body)


def test_ssh_commands_in_a_login_shell(engine: Runner, sshd: SshServer) -> None:
    async def body() -> None:
        runner = await CommandRunner.create(engine.client, sshd.location, SSH_PROPS,
                                            PasswordCredential(sshd.user, sshd.password))
        try:
            await _check(runner)
            # a login shell in the user's home
            home = (await runner.run(["sh", "-c", "echo $HOME"])).stdout.strip()
            assert home == str(sshd.home)
            # the environment is set by the shell (the engine's ssh drops a job's own)
            job = await runner.start(["sh", "-c", "echo $X"], environment={"X": "y z"})
            async with job:
                out = b""
                while (chunk := await job.receive()) is not None:
                    out += chunk.stdout
            assert out == b"y z\n"
        finally:
            await runner.close()
    engine(body)
