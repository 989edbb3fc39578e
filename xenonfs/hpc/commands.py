"""Run programs on a scheduler's host through the engine's `local` or `ssh` scheduler.

Our own slurm and gridengine runners are built on this instead of the
engine's adaptors for them (which break on today's versions, and over ssh
could only be fixed by editing the user's shell start-up files).

Every command goes to the host as a script on the stdin of ``/bin/sh``, so
arguments are quoted by us (`shlex.quote`), never by the engine. Over ssh the
shell is a login shell: it sees the PATH a user sees after ``ssh host`` (where
clusters put sbatch/qsub). Markers around the output drop whatever the login
scripts print and carry the exit code.
"""

from __future__ import annotations

import errno
import logging
import re
import secrets
import shlex
from dataclasses import dataclass
from typing import Any, Sequence

import trio

from ..client import JobDescription, Scheduler, XenonClient, errors
from ..client.scheduler import InteractiveJob
from ..client.types import Credential


log = logging.getLogger("xenonfs.jobs")
#: Engine errors that say a scheduler's connection is closed (the engine's SSH
#: library closes one idle for 10 minutes and never opens it again; a job
#: that "did not start" on ssh then said "client is closed", an interactive one
#: "Interactive job failed to start!").
LOST = re.compile(r"client is closed|not connected|connection (is )?(closed|lost|reset)|"
                  r"failed to start|session is (closed|being closed)", re.I)

#: The engine queue our commands run in. In the default (single) queue a job
#: waits for the engine's next 1 s poll to clear the previous one; we run one
#: command at a time anyway (see `CommandRunner`).
QUEUE = "unlimited"


@dataclass(frozen=True)
class CommandResult:
    """What a command did.

    Attributes:
        exit_code: its exit status.
        stdout: its standard output (decoded as UTF-8, bad bytes replaced).
        stderr: its standard error.
    """

    exit_code: int
    stdout: str
    stderr: str


class CommandError(OSError):
    """A command failed (non-zero exit, or it could not be run); the message
    names the command, its exit code and its stderr."""


def script_for(argv: Sequence[str], stdin: str | None, token: str) -> str:
    """Args: argv: the command; stdin: its input, or None; token: a random marker.

    Returns:
        A shell script that runs ``argv`` between markers and prints its exit code.
    """
    line = " ".join(shlex.quote(a) for a in argv)
    begin, end = f"__xenonfs_begin_{token}__", f"__xenonfs_end_{token}__"
    if stdin is None:
        line += " </dev/null"
    else:
        # A quoted here-document delimiter: no expansion inside the input.
        body = stdin if stdin.endswith("\n") else stdin + "\n"
        line += f" <<'__XENONFS_EOF_{token}__'\n{body}__XENONFS_EOF_{token}__"
    return (f"printf '%s\\n' {begin}; printf '%s\\n' {begin} >&2\n{line}\n"
            f"printf '\\n%s %d\\n' {end} $?; printf '\\n%s\\n' {end} >&2\n")


def _between(text: str, token: str) -> tuple[str, int | None]:
    """Returns: (text between the markers, the exit code printed after the end
    marker or None when the end marker is missing)."""
    begin, end = f"__xenonfs_begin_{token}__\n", f"\n__xenonfs_end_{token}__"
    start = text.find(begin)
    text = text[start + len(begin):] if start >= 0 else text
    stop = text.rfind(end)
    if stop < 0:
        return text, None
    tail = text[stop + len(end):].split()
    code = int(tail[0]) if tail and tail[0].lstrip("-").isdigit() else 0
    return text[:stop], code


