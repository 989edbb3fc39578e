"""A mount: one remote file system served through FUSE.

A `Mount` is an object with a long-lived `run` task, so the daemon can own
several (one per process for now: pyfuse3 keeps one FUSE session per process).
"""

from __future__ import annotations

import gc
import getpass
import hashlib
import logging
import os
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyfuse3
import trio

from .client import (CertificateCredential, DefaultCredential, FileSystem, PasswordCredential,
                     XenonClient, errors)
from .client.types import Credential
from . import paths
from .busy import busy_message
from .fuse_ops import Operations
from .jobrunner import EngineJobRunner
from .backends.engine import S3_MARKER, EngineRemote
from .backends.local import LocalRemote
from .daemon.mountinfo import (DeadMountError, is_dead_mount, is_xenonfs_mount, mounts_at,
                               not_ours, recover_dead_mount)
from .source import NATIVE, MountOptions, Source, SourceError, check_target, engine_reaches
from .vfs.cache import FileCache
from .vfs.core import Vfs
from .vfs.jobs import JobsDir
from .vfs.jobstore import JobStore

log = logging.getLogger("xenonfs.mount")


class MountError(RuntimeError):
    """The mount could not be set up; the message says why (the cause only:
    whoever reports it says which mount, as "cannot mount SOURCE on DIR: ...")."""


class MountBusy(MountError):
    """An unmount was refused: the mount is in use (the message names by whom)."""


def credential_for(source: Source, options: MountOptions) -> Credential | None:
    """Args: source, options. Returns: the credential the options describe.

    Raises:
        SourceError: password options are unusable.
    """
    if source.adaptor == "file":
        return None
    password = options.password()
    if source.adaptor == "s3":
        # The s3 adaptor takes only a password credential: access key id as the
        # user, secret access key as the password.
        if not source.user:
            raise SourceError(f"{source.url}: s3 needs the access key id as the user: "
                              "s3+http(s)://KEY@host:port/bucket/prefix")
        if password is None:
            raise SourceError(f"{source.url}: s3 needs the secret access key: give "
                              "-o password_file=FILE or -o password_env=VARIABLE")
        return PasswordCredential(source.user, password)
    user = source.user or getpass.getuser()
    if password is not None:
        return PasswordCredential(user, password)
    if options.identity:
        return CertificateCredential(user, os.path.expanduser(options.identity))
    return DefaultCredential(user)


def properties_for(source: Source, options: MountOptions) -> dict[str, str]:
    """Returns: engine properties for the mount's file system."""
    props = {}
    if source.adaptor == "sftp":
        value = "true" if options.strict_host_key_checking else "false"
        props["xenon.adaptors.filesystems.sftp.strictHostKeyChecking"] = value
        if not options.strict_host_key_checking:  # else the engine writes known_hosts
            props["xenon.adaptors.filesystems.sftp.loadKnownHosts"] = "false"
    props.update(options.engine_properties)
    return props


