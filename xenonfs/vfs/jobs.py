"""The `.jobs/` directory: job spec files in, job state and output out.

    .jobs/NAME.toml | NAME.json   write + close = submit (close fails EINVAL on a bad spec)
    .jobs/NAME.error              why NAME's spec was refused
    .jobs/NAME/                   spec.toml id status.json stdout stderr ctl
    .jobs/queues.json             the scheduler's queues

Nothing here exists remotely. File contents are made when a file is opened,
and opened with direct I/O so the kernel never serves a stale copy.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import trio

from . import jobspec
from .core import Attr
from .errors import err
from .inodes import InodeTable
from .jobstore import JobRecord, JobStore

log = logging.getLogger("xenonfs.jobs")

ROOT = "/.jobs"
FILES = ("spec.toml", "id", "status.json", "stdout", "stderr", "ctl")
#: Handle numbers of `.jobs/` files start here (the vfs's own start at 1).
FH_BASE = 1 << 40
#: Submissions of a job that the scheduler failed to start, in all.
MAX_ATTEMPTS = 3


@dataclass
class JobState:
    """A scheduler's answer about one job."""

    state: str
    running: bool
    done: bool
    exit_code: int | None = None
    error: str | None = None
    #: The scheduler failed before starting the job: submitting it again is safe.
    never_started: bool = False


class JobRunner(Protocol):
    """The scheduler side (implemented over the engine in `xenonfs.jobrunner`)."""

    scheduler: str
    exit_code_known: bool
    #: Interactive jobs that may run at once (None: no limit of ours).
    max_interactive: int | None

    async def submit(self, spec: dict[str, Any]) -> str:
        """Returns: the job id. Raises: OSError (EINVAL for a refused description)."""

    async def statuses(self, job_ids: list[str]) -> list[JobState]:
        """Returns: states, in order (done jobs are then forgotten by local/ssh)."""

    async def cancel(self, job_id: str) -> JobState:
        """Returns: the state after cancelling."""

    async def queues(self) -> list[dict[str, Any]]:
        """Returns: queue names and statuses."""

    async def read_output(self, path: str) -> bytes:
        """Returns: a remote output file's content so far (b"" if missing)."""

    async def submit_interactive(self, spec: dict[str, Any]) -> tuple[str, Any]:
        """Returns: (job id, its streams: ``send``, ``close_stdin``, ``receive``
        giving objects with ``stdout``/``stderr`` or None at the end, ``aclose``)."""


@dataclass(eq=False)
class _Live:
    """The streams of a running interactive job."""

    io: Any
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    ended: bool = False
    changed: trio.Event = field(default_factory=trio.Event)
    stdin_open: int = 0

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


@dataclass(eq=False)
class _Open:
    path: str
    data: bytearray = field(default_factory=bytearray)
    writable: bool = False
    wrote: bool = False
    live: _Live | None = None  # an interactive job's stdin/stdout/stderr
    #: A write went past `jobspec.MAX_SPEC_BYTES` (its bytes were not kept).
    oversize: bool = False