class CommandRunner:
    """Runs commands, one at a time, on the engine scheduler ``sched``.

    One at a time because the engine's ssh scheduler runs every job as a
    channel of one SSH connection and fails beyond sshd's MaxSessions.

    Args:
        sched: an engine `local` or `ssh` scheduler.
        login: run commands in a login shell (ssh: the user's PATH).
    """

    def __init__(self, sched: Scheduler, login: bool) -> None:
        self.sched = sched
        self.login = login
        self._lock = trio.Lock()
        #: The connection was seen closed: make it again before the next command.
        self._stale = False
        #: Connections made again: the engine numbers the jobs of each from 0.
        self.generation = 0

    def job_key(self, engine_id: str) -> str:
        """Returns: a name for engine job ``engine_id`` of this connection that
        no job of a later one gets."""
        return f"{engine_id}@{self.generation}" if self.generation else engine_id

    def engine_id(self, key: str) -> str | None:
        """Returns: the engine's id of the job `job_key` named, or None when it
        ran on an earlier connection (the engine knew it only there)."""
        engine_id, at, generation = key.rpartition("@")
        if not at:
            engine_id, generation = key, "0"
        return engine_id if generation == str(self.generation) else None

    async def _submit(self, description: JobDescription,
                      stdin: list[bytes] | None) -> InteractiveJob:
        """Start an engine job on a connection that is open: when it could not
        start because the connection is closed, make it again and start the
        job once more (it did not run).

        Raises:
            XenonException: it could not start (or the connection not be made).
        """
        for attempt in (1, 2):
            if self._stale:
                await self.sched.reconnect()
                self._stale = False
                self.generation += 1
                log.warning("%s: the scheduler's connection was closed; made it again",
                            self.sched.location or "local")
            try:
                return await self.sched.submit_interactive_job(description, stdin=stdin)
            except errors.XenonException as exc:
                if attempt == 2 or not self.login or not LOST.search(str(exc)):
                    raise
                self._stale = True
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    async def create(cls, client: XenonClient, host: str, properties: dict[str, str],
                     credential: Credential | None) -> "CommandRunner":
        """Args: client: the engine; host: ``host[:port]`` for ssh, "" for this
        machine; properties: ``xenon.adaptors.schedulers.ssh.*`` properties;
        credential: the ssh login.

        Returns:
            A runner with its engine scheduler connected.

        Raises:
            XenonException: the scheduler cannot connect.
        """
        if host:
            sched = await client.create_scheduler("ssh", host, properties, credential)
        else:
            sched = await client.create_scheduler("local", "", {}, None)
        return cls(sched, login=bool(host))

    def _shell(self) -> list[str]:
        return ["-l", "-s"] if self.login else ["-s"]

    async def run(self, argv: Sequence[str], stdin: str | None = None,
                  check: bool = True) -> CommandResult:
        """Run ``argv`` on the host.

        Args:
            argv: program and arguments (quoted for the shell by us).
            stdin: text for its standard input (None: /dev/null).
            check: raise when it exits non-zero.

        Returns:
            Its exit code and output.

        Raises:
            CommandError: it exited non-zero (with ``check``), or its exit
                code was lost (the connection ended mid-way).
        """
        token = secrets.token_hex(8)
        script = script_for(argv, stdin, token)
        out, err = bytearray(), bytearray()
        async with self._lock:
            try:
                job = await self._submit(
                    JobDescription(executable="/bin/sh", arguments=self._shell(),
                                   queue_name=QUEUE), [script.encode()])
                async with job:
                    while (chunk := await job.receive()) is not None:
                        out += chunk.stdout
                        err += chunk.stderr
            except errors.XenonException as exc:
                raise CommandError(exc.errno or errno.EIO,
                                   f"{shlex.join(argv)}: could not run: {exc}") from None
        stdout, code = _between(out.decode(errors="replace"), token)
        stderr, _ = _between(err.decode(errors="replace"), token)
        if code is None:
            self._stale = self.login  # the next command finds out on a new connection
            raise CommandError(errno.EIO, f"{shlex.join(argv)}: ended without an exit code "
                               f"(connection lost?); stderr: {stderr.strip()[-500:]}")
        if check and code != 0:
            raise CommandError(errno.EIO, f"{shlex.join(argv)} exited {code}: "
                               f"{stderr.strip()[-500:] or stdout.strip()[-500:]}")
        return CommandResult(code, stdout, stderr)

    async def start(self, argv: Sequence[str], workdir: str | None = None,
                    environment: dict[str, str] | None = None) -> InteractiveJob:
        """Start ``argv`` as an interactive job whose stdin/stdout/stderr are streamed.

        Args:
            argv: program and arguments.
            workdir: directory to run in (on the host).
            environment: extra variables (set by the shell: the engine's ssh
                scheduler drops a job's environment unless sshd accepts it).

        Returns:
            The running job (the caller reads it to the end and closes it).

        Raises:
            CommandError: the engine refused to start it.
        """
        line = " ".join(shlex.quote(a) for a in argv)
        if environment:
            line = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items()) + \
                f" exec {line}"
        else:
            line = f"exec {line}"
        if workdir:
            line = f"cd {shlex.quote(workdir)} && {line}"
        args = ["-l", "-c", line] if self.login else ["-c", line]
        try:
            async with self._lock:
                return await self._submit(
                    JobDescription(executable="/bin/sh", arguments=args, queue_name=QUEUE),
                    None)
        except errors.XenonException as exc:
            raise CommandError(exc.errno or errno.EIO,
                               f"{shlex.join(argv)}: could not start: {exc}") from None

    async def job_statuses(self, job_ids: list[str]) -> list[Any]:
        """Returns: the engine's statuses of jobs started with `start`."""
        return await self.sched.get_job_statuses(job_ids)

    async def close(self) -> None:
        """Close the engine scheduler (errors ignored: we are leaving)."""
        try:
            await self.sched.close()
        except errors.XenonException:
            pass
