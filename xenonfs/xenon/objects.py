"""Synchronous FileSystem and Scheduler with the seed's (PyXenon 3) names."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence

from .. import client as c
from ..client.types import Credential, PathLike
from . import portal


def _credential(**kinds: Credential | None) -> Credential | None:
    given = {k: v for k, v in kinds.items() if v is not None}
    if len(given) > 1:
        raise ValueError("give at most one credential, got: " + ", ".join(sorted(given)))
    return next(iter(given.values()), None)


def _client_call(method: str, *args: Any) -> Any:
    p = portal.current()
    return p.run(getattr(p.client, method), *args)


def _create(method: str, adaptor: str, location: str | None,
            properties: Mapping[str, str] | None, **credentials: Credential | None) -> Any:
    return _client_call(method, adaptor, location or "", properties,
                        _credential(**credentials))


def _iterate(make: Any) -> Iterator[Any]:
    """Turn an async iterator (made in the loop thread) into a sync generator."""
    p = portal.current()
    stream = p.run(make)
    try:
        while True:
            try:
                item = p.run(stream.__anext__)
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            p.run(stream.aclose)
        except RuntimeError:  # loop already gone (interpreter exit)
            pass


def _ms(timeout: float | None) -> float | None:
    return None if not timeout else timeout / 1000.0


class FileSystem:
    """A file system (seed API). Create with `FileSystem.create`."""

    def __init__(self, fs: c.FileSystem) -> None:
        self._fs = fs

    def __repr__(self) -> str:
        return repr(self._fs)

    def _run(self, name: str, *args: Any) -> Any:
        return portal.current().run(getattr(self._fs, name), *args)

    # static
    @staticmethod
    def create(adaptor: str, location: str | None = None,
               properties: Mapping[str, str] | None = None, *,
               certificate_credential: c.CertificateCredential | None = None,
               password_credential: c.PasswordCredential | None = None,
               default_credential: c.DefaultCredential | None = None,
               credential_map: c.CredentialMap | None = None,
               keytab_credential: c.KeytabCredential | None = None) -> "FileSystem":
        """Connect a file system (see `XenonClient.create_file_system`)."""
        return FileSystem(_create("create_file_system", adaptor, location, properties,
                                  certificate_credential=certificate_credential,
                                  password_credential=password_credential,
                                  default_credential=default_credential,
                                  credential_map=credential_map,
                                  keytab_credential=keytab_credential))

    @staticmethod
    def get_adaptor_names() -> list[str]:
        """Returns: file system adaptor names."""
        return _client_call("get_file_system_adaptor_names")

    @staticmethod
    def get_adaptor_description(name: str) -> c.FileSystemAdaptorDescription:
        """Args: name: adaptor. Returns: its description."""
        return _client_call("get_file_system_adaptor_description", name)

    @staticmethod
    def get_adaptor_descriptions() -> list[c.FileSystemAdaptorDescription]:
        """Returns: all file system adaptor descriptions."""
        return _client_call("get_file_system_adaptor_descriptions")

    @staticmethod
    def local_file_systems() -> list["FileSystem"]:
        """Returns: local file systems."""
        return [FileSystem(fs) for fs in _client_call("local_file_systems")]

    @staticmethod
    def list_file_systems() -> list[str]:
        """Returns: engine ids of open file systems."""
        return _client_call("list_file_systems")

    # information
    def get_adaptor_name(self) -> str:
        return self._run("get_adaptor_name")

    def get_location(self) -> str:
        return self._run("get_location")

    def get_properties(self) -> dict[str, str]:
        return self._run("get_properties")

    def get_credential(self) -> Credential | None:
        return self._run("get_credential")

    def get_path_separator(self) -> str:
        return self._run("get_path_separator")

    def is_open(self) -> bool:
        return self._run("is_open")

    def get_working_directory(self) -> c.Path:
        return self._run("get_working_directory")

    def set_working_directory(self, path: PathLike) -> None:
        self._run("set_working_directory", path)

    # namespace
    def exists(self, path: PathLike) -> bool:
        return self._run("exists", path)

    def get_attributes(self, path: PathLike) -> c.PathAttributes:
        return self._run("get_attributes", path)

    def list(self, dir: PathLike, recursive: bool = False) -> Iterator[c.PathAttributes]:
        """Args: dir: directory; recursive: descend. Returns: an iterator of attributes."""
        return _iterate(lambda: self._fs.list(dir, recursive))

    def create_directory(self, path: PathLike) -> None:
        self._run("create_directory", path)

    def create_directories(self, path: PathLike) -> None:
        self._run("create_directories", path)

    def create_file(self, path: PathLike) -> None:
        self._run("create_file", path)

    def create_symbolic_link(self, link: PathLike, target: PathLike) -> None:
        self._run("create_symbolic_link", link, target)

    def read_symbolic_link(self, path: PathLike) -> c.Path:
        return self._run("read_symbolic_link", path)

    def rename(self, source: PathLike, target: PathLike) -> None:
        self._run("rename", source, target)

    def delete(self, path: PathLike, recursive: bool = False) -> None:
        self._run("delete", path, recursive)

    def set_posix_file_permissions(self, path: PathLike,
                                   permissions: Iterable[c.PosixFilePermission]) -> None:
        self._run("set_posix_file_permissions", path, list(permissions))

    # data
    def read_from_file(self, path: PathLike) -> Iterator[bytes]:
        """Args: path: a file. Returns: an iterator of bytes chunks (bounded memory)."""
        async def make() -> c.FileReader:
            return self._fs.read_from_file(path)
        return _iterate(make)

    def write_to_file(self, path: PathLike, data_stream: Any, size: int | None = None) -> None:
        """Args: path: new file; data_stream: bytes or an iterable of bytes (read in
        another thread, may block); size: needed by s3."""
        self._run("write_to_file", path, data_stream, size)

    def append_to_file(self, path: PathLike, data_stream: Any) -> None:
        self._run("append_to_file", path, data_stream)

    # copies
    def copy(self, source: PathLike, destination_filesystem: "FileSystem",
             destination: PathLike, mode: c.CopyMode = c.CopyMode.CREATE,
             recursive: bool = False) -> c.CopyOperation:
        return self._run("copy", source, destination_filesystem._fs, destination, mode, recursive)

    def get_status(self, copy_operation: c.CopyOperation) -> c.CopyStatus:
        return self._run("get_status", copy_operation)

    def cancel(self, copy_operation: c.CopyOperation) -> c.CopyStatus:
        return self._run("cancel", copy_operation)

    def wait_until_done(self, copy_operation: c.CopyOperation, timeout: int = 0) -> c.CopyStatus:
        """Args: copy_operation: the copy; timeout: milliseconds (0: until done)."""
        return self._run("wait_until_done", copy_operation, _ms(timeout))

    def close(self) -> None:
        self._run("close")

    def __enter__(self) -> "FileSystem":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileSystem) and other._fs is self._fs

    def __hash__(self) -> int:
        return id(self._fs)


class OutputStream:
    """Output of an interactive job: ``next(stream)`` or ``stream.next()`` gives
    the next message (with ``.stdout`` and ``.stderr`` bytes)."""

    def __init__(self, job: c.InteractiveJob) -> None:
        self._job = job

    def __iter__(self) -> "OutputStream":
        return self

    def __next__(self) -> c.Output:
        out = portal.current().run(self._job.receive_lines)
        if out is None:
            raise StopIteration
        return out

    next = __next__

    def close(self) -> None:
        """Stop reading output."""
        portal.current().run(self._job.aclose)


class Scheduler:
    """A scheduler (seed API). Create with `Scheduler.create`."""

    def __init__(self, sched: c.Scheduler) -> None:
        self._s = sched

    def __repr__(self) -> str:
        return repr(self._s)

    def _run(self, name: str, *args: Any) -> Any:
        return portal.current().run(getattr(self._s, name), *args)

    @staticmethod
    def create(adaptor: str, location: str | None = None,
               properties: Mapping[str, str] | None = None, *,
               certificate_credential: c.CertificateCredential | None = None,
               password_credential: c.PasswordCredential | None = None,
               default_credential: c.DefaultCredential | None = None,
               credential_map: c.CredentialMap | None = None,
               keytab_credential: c.KeytabCredential | None = None) -> "Scheduler":
        """Connect a scheduler (see `XenonClient.create_scheduler`)."""
        return Scheduler(_create("create_scheduler", adaptor, location, properties,
                                 certificate_credential=certificate_credential,
                                 password_credential=password_credential,
                                 default_credential=default_credential,
                                 credential_map=credential_map,
                                 keytab_credential=keytab_credential))

    @staticmethod
    def local_scheduler() -> "Scheduler":
        return Scheduler(_client_call("local_scheduler"))

    @staticmethod
    def list_schedulers() -> list[str]:
        return _client_call("list_schedulers")

    @staticmethod
    def get_adaptor_names() -> list[str]:
        return _client_call("get_scheduler_adaptor_names")

    @staticmethod
    def get_adaptor_description(name: str) -> c.SchedulerAdaptorDescription:
        return _client_call("get_scheduler_adaptor_description", name)

    @staticmethod
    def get_adaptor_descriptions() -> list[c.SchedulerAdaptorDescription]:
        return _client_call("get_scheduler_adaptor_descriptions")

    def get_adaptor_name(self) -> str:
        return self._run("get_adaptor_name")

    def get_location(self) -> str:
        return self._run("get_location")

    def get_properties(self) -> dict[str, str]:
        return self._run("get_properties")

    def get_credential(self) -> Credential | None:
        return self._run("get_credential")

    def get_queue_names(self) -> list[str]:
        return self._run("get_queue_names")

    def get_default_queue_name(self) -> str:
        return self._run("get_default_queue_name")

    def get_default_runtime(self) -> int:
        return self._run("get_default_runtime")

    def is_open(self) -> bool:
        return self._run("is_open")

    def get_jobs(self, queues: Sequence[str] = ()) -> list[c.Job]:
        return self._run("get_jobs", list(queues))

    def get_queue_status(self, queue: str) -> c.QueueStatus:
        return self._run("get_queue_status", queue)

    def get_queue_statuses(self, queues: Sequence[str] = ()) -> list[c.QueueStatus]:
        return self._run("get_queue_statuses", list(queues))

    def get_file_system(self) -> FileSystem:
        return FileSystem(self._run("get_file_system"))

    def submit_batch_job(self, description: c.JobDescription) -> c.Job:
        return self._run("submit_batch_job", description)

    def submit_interactive_job(self, description: c.JobDescription,
                               stdin_stream: Iterable[bytes] = ()) -> tuple[c.Job, OutputStream]:
        """Args: description: the job; stdin_stream: iterable of bytes, read in
        another thread (may block until input is available).
        Returns: (job, output stream); the stream's first item is real output."""
        job = self._run("submit_interactive_job", description, stdin_stream)
        return job.job, OutputStream(job)

    def get_job_status(self, job: c.Job) -> c.JobStatus:
        return self._run("get_job_status", job)

    def get_job_statuses(self, jobs: Sequence[c.Job]) -> list[c.JobStatus]:
        return self._run("get_job_statuses", list(jobs))

    def wait_until_done(self, job: c.Job, timeout: int = 0) -> c.JobStatus:
        """Args: job: the job; timeout: milliseconds (0: until done)."""
        return self._run("wait_until_done", job, _ms(timeout))

    def wait_until_running(self, job: c.Job, timeout: int = 0) -> c.JobStatus:
        """Args: job: the job; timeout: milliseconds (0: until running)."""
        return self._run("wait_until_running", job, _ms(timeout))

    def cancel_job(self, job: c.Job) -> c.JobStatus:
        return self._run("cancel_job", job)

    def close(self) -> None:
        self._run("close")

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