class JobsDir:
    """The `.jobs/` directory of one mount.

    Args:
        runner: the mount's scheduler.
        store: the persistent registry.
        inodes: the mount's inode table (so `.jobs/` paths have inodes too).
        root: the mount's remote root (default working directory).
        poll_interval: seconds between status polls of unfinished jobs.
        nursery: runs the streams of interactive jobs.
        on_done: called when a job ends (what it wrote on the server is then
            not in any cached listing or attributes).
    """

    def __init__(self, runner: JobRunner, store: JobStore, inodes: InodeTable, root: str,
                 poll_interval: float, nursery: trio.Nursery,
                 on_done: Callable[[], None] | None = None) -> None:
        self.on_done = on_done
        self.runner = runner
        self.store = store
        self.inodes = inodes
        self.root = root
        self.poll_interval = poll_interval
        self.nursery = nursery
        self.jobs: dict[str, JobRecord] = store.load()
        self._live: dict[str, _Live] = {}
        for job in self.jobs.values():
            if job.spec.get("interactive") and not job.done:
                # Its streams ended with the process that held them.
                job.done, job.state, job.finished_at = True, "UNKNOWN", time.time()
                job.error = "an interactive job's streams do not survive a restart of xenonfs"
                store.save(job)
        self.errors: dict[str, bytes] = {}
        self._pending: dict[str, _Open] = {}  # spec files being written
        self._handles: dict[int, _Open] = {}
        self._next_fh = FH_BASE
        self._wake = trio.Event()
        self._submit_lock = trio.Lock()
        # Jobs whose cancel is in flight: a poll must not answer for them. (at's
        # atrm drops a running job from atq before the cancel returns, and a
        # poll in that gap saw "DONE": the job was reported finished, not cancelled.)
        self._cancelling: set[str] = set()
        self.uid, self.gid = os.getuid(), os.getgid()

    @staticmethod
    def owns(path: str) -> bool:
        """Returns: True for `.jobs` and everything below it."""
        return path == ROOT or path.startswith(ROOT + "/")

    # -- names ---------------------------------------------------------------------
    @staticmethod
    def _split(path: str) -> list[str]:
        return path[len(ROOT):].strip("/").split("/") if path != ROOT else []

    def _kind(self, path: str) -> str | None:
        parts = self._split(path)
        if not parts:
            return "root"
        if len(parts) == 1:
            name = parts[0]
            if name == "queues.json":
                return "queues"
            if name in self._pending:
                return "spec"
            if name.endswith(".error") and name[:-6] in self.errors:
                return "error"
            if name in self.jobs:
                return "jobdir"
            return None
        if len(parts) == 2 and parts[0] in self.jobs and parts[1] in self._files(parts[0]):
            return "jobfile"
        return None

    def _files(self, name: str) -> tuple[str, ...]:
        return FILES + ("stdin",) if self.jobs[name].spec.get("interactive") else FILES

    def _attr(self, path: str, kind: str, size: int = 0, lookup: bool = False) -> Attr:
        ino = self.inodes.ino(path, lookup=lookup)
        now = time.time_ns()
        if kind in ("root", "jobdir"):
            return Attr(ino, stat.S_IFDIR | 0o755, 0, now, 2)
        writable = kind == "spec" or path.endswith(("/ctl", "/stdin"))
        return Attr(ino, stat.S_IFREG | (0o644 if writable else 0o444), size, now, 1)

    async def _content(self, path: str, kind: str) -> bytes:
        parts = self._split(path)
        if kind == "queues":
            return (json.dumps(await self.runner.queues(), indent=2) + "\n").encode()
        if kind == "error":
            return self.errors[parts[0][:-6]]
        if kind == "spec":
            return bytes(self._pending[parts[0]].data)
        if kind == "jobfile":
            job, name = self.jobs[parts[0]], parts[1]
            if name == "spec.toml":
                return jobspec.to_toml(job.spec).encode()
            if name == "id":
                return f"{job.job_id}\n".encode()
            if name == "status.json":
                return job.status_json(self.runner.exit_code_known)
            if name in ("stdout", "stderr") and job.spec.get("interactive"):
                live = self._live.get(parts[0])
                return bytes(getattr(live, name)) if live else b""
            if name in ("stdout", "stderr"):
                target = jobspec.output_path(job.spec, name)
                return await self.runner.read_output(target) if target else b""
            return b""  # ctl and stdin read empty
        raise err(errno.EISDIR, path)

    # -- metadata --------------------------------------------------------------------
    async def getattr(self, path: str, lookup: bool = False) -> Attr:
        """Args: lookup: a kernel lookup (counts a reference to the inode).

        Returns: attributes of a `.jobs/` path. Raises: ENOENT."""
        kind = self._kind(path)
        if kind is None:
            raise err(errno.ENOENT, path)
        size = 0
        live = self._live.get(self._split(path)[0]) if kind == "jobfile" else None
        if kind in ("spec", "error") or (kind == "jobfile" and (live or not path.endswith(
                ("/stdout", "/stderr")))):
            size = len(await self._content(path, kind))
        return self._attr(path, kind, size, lookup)

    async def readdir(self, path: str) -> list[tuple[str, Any]]:
        """Returns: (name, attributes) of a `.jobs/` directory's entries."""
        kind = self._kind(path)
        if kind == "root":
            names = ["queues.json", *self._pending, *(f"{n}.error" for n in self.errors),
                     *self.jobs]
        elif kind == "jobdir":
            names = list(self._files(self._split(path)[0]))
        else:
            raise err(errno.ENOTDIR if kind else errno.ENOENT, path)
        result = []
        for name in names:
            child = f"{path}/{name}"
            child_kind = self._kind(child)
            if child_kind:
                result.append((name, self._attr(child, child_kind)))
        return result

    # -- files -------------------------------------------------------------------------
    async def create(self, path: str) -> tuple[int, Any]:
        """Create ``.jobs/NAME.toml`` or ``NAME.json`` for writing.

        Returns:
            (handle, attributes).

        Raises:
            OSError: EACCES for anything else; EEXIST for a taken name.
        """
        parts = self._split(path)
        name = parts[0] if len(parts) == 1 else ""
        stem, _, ext = name.rpartition(".")
        if len(parts) != 1 or ext not in ("toml", "json") or not jobspec.NAME_RE.fullmatch(stem):
            raise err(errno.EACCES, f"{path}: only NAME.toml or NAME.json can be created in "
                                     ".jobs/ (NAME: letters, digits, . _ -)")
        if stem in self.jobs:
            raise err(errno.EEXIST, f"{path}: a job named {stem} exists; remove .jobs/{stem} first")
        handle = self._pending[name] = _Open(path, writable=True)
        self.errors.pop(stem, None)
        return self._new_fh(handle), self._attr(path, "spec", lookup=True)

    def _new_fh(self, handle: _Open) -> int:
        self._next_fh += 1
        self._handles[self._next_fh] = handle
        return self._next_fh

    async def open(self, path: str, flags: int) -> int:
        """Returns: a handle on a snapshot of the file. Raises: ENOENT, EACCES."""
        kind = self._kind(path)
        if kind is None:
            raise err(errno.ENOENT, path)
        writable = (flags & os.O_ACCMODE) != os.O_RDONLY
        if writable and not (kind == "spec" or path.endswith(("/ctl", "/stdin"))):
            raise err(errno.EACCES, f"{path} is read-only")
        live = self._live.get(self._split(path)[0]) if kind == "jobfile" else None
        if live is not None and path.endswith(("/stdin", "/stdout", "/stderr")):
            if path.endswith("/stdin"):
                if not writable:
                    raise err(errno.EACCES, f"{path} is write-only")
                live.stdin_open += 1
            return self._new_fh(_Open(path, writable=writable, live=live))
        if path.endswith("/stdin"):
            raise err(errno.EPIPE, f"{path}: the job's input is closed")
        if kind == "spec":
            handle = self._pending[self._split(path)[0]]
            if flags & os.O_TRUNC:
                handle.data.clear()
            return self._new_fh(handle)
        data = bytearray() if path.endswith("/ctl") else bytearray(await self._content(path, kind))
        return self._new_fh(_Open(path, data, writable))

    def handle(self, fh: int) -> _Open:
        """Returns: the open file. Raises: EBADF."""
        try:
            return self._handles[fh]
        except KeyError:
            raise err(errno.EBADF, f"handle {fh}") from None

    async def read(self, fh: int, offset: int, size: int) -> bytes:
        """Returns: bytes of the snapshot taken at open; an interactive job's
        stdout/stderr block like a pipe until output arrives or the job ends."""
        handle = self.handle(fh)
        if handle.live is None:
            return bytes(handle.data[offset:offset + size])
        live, stream = handle.live, handle.path.rsplit("/", 1)[1]
        while len(getattr(live, stream)) <= offset and not live.ended:
            await live.changed.wait()
        return bytes(getattr(live, stream)[offset:offset + size])

    async def write(self, fh: int, offset: int, data: bytes) -> int:
        """Returns: bytes written (into the spec or ctl buffer)."""
        handle = self.handle(fh)
        if not handle.writable:
            raise err(errno.EBADF, handle.path)
        if handle.live is not None:  # stdin: streamed to the job as written
            if handle.live.ended:
                raise err(errno.EPIPE, f"{handle.path}: the job has ended")
            await handle.live.io.send(data)
            return len(data)
        if offset + len(data) > jobspec.MAX_SPEC_BYTES and not handle.path.endswith("/ctl"):
            handle.oversize = handle.wrote = True
            raise err(errno.EFBIG, f"{handle.path}: a spec is at most {jobspec.MAX_SPEC_BYTES} "
                                   "bytes")
        if len(handle.data) < offset:
            handle.data.extend(b"\0" * (offset - len(handle.data)))
        handle.data[offset:offset + len(data)] = data
        handle.wrote = True
        return len(data)

    def truncate(self, path: str, size: int) -> None:
        """Truncate a spec being written (or ctl, a no-op)."""
        parts = self._split(path)
        if self._kind(path) == "spec":
            del self._pending[parts[0]].data[size:]
        elif not path.endswith("/ctl"):
            raise err(errno.EACCES, f"{path} is read-only")

    async def flush(self, fh: int) -> None:
        """Closing a written spec submits it; a written ctl acts on the job.

        Raises:
            OSError: EINVAL for a bad spec or ctl command (see NAME.error), EIO
                when the scheduler fails.
        """
        handle = self.handle(fh)
        if not handle.wrote or handle.live is not None:
            return
        handle.wrote = False
        if handle.path.endswith("/ctl"):
            await self._ctl(handle)
        else:
            await self._submit(handle)

    async def _ctl(self, handle: _Open) -> None:
        name = self._split(handle.path)[0]
        command = bytes(handle.data).decode(errors="replace").strip()
        handle.data.clear()
        if command != "cancel":
            raise err(errno.EINVAL, f"{handle.path}: unknown command {command!r} (known: cancel)")
        await self.cancel(name)

    async def _submit(self, handle: _Open) -> None:
        file = self._split(handle.path)[0]
        stem, _, ext = file.rpartition(".")
        async with self._submit_lock:  # in order of close, each once
            if self._pending.get(file) is not handle:
                return
            del self._pending[file]
            if handle.oversize:
                raise self._refused(stem, ext, jobspec.SpecError(
                    f"the spec is more than {jobspec.MAX_SPEC_BYTES} bytes (put data in a file "
                    "and let the job read it)"))
            await self.submit(stem, bytes(handle.data), ext)

    async def submit(self, name: str, data: bytes, fmt: str) -> JobRecord:
        """Submit a spec (what closing ``.jobs/NAME.FMT`` does).

        Returns:
            The new job.

        Raises:
            OSError: EINVAL for a bad spec (also written to NAME.error), EEXIST
                for a taken name, or the scheduler's error.
        """
        if name in self.jobs:
            raise err(errno.EEXIST, f"a job named {name} exists; remove .jobs/{name} first")
        try:
            spec = jobspec.parse(data, fmt)
            full = jobspec.fill(spec, name, self.root, time.strftime("%Y%m%dT%H%M%S"))
            if full.get("interactive"):
                self._check_interactive_room()
                job_id, io = await self.runner.submit_interactive(full)
                live = self._live[name] = _Live(io)
                self.nursery.start_soon(self._pump, name, live, name=f"job {name} output")
            else:
                job_id = await self.runner.submit(full)
        except (jobspec.SpecError, OSError) as exc:
            raise self._refused(name, fmt, exc) from None
        record = JobRecord(name, job_id, self.runner.scheduler, full)
        self.jobs[name] = record
        self.store.save(record)
        log.info("job %s submitted as %s", name, job_id, extra={"JOB_ID": job_id})
        self._wake.set()
        return record

    def _refused(self, name: str, fmt: str, exc: Exception) -> OSError:
        """Returns: the error closing spec ``name`` gets (EINVAL for a bad spec),
        after writing its NAME.error and logging it."""
        bad_spec = isinstance(exc, jobspec.SpecError) or not isinstance(exc, OSError)
        message = str(exc) if bad_spec else \
            f"the scheduler refused it: {exc.strerror or exc}"  # type: ignore[attr-defined]
        self.errors[name] = f"{name}.{fmt}: {message}\n".encode()
        log.warning("job %s not submitted: %s", name, message, extra={"JOB_ID": name})
        code = errno.EINVAL if bad_spec else (getattr(exc, "errno", None) or errno.EIO)
        return err(code, f".jobs/{name}.{fmt}: {message}")

    def _check_interactive_room(self) -> None:
        """Raises: OSError(EBUSY) when the runner's interactive jobs are all taken."""
        limit = self.runner.max_interactive
        running = sum(1 for live in self._live.values() if not live.ended)
        if limit is not None and running >= limit:
            raise OSError(errno.EBUSY, f"{running} interactive jobs are running, the most "
                          f"{self.runner.scheduler} allows at once (each holds an SSH session; "
                          "sshd's MaxSessions is 10); end one first")

    async def _pump(self, name: str, live: _Live) -> None:
        try:
            while (out := await live.io.receive()) is not None:
                live.stdout += out.stdout
                live.stderr += out.stderr
                live.notify()
        except Exception as exc:  # noqa: BLE001 - the job's files say what happened
            log.warning("job %s: output stream failed: %s", name, exc, extra={"JOB_ID": name})
        finally:
            live.ended = True
            live.notify()
            self._wake.set()  # fetch the final status now
            with trio.CancelScope(shield=True):
                await live.io.aclose()

    async def release(self, fh: int) -> None:
        """Close a handle (an abandoned, never-written spec disappears)."""
        handle = self._handles.pop(fh, None)
        if handle is None:
            return
        if handle.live is not None and handle.path.endswith("/stdin"):
            # On release, not flush: every fork of a writer flushes its copy.
            handle.live.stdin_open -= 1
            if handle.live.stdin_open == 0 and not handle.live.ended:
                await handle.live.io.close_stdin()
            return
        file = self._split(handle.path)[0] if self.owns(handle.path) else ""
        if self._pending.get(file) is handle and not handle.data and \
                not any(h is handle for h in self._handles.values()):
            # Closed for the last time and never written: no job. Not refused at
            # a flush (a shell's `> FILE` closes a duplicate before the program
            # writes), and the last close cannot fail: NAME.error says so.
            del self._pending[file]
            stem, _, ext = file.rpartition(".")
            self.errors[stem] = f"{file}: {jobspec.EMPTY}\n".encode()
            log.info("job %s not submitted: the spec is empty", stem, extra={"JOB_ID": stem})

    # -- removal, cancel -------------------------------------------------------------
    async def unlink(self, path: str) -> None:
        """Remove NAME.error or a pending spec; files inside NAME/ (rm -r) are virtual:
        removing them does nothing until the directory itself goes."""
        kind = self._kind(path)
        parts = self._split(path)
        if kind == "error":
            del self.errors[parts[0][:-6]]
        elif kind == "spec":
            del self._pending[parts[0]]
        elif kind != "jobfile":
            raise err(errno.ENOENT if kind is None else errno.EPERM, path)

    async def rmdir(self, path: str) -> None:
        """``rm -r .jobs/NAME``: cancel the job if it runs, then forget it."""
        if self._kind(path) != "jobdir":
            raise err(errno.ENOENT if self._kind(path) is None else errno.EPERM, path)
        name = self._split(path)[0]
        if not self.jobs[name].done:
            await self.cancel(name)
        del self.jobs[name]
        self._live.pop(name, None)
        self.store.delete(name)

    async def cancel(self, name: str) -> None:
        """Cancel job ``name`` (no-op when done)."""
        job = self.jobs[name]
        if job.done:
            return
        self._cancelling.add(name)
        try:
            state = await self.runner.cancel(job.job_id)
        finally:
            self._cancelling.discard(name)
        self._apply(job, state)

    def _apply(self, job: JobRecord, state: JobState) -> None:
        if job.done:
            # A poll that started before a cancel ended the job answers late: the
            # first final state stays.
            return
        job.state, job.running, job.error = state.state, state.running, state.error
        if state.done and not job.done:
            job.done, job.exit_code, job.finished_at = True, state.exit_code, time.time()
            log.info("job %s %s (exit code %s)", job.name, state.state, state.exit_code,
                     extra={"JOB_ID": job.job_id})
            if self.on_done is not None:
                self.on_done()
        self.store.save(job)

    async def _resubmit(self, job: JobRecord, state: JobState) -> None:
        """Submit a job that failed to start again (the engine's ssh adaptor
        sometimes fails a start when its sftp channel is busy: "Failed to
        retrieve attributes"); if that is refused, the first failure stands."""
        spec = jobspec.for_attempt(job.spec, job.attempts + 1)
        log.warning("job %s did not start (%s); submitting it again (attempt %d of %d)",
                    job.name, state.error, job.attempts + 1, MAX_ATTEMPTS,
                    extra={"JOB_ID": job.job_id})
        try:
            job_id = await self.runner.submit(spec)
        except OSError as exc:
            log.warning("job %s: submitting again failed: %s", job.name, exc,
                        extra={"JOB_ID": job.job_id})
            self._apply(job, state)
            return
        if job.done:  # cancelled meanwhile: so is the new submission
            try:
                await self.runner.cancel(job_id)
            except OSError as exc:
                log.warning("job %s: cancelling its new submission %s failed: %s", job.name,
                            job_id, exc, extra={"JOB_ID": job_id})
            return
        job.job_id, job.spec, job.attempts = job_id, spec, job.attempts + 1
        self.store.save(job)

    # -- polling ---------------------------------------------------------------------
    async def poll_forever(self) -> None:
        """Keep unfinished jobs' status fresh: one batched call per interval."""
        while True:
            active = [j for j in self.jobs.values() if not j.done]
            if active:
                try:
                    states = await self.runner.statuses([j.job_id for j in active])
                except OSError as exc:
                    log.warning("job status poll failed: %s", exc)
                else:
                    for job, state in zip(active, states):
                        if job.name in self._cancelling:
                            continue  # the cancel's own answer decides
                        if (state.never_started and job.attempts < MAX_ATTEMPTS
                                and not job.spec.get("interactive")):
                            await self._resubmit(job, state)
                        else:
                            self._apply(job, state)
            with trio.move_on_after(self.poll_interval):
                await self._wake.wait()
            self._wake = trio.Event()
