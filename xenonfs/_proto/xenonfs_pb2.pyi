from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VersionReply(_message.Message):
    __slots__ = ("protocol", "xenonfs", "pid")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    XENONFS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    protocol: int
    xenonfs: str
    pid: int
    def __init__(self, protocol: _Optional[int] = ..., xenonfs: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class MountRequest(_message.Message):
    __slots__ = ("source", "mountpoint", "options", "secret", "name", "scheduler")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    source: str
    mountpoint: str
    options: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    name: str
    scheduler: str
    def __init__(self, source: _Optional[str] = ..., mountpoint: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., name: _Optional[str] = ..., scheduler: _Optional[str] = ...) -> None: ...

class MountInfo(_message.Message):
    __slots__ = ("name", "source", "mountpoint", "state", "cache_bytes", "dirty_files", "errors", "worker_pid", "from_config", "dirty_paths", "scheduler", "backend", "restarts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DIRTY_FILES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    WORKER_PID_FIELD_NUMBER: _ClassVar[int]
    FROM_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DIRTY_PATHS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    mountpoint: str
    state: str
    cache_bytes: int
    dirty_files: int
    errors: _containers.RepeatedScalarFieldContainer[str]
    worker_pid: int
    from_config: bool
    dirty_paths: _containers.RepeatedScalarFieldContainer[str]
    scheduler: str
    backend: str
    restarts: int
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., mountpoint: _Optional[str] = ..., state: _Optional[str] = ..., cache_bytes: _Optional[int] = ..., dirty_files: _Optional[int] = ..., errors: _Optional[_Iterable[str]] = ..., worker_pid: _Optional[int] = ..., from_config: _Optional[bool] = ..., dirty_paths: _Optional[_Iterable[str]] = ..., scheduler: _Optional[str] = ..., backend: _Optional[str] = ..., restarts: _Optional[int] = ...) -> None: ...

class MountList(_message.Message):
    __slots__ = ("mounts",)
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    mounts: _containers.RepeatedCompositeFieldContainer[MountInfo]
    def __init__(self, mounts: _Optional[_Iterable[_Union[MountInfo, _Mapping]]] = ...) -> None: ...

class MountRef(_message.Message):
    __slots__ = ("mountpoint", "lazy")
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    LAZY_FIELD_NUMBER: _ClassVar[int]
    mountpoint: str
    lazy: bool
    def __init__(self, mountpoint: _Optional[str] = ..., lazy: _Optional[bool] = ...) -> None: ...

class UnmountReply(_message.Message):
    __slots__ = ("still_dirty", "detached")
    STILL_DIRTY_FIELD_NUMBER: _ClassVar[int]
    DETACHED_FIELD_NUMBER: _ClassVar[int]
    still_dirty: _containers.RepeatedScalarFieldContainer[str]
    detached: bool
    def __init__(self, still_dirty: _Optional[_Iterable[str]] = ..., detached: _Optional[bool] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("mount", "path", "direction", "bytes_done", "bytes_total", "rate")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    direction: str
    bytes_done: int
    bytes_total: int
    rate: float
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., direction: _Optional[str] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class TransferList(_message.Message):
    __slots__ = ("transfers",)
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    transfers: _containers.RepeatedCompositeFieldContainer[Transfer]
    def __init__(self, transfers: _Optional[_Iterable[_Union[Transfer, _Mapping]]] = ...) -> None: ...

class PathRef(_message.Message):
    __slots__ = ("mountpoint", "path")
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    mountpoint: str
    path: str
    def __init__(self, mountpoint: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class FlushReply(_message.Message):
    __slots__ = ("still_dirty",)
    STILL_DIRTY_FIELD_NUMBER: _ClassVar[int]
    still_dirty: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, still_dirty: _Optional[_Iterable[str]] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("mount", "name", "spec", "format")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    mount: str
    name: str
    spec: bytes
    format: str
    def __init__(self, mount: _Optional[str] = ..., name: _Optional[str] = ..., spec: _Optional[bytes] = ..., format: _Optional[str] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("mount", "name", "job_id", "scheduler", "state", "running", "done", "has_exit_code", "exit_code", "error", "submitted_at", "finished_at")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    mount: str
    name: str
    job_id: str
    scheduler: str
    state: str
    running: bool
    done: bool
    has_exit_code: bool
    exit_code: int
    error: str
    submitted_at: float
    finished_at: float
    def __init__(self, mount: _Optional[str] = ..., name: _Optional[str] = ..., job_id: _Optional[str] = ..., scheduler: _Optional[str] = ..., state: _Optional[str] = ..., running: _Optional[bool] = ..., done: _Optional[bool] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., submitted_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class JobList(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobInfo]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobInfo, _Mapping]]] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("mount", "name")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    mount: str
    name: str
    def __init__(self, mount: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("state", "pid", "port", "restarts", "generation", "last_error", "retry_in")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRY_IN_FIELD_NUMBER: _ClassVar[int]
    state: str
    pid: int
    port: int
    restarts: int
    generation: int
    last_error: str
    retry_in: float
    def __init__(self, state: _Optional[str] = ..., pid: _Optional[int] = ..., port: _Optional[int] = ..., restarts: _Optional[int] = ..., generation: _Optional[int] = ..., last_error: _Optional[str] = ..., retry_in: _Optional[float] = ...) -> None: ...