@dataclass
class Mount:
    """One mounted source.

    Attributes:
        source: what is mounted.
        mountpoint: where (an existing empty directory).
        options: the ``-o`` options.
        trusted_ca: PEM file of extra CAs the daemon trusts for https servers
            (its ``engine_ca_file``), for what the mount asks a server itself.
    """

    source: Source
    mountpoint: Path
    options: MountOptions
    trusted_ca: str | None = None
    #: The mount's file system layer while it is mounted (for status/flush).
    vfs: Vfs | None = field(default=None, init=False, repr=False)
    #: Paths whose upload failed at unmount (their data stays in the cache).
    still_dirty: list[str] = field(default_factory=list, init=False)
    #: The mount's `.jobs/` directory, when it has a scheduler.
    jobs: JobsDir | None = field(default=None, init=False, repr=False)
    #: Unmounted by `unmount`: closing the session must not unmount again.
    _detached: bool = field(default=False, init=False, repr=False)
    #: Between pyfuse3.init and pyfuse3.close: the session may be terminated.
    _serving: bool = field(default=False, init=False, repr=False)

    async def unmount(self, lazy: bool = False) -> None:
        """Unmount as umount(8) does: refused while the mount is in use, so
        nobody's open file or working directory is cut off unseen; the session
        then ends and `run` uploads what is dirty. Lazily (umount -l): detached
        from the file tree at once, while the session goes on serving those who
        still use it, and ends when the kernel drops the last of them.

        Raises:
            MountBusy: not lazy, and it is in use (the message names the processes).
            MountError: another file system is mounted over ours (as root,
                fusermount3 would unmount it), or fusermount3 failed (its words).
        """
        if not is_xenonfs_mount(self.mountpoint):
            raise MountError(f"cannot unmount: {not_ours(self.mountpoint)}")
        result = await trio.run_process(
            ["fusermount3", "-u", *(["-z"] if lazy else []), str(self.mountpoint)],
            check=False, capture_stdout=True, capture_stderr=True)
        if result.returncode != 0:
            text = result.stderr.decode(errors="replace").strip()
            if "busy" in text.lower():
                raise MountBusy(await trio.to_thread.run_sync(busy_message, self.mountpoint))
            raise MountError(f"cannot unmount {self.mountpoint}: {text}")
        self._detached = True
        if not lazy:
            self.stop()

    def stop(self) -> None:
        """End the FUSE session (`run` then uploads and returns); nothing once
        it has ended: pyfuse3.terminate() on a closed session dereferences
        NULL inside libfuse (the worker died of SIGSEGV when the kernel's
        unmount had already ended the session)."""
        if self._serving:
            pyfuse3.terminate()

    def cache_dir(self) -> Path:
        """Returns: this mount's private cache directory."""
        ident = hashlib.sha256(f"{self.source.url}\0{self.mountpoint}".encode()).hexdigest()[:16]
        return self.options.cache_base() / ident

    @property
    def native(self) -> bool:
        """Whether this mount's files go through a native backend."""
        return self.options.backend == "native" and self.source.adaptor in NATIVE

    @property
    def backend_name(self) -> str:
        """Returns: "native" or "engine", as `xenonfs status` shows it."""
        return "native" if self.native else "engine"

    async def _native_remote(self) -> Any:
        """Returns: the native backend of this mount's source.

        Raises:
            MountError: it cannot reach the root (the reason in the user's terms).
        """
        source, options = self.source, self.options
        if source.adaptor == "file":
            root = os.path.normpath(source.root)
            if not os.path.isdir(root):
                raise MountError(f"{root} is not a directory" if os.path.exists(root)
                                 else f"{root} does not exist")
            return LocalRemote(root)
        # Imported here: asyncssh and its crypto cost a worker ~15 MB of memory,
        # which a file:// or engine mount does without.
        from .backends.sftp import SftpConnectError, SftpRemote
        try:
            return await SftpRemote.connect(
                source.host or source.location, source.port, source.user, source.root,
                options.password(), options.identity, options.strict_host_key_checking,
                options.keepalive)
        except SftpConnectError as exc:
            raise MountError(str(exc)) from None

    async def _jobs_dir(self, client: XenonClient, fs: FileSystem | None,
                        calls: trio.CapacityLimiter, vfs: Vfs,
                        nursery: trio.Nursery) -> JobsDir | None:
        """Returns: the mount's `.jobs/` directory, or None when it has no scheduler
        or no engine file system (the mount works without; the log says why)."""
        if fs is None:
            log.info("no .jobs/ directory: the engine cannot reach the IPv6 address %s",
                     self.source.host)
            return None
        try:
            # The host key rule holds for a scheduler reached over ssh too.
            strict = "true" if self.options.strict_host_key_checking else "false"
            props = {"xenon.adaptors.schedulers.ssh.strictHostKeyChecking": strict,
                     **properties_for(self.source, self.options)}
            runner = await EngineJobRunner.create(
                client, self.source, self.options.scheduler, props,
                credential_for(self.source, self.options), fs, calls)
        except ValueError as exc:
            log.info("no .jobs/ directory: %s", exc)
            return None
        except errors.XenonException as exc:
            log.warning("no .jobs/ directory: the scheduler is not reachable: %s", exc)
            return None
        store = JobStore(paths.state_dir() / "jobs.sqlite", self.cache_dir().name)
        jobs = JobsDir(runner, store, vfs.inodes, self.source.root, self.options.job_poll_interval,
                       nursery, on_done=lambda: vfs.forget_path("/"))
        nursery.start_soon(jobs.poll_forever, name="jobs poll")
        self.jobs = jobs
        return jobs

    async def _explain(self, exc: errors.XenonException, credential: Credential | None) -> str:
        """Returns: the engine's error, with the server's own answer where the
        engine hides the cause (webdav: wrong password, refused connection and
        untrusted certificates all read "Failed to check existence")."""
        if self.source.adaptor != "webdav" or isinstance(exc, errors.NoSuchPathException):
            return str(exc)
        password = credential.password if isinstance(credential, PasswordCredential) else None
        user = credential.username if isinstance(credential, PasswordCredential) else None
        from .backends.webdav_diagnosis import describe_failure  # webdav only
        why = await trio.to_thread.run_sync(
            describe_failure, self.source.location, self.source.root, user, password)
        return f"{why} (the engine said: {exc})"

    async def run(self, client: XenonClient, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Mount, serve until unmounted (or cancelled), then upload what is dirty.

        Raises:
            MountError: the source is unreachable or the mountpoint unusable.
        """
        mnt = self.mountpoint
        # A dead mount of ours (a worker restarted after a crash) stays until
        # just before the new one is made: meanwhile access fails ENOTCONN
        # rather than reach the directory under it, where writes would be lost.
        if not is_dead_mount(mnt):
            _usable_mountpoint(mnt)
        try:
            check_target(self.source, mnt, self.options)  # the CLI checked; not the config
        except SourceError as exc:
            raise MountError(str(exc)) from None
        list_top = None
        native: Any = None
        fs: FileSystem | None = None
        try:
            if self.native:
                native = await self._native_remote()
            credential = credential_for(self.source, self.options)
            # A native mount needs the engine's file system for .jobs/ only;
            # the engine cannot reach an IPv6 address: then it has none.
            if native is None or engine_reaches(self.source):
                fs = await client.create_file_system(
                    self.source.adaptor, self.source.location,
                    properties_for(self.source, self.options), credential)
            description = await client.get_file_system_adaptor_description(self.source.adaptor)
            root = self.source.root
            if self.source.adaptor == "s3" and root == "/":
                # The adaptor cannot list or stat a bucket's top level: that one
                # listing goes to the server directly; one now checks the
                # credential and the bucket.
                assert isinstance(credential, PasswordCredential)
                from .backends.s3top import BucketTop  # s3 only
                top = BucketTop(self.source.location, credential.username, credential.password,
                                S3_MARKER, self.trusted_ca)
                await top.list()
                list_top = top.list
            elif native is None:
                attrs = await fs.get_attributes(root)
                if not attrs.is_directory:
                    raise MountError(f"{root} is not a directory")
        except errors.XenonException as exc:
            if native is not None:
                await native.close()
            raise MountError(await self._explain(exc, credential)) from None
        except SourceError as exc:
            raise MountError(str(exc)) from None
        except OSError as exc:
            raise MountError(exc.strerror or str(exc)) from None
        try:
            cache = FileCache(self.cache_dir(), self.options.cache_max_size)
            dirty = cache.load()
        except OSError as exc:
            if native is not None:
                await native.close()
            raise MountError(f"the mount's cache in {self.cache_dir()} cannot be used: "
                             f"{exc.strerror or exc}") from None
        remote = native or EngineRemote(client, fs, root, description, list_top)
        log.info("%s: %s backend", self.source.url, self.backend_name)
        async with trio.open_nursery() as nursery:
            vfs = self.vfs = Vfs(remote, cache, nursery, self.options.attr_timeout,
                                 self.options.dir_timeout, self.options.ro)
            if dirty:
                log.warning("%d file(s) were not uploaded before the last stop; uploading",
                            len(dirty))
                for path in await vfs.upload_dirty():
                    log.error("%s: still not uploaded; its data is kept in %s", path,
                              cache.directory)
            # The engine file system's calls are one at a time on sftp: jobs
            # share the engine backend's limiter; a native backend leaves it to them.
            calls = remote.calls if isinstance(remote, EngineRemote) else trio.CapacityLimiter(8)
            jobs = await self._jobs_dir(client, fs, calls, vfs, nursery)
            nursery.start_soon(writeback, vfs, name="writeback retry")
            fuse_options = set(pyfuse3.default_options)
            fuse_options |= {f"fsname=xenonfs:{self.source.url}", "subtype=xenonfs"}
            if self.options.ro:
                fuse_options.add("ro")
            if self.options.allow_other:
                fuse_options.add("allow_other")
            await trio.to_thread.run_sync(_usable_mountpoint, mnt)
            _fuse_init(Operations(vfs, jobs), mnt, fuse_options)
            self._serving = True
            log.info("mounted %s on %s", self.source.url, mnt)
            try:
                task_status.started()
                await pyfuse3.main()
            finally:
                with trio.CancelScope(shield=True):
                    self._serving = False
                    # libfuse, as root, unmounts whatever is on top at mnt:
                    # never another file system mounted over ours.
                    ours = is_xenonfs_mount(mnt)
                    if not (self._detached or ours) and mounts_at(mnt):
                        log.warning("not unmounting %s: %s", mnt, not_ours(mnt))
                    pyfuse3.close(unmount=ours and not self._detached)
                    self.still_dirty = await vfs.upload_dirty()
                    cache.save_pending()  # what the sparse entries hold, for the next mount
                    for path in self.still_dirty:
                        log.error("%s: upload failed at unmount; its data is kept in %s",
                                  path, cache.directory)
                    nursery.cancel_scope.cancel()
                    try:
                        if jobs is not None:
                            jobs.store.close()
                            await jobs.runner.close()  # type: ignore[attr-defined]
                        await remote.close()
                        if fs is not None:
                            await fs.close()
                    except errors.XenonException:
                        pass
            log.info("unmounted %s", mnt)


def _usable_mountpoint(mountpoint: Path) -> None:
    """Clear a dead xenonfs mount at ``mountpoint`` and check what is under it.

    Raises:
        MountError: not a directory, already mounted, or a dead mount that is
            not ours or cannot be cleared.
    """
    try:
        recover_dead_mount(mountpoint)
    except DeadMountError as exc:
        raise MountError(str(exc)) from None
    if not mountpoint.is_dir():
        raise MountError(f"mountpoint {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise MountError(f"{mountpoint} is already a mount point")


def _fuse_init(operations: Operations, mountpoint: Path, options: set[str]) -> None:
    """pyfuse3.init, whose failure says only "fuse_session_mount failed":
    libfuse prints its reason ("fuse: device not found, try 'modprobe fuse'
    first", "fuse: failed to open /dev/fuse: Permission denied") to fd 2, so
    that is caught around the call and put into the error (and still logged).

    Raises:
        MountError: the kernel or libfuse refused the mount (their reason).
    """
    with tempfile.TemporaryFile() as said:
        saved = os.dup(2)
        os.dup2(said.fileno(), 2)
        try:
            pyfuse3.init(operations, str(mountpoint), options)
            failed = None
        except RuntimeError as exc:
            failed = exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        said.seek(0)
        words = said.read().decode(errors="replace").strip()
    if words:
        log.warning("libfuse: %s", words)
    if failed is not None:
        reason = words.splitlines()[-1] if words else str(failed)
        raise MountError(f"the FUSE mount was refused ({reason})")


def user_error(exc: BaseException, kinds: tuple[type[BaseException], ...] = (MountError, SourceError)
               ) -> BaseException | None:
    """Returns: the first exception of ``kinds`` (errors meant for the user)
    inside (nested) exception groups, or None."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = user_error(inner, kinds)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, kinds) else None


def tune_gc() -> None:
    """Collect cycles less often in a process that serves a mount.

    A 10,000-entry listing allocates a few hundred thousand objects (messages,
    attributes, inodes); with the default thresholds that set off ~110
    collections, the full ones walking every cached entry: 54-80 ms of a
    0.3-0.4 s listing, holding the GIL the listing's reader thread needs.
    With these, one young collection. Objects alive at start (modules) are
    frozen out of the full collections.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


#: Seconds between tries to upload files whose close or fsync failed: the
#: first, and the longest while they keep failing (doubling).
WRITEBACK_RETRY = (5.0, 60.0)


async def writeback(vfs: Vfs) -> None:
    """Upload, again and again, dirty files that no handle has open for
    writing (a close that got EIO while the server was away), so they reach
    the server once it is back rather than at the next unmount."""
    first, longest = WRITEBACK_RETRY
    delay = first
    while True:
        await trio.sleep(delay)
        if not any(e.dirty for e in vfs.cache.entries.values()):
            delay = first
            continue
        failed = await vfs.upload_closed_dirty()
        delay = min(delay * 2, longest) if failed else first


async def serve(mount: Mount, client: XenonClient,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Run ``mount`` until unmounted, SIGTERM or SIGINT (which unmount cleanly)."""
    async with trio.open_nursery() as nursery:
        async def on_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                async for _ in sigs:
                    mount.stop()
                    return

        async def run_mount(task_status: trio.TaskStatus[None]) -> None:
            await mount.run(client, task_status=task_status)
            nursery.cancel_scope.cancel()  # unmounted: stop listening for signals

        nursery.start_soon(on_signals)
        await nursery.start(run_mount)
        task_status.started()
