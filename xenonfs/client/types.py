"""Plain Python values for what crosses the engine boundary.

Callers never see protobuf messages: these dataclasses and enums are what the
client takes and returns. Credentials hide secrets from repr() so they never
end up in a log line or a traceback.
"""

from __future__ import annotations

import enum
import pathlib
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Union

from .._proto import xenon_pb2 as pb


class Path(pathlib.PurePosixPath):
    """A path on a (remote) file system: a `pathlib.PurePosixPath` that knows
    it is hidden when its name starts with a dot."""

    def is_hidden(self) -> bool:
        """Returns: True if the last component starts with '.'."""
        return self.name.startswith(".")


PathLike = Union[str, pathlib.PurePath]


def to_pb_path(path: PathLike) -> pb.Path:
    """Args: path: a str or PurePath. Returns: the engine's Path message."""
    return pb.Path(path=str(path), separator="/")


class PosixFilePermission(enum.IntEnum):
    """POSIX permission bits as the engine names them."""

    NONE = 0
    OWNER_READ = 1
    OWNER_WRITE = 2
    OWNER_EXECUTE = 3
    GROUP_READ = 4
    GROUP_WRITE = 5
    GROUP_EXECUTE = 6
    OTHERS_READ = 7
    OTHERS_WRITE = 8
    OTHERS_EXECUTE = 9


_PERM_BITS = {
    PosixFilePermission.OWNER_READ: 0o400, PosixFilePermission.OWNER_WRITE: 0o200,
    PosixFilePermission.OWNER_EXECUTE: 0o100, PosixFilePermission.GROUP_READ: 0o040,
    PosixFilePermission.GROUP_WRITE: 0o020, PosixFilePermission.GROUP_EXECUTE: 0o010,
    PosixFilePermission.OTHERS_READ: 0o004, PosixFilePermission.OTHERS_WRITE: 0o002,
    PosixFilePermission.OTHERS_EXECUTE: 0o001,
}


def permissions_to_mode(perms: set[PosixFilePermission] | frozenset[PosixFilePermission]) -> int:
    """Args: perms: permission set. Returns: the mode bits (e.g. 0o644)."""
    mode = _MODE_OF.get(perms) if isinstance(perms, frozenset) else None
    if mode is None:
        mode = sum(_PERM_BITS.get(p, 0) for p in perms)  # distinct bits: sum == or
        if isinstance(perms, frozenset):  # at most 2**10 distinct sets exist
            _MODE_OF[perms] = mode
    return mode


# A listing has a handful of distinct permission sets but one message per entry:
# these memos keep a 10,000-entry listing from building 10,000 sets and enums.
_MODE_OF: dict[frozenset[PosixFilePermission], int] = {}
_PERMS_OF: dict[tuple[int, ...], frozenset[PosixFilePermission]] = {}


def _permissions_from_pb(values: Any) -> frozenset[PosixFilePermission]:
    """Args: values: the message's repeated enum field. Returns: the set (shared)."""
    key = tuple(values)
    perms = _PERMS_OF.get(key)
    if perms is None:
        perms = frozenset(PosixFilePermission(p) for p in key)
        if len(_PERMS_OF) < 1024:
            _PERMS_OF[key] = perms
    return perms


def mode_to_permissions(mode: int) -> frozenset[PosixFilePermission]:
    """Args: mode: mode bits. Returns: the permission set."""
    return frozenset(p for p, bit in _PERM_BITS.items() if mode & bit)


class CopyMode(enum.IntEnum):
    """What a copy does when the destination exists."""

    CREATE = 0
    REPLACE = 1
    IGNORE = 2


# -- credentials ------------------------------------------------------------
@dataclass(frozen=True)
class PasswordCredential:
    """A user name and password."""

    username: str = ""
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # The seed passed str; bytes or char arrays would leak into errors.
        if not isinstance(self.password, str):
            raise TypeError("PasswordCredential.password must be a str")


@dataclass(frozen=True)
class CertificateCredential:
    """A private key file (OpenSSH/PEM), its passphrase and the user name."""

    username: str = ""
    certfile: str = ""
    passphrase: str = field(default="", repr=False)


@dataclass(frozen=True)
class DefaultCredential:
    """The adaptor's default (e.g. ~/.ssh keys, agent) for a user name."""

    username: str = ""


@dataclass(frozen=True)
class KeytabCredential:
    """A Kerberos keytab file and user name."""

    username: str = ""
    keytabfile: str = ""


UserCredential = Union[PasswordCredential, CertificateCredential, DefaultCredential,
                       KeytabCredential]


@dataclass(frozen=True)
class CredentialMap:
    """Credentials per host (``entries``), with an optional ``default``."""

    entries: Mapping[str, UserCredential] = field(default_factory=dict)
    default: UserCredential | None = None


Credential = Union[UserCredential, CredentialMap]

_CRED_FIELD = {PasswordCredential: "password_credential",
               CertificateCredential: "certificate_credential",
               DefaultCredential: "default_credential",
               KeytabCredential: "keytab_credential",
               CredentialMap: "credential_map"}


def _user_cred_pb(cred: UserCredential) -> Any:
    return getattr(pb, type(cred).__name__)(**{f.name: getattr(cred, f.name) for f in fields(cred)})


def apply_credential(request: Any, credential: Credential | None) -> None:
    """Put ``credential`` into a Create*Request's credential oneof.

    Args:
        request: a CreateFileSystemRequest or CreateSchedulerRequest.
        credential: any credential, or None for the engine's default.

    Raises:
        TypeError: not a credential.
    """
    if credential is None:
        return
    name = _CRED_FIELD.get(type(credential))
    if name is None:
        raise TypeError(f"not a credential: {type(credential).__name__}")
    if isinstance(credential, CredentialMap):
        msg = pb.CredentialMap()
        for host, cred in credential.entries.items():
            entry = pb.UserCredential()
            getattr(entry, _CRED_FIELD[type(cred)]).CopyFrom(_user_cred_pb(cred))
            msg.entries[host].CopyFrom(entry)
        if credential.default is not None:
            getattr(msg, _CRED_FIELD[type(credential.default)]).CopyFrom(
                _user_cred_pb(credential.default))
        request.credential_map.CopyFrom(msg)
    else:
        getattr(request, name).CopyFrom(_user_cred_pb(credential))


def credential_from_pb(msg: Any) -> Credential | None:
    """Args: msg: a GetCredentialResponse (or UserCredential). Returns: the credential."""
    which = msg.WhichOneof("credential" if "credential" in msg.DESCRIPTOR.oneofs_by_name
                           else "entry")
    if which is None:
        return None
    value = getattr(msg, which)
    if which == "credential_map":
        entries = {host: credential_from_pb(entry) for host, entry in value.entries.items()}
        fallback = value.WhichOneof("fallback")
        default = _user_cred_from_pb(fallback, getattr(value, fallback)) if fallback else None
        return CredentialMap(entries, default)  # type: ignore[arg-type]
    return _user_cred_from_pb(which, value)


def _user_cred_from_pb(field_name: str, value: Any) -> UserCredential:
    cls = next(c for c, name in _CRED_FIELD.items() if name == field_name)
    return cls(**{f.name: getattr(value, f.name) for f in fields(cls)})  # type: ignore[return-value]


# -- results ----------------------------------------------------------------
@dataclass(frozen=True)
class PathAttributes:
    """What the engine knows about one path. Times are in milliseconds."""

    path: Path
    size: int
    is_directory: bool
    is_regular: bool
    is_symbolic_link: bool
    is_other: bool
    is_hidden: bool
    is_readable: bool
    is_writable: bool
    is_executable: bool
    creation_time: int
    last_access_time: int
    last_modified_time: int
    owner: str
    group: str
    permissions: frozenset[PosixFilePermission]

    @classmethod
    def from_pb(cls, msg: pb.PathAttributes) -> "PathAttributes":
        """Args: msg: engine message. Returns: the attributes."""
        return cls(Path(msg.path.path), msg.size, msg.is_directory, msg.is_regular,
                   msg.is_symbolic_link, msg.is_other, msg.is_hidden, msg.is_readable,
                   msg.is_writable, msg.is_executable, msg.creation_time, msg.last_access_time,
                   msg.last_modified_time, msg.owner, msg.group,
                   _permissions_from_pb(msg.permissions))

    @property
    def mode(self) -> int:
        """Returns: permission bits (0 when the adaptor reports none)."""
        return permissions_to_mode(self.permissions)


@dataclass(frozen=True)
class CopyOperation:
    """Handle of an asynchronous copy (its id, and the file system it runs on)."""

    id: str


@dataclass(frozen=True)
class CopyStatus:
    """Progress or result of a copy."""

    class ErrorType(enum.IntEnum):
        NONE = 0
        NOT_FOUND = 1
        CANCELLED = 2
        ALREADY_EXISTS = 3
        NOT_CONNECTED = 4
        XENON = 5

    copy_operation: CopyOperation
    state: str
    running: bool
    done: bool
    bytes_copied: int
    bytes_to_copy: int
    error_type: "CopyStatus.ErrorType"
    error_message: str

    @classmethod
    def from_pb(cls, msg: pb.CopyStatus) -> "CopyStatus":
        """Args: msg: engine message. Returns: the status."""
        return cls(CopyOperation(msg.copy_operation.id), msg.state, msg.running, msg.done,
                   msg.bytes_copied, msg.bytes_to_copy, cls.ErrorType(msg.error_type),
                   msg.error_message)

    @property
    def has_error(self) -> bool:
        """Returns: True if the copy failed."""
        return self.error_type is not CopyStatus.ErrorType.NONE


@dataclass(frozen=True)
class Job:
    """A submitted job (the scheduler's id)."""

    id: str


@dataclass(frozen=True)
class JobStatus:
    """State of a job. ``exit_code`` is None while not done or when unknown."""

    class ErrorType(enum.IntEnum):
        NONE = 0
        NOT_FOUND = 1
        CANCELLED = 2
        NOT_CONNECTED = 3
        XENON = 4
        IO = 5
        OTHER = 6

    job: Job
    state: str
    running: bool
    done: bool
    exit_code: int | None
    error_type: "JobStatus.ErrorType"
    error_message: str
    name: str
    scheduler_specific_information: Mapping[str, str]

    @classmethod
    def from_pb(cls, msg: pb.JobStatus) -> "JobStatus":
        """Args: msg: engine message. Returns: the status."""
        return cls(Job(msg.job.id), msg.state, msg.running, msg.done,
                   msg.exit_code if msg.done else None, cls.ErrorType(msg.error_type),
                   msg.error_message, msg.name, dict(msg.scheduler_specific_information))

    @property
    def has_error(self) -> bool:
        """Returns: True if the job failed to run (not: exited non-zero)."""
        return self.error_type is not JobStatus.ErrorType.NONE


@dataclass(frozen=True)
class QueueStatus:
    """State of a scheduler queue."""

    class ErrorType(enum.IntEnum):
        NONE = 0
        NOT_FOUND = 1
        NOT_CONNECTED = 2
        XENON = 3
        IO = 4
        OTHER = 5

    name: str
    error_type: "QueueStatus.ErrorType"
    error_message: str
    scheduler_specific_information: Mapping[str, str]

    @classmethod
    def from_pb(cls, msg: pb.QueueStatus) -> "QueueStatus":
        """Args: msg: engine message. Returns: the status."""
        return cls(msg.name, cls.ErrorType(msg.error_type), msg.error_message,
                   dict(msg.scheduler_specific_information))


@dataclass
class JobDescription:
    """What to run. Field names are the engine's; unknown names are a TypeError."""

    executable: str = ""
    arguments: list[str] = field(default_factory=list)
    working_directory: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    queue_name: str = ""
    max_runtime: int = 0
    stderr: str = ""
    stdin: str = ""
    stdout: str = ""
    name: str = ""
    max_memory: int = 0
    scheduler_arguments: list[str] = field(default_factory=list)
    tasks: int = 0
    cores_per_task: int = 0
    tasks_per_node: int = 0
    start_per_task: bool = False
    start_time: str = ""
    temp_space: int = 0

    def to_pb(self) -> pb.JobDescription:
        """Returns: the engine message.

        Raises:
            TypeError: a field has the wrong type (the message names it).
        """
        msg = pb.JobDescription()
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pathlib.PurePath):
                value = str(value)
            try:
                msg.MergeFrom(pb.JobDescription(**{f.name: value}))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"invalid JobDescription field {f.name}={value!r}: {exc}") from None
        return msg


@dataclass(frozen=True)
class PropertyDescription:
    """A property an adaptor accepts."""

    name: str
    description: str
    default_value: str
    type: str


def _props(msgs: Any) -> tuple[PropertyDescription, ...]:
    return tuple(PropertyDescription(p.name, p.description, p.default_value,
                                     pb.PropertyDescription.Type.Name(p.type)) for p in msgs)


@dataclass(frozen=True)
class FileSystemAdaptorDescription:
    """What a file system adaptor can do (drives errno choices in the mount)."""

    name: str
    description: str
    supported_locations: tuple[str, ...]
    supported_properties: tuple[PropertyDescription, ...]
    supported_credentials: tuple[str, ...]
    supports_third_party_copy: bool
    can_create_symboliclinks: bool
    can_read_symboliclinks: bool
    is_connectionless: bool
    supports_reading_posix_permissions: bool
    supports_setting_posix_permissions: bool
    supports_rename: bool
    can_append: bool
    needs_size_beforehand: bool

    @classmethod
    def from_pb(cls, m: pb.FileSystemAdaptorDescription) -> "FileSystemAdaptorDescription":
        """Args: m: engine message. Returns: the description."""
        return cls(m.name, m.description, tuple(m.supported_locations),
                   _props(m.supported_properties), tuple(m.supported_credentials),
                   m.supports_third_party_copy, m.can_create_symboliclinks,
                   m.can_read_symboliclinks, m.is_connectionless,
                   m.supports_reading_posix_permissions, m.supports_setting_posix_permissions,
                   m.supports_rename, m.can_append, m.needs_size_beforehand)


@dataclass(frozen=True)
class SchedulerAdaptorDescription:
    """What a scheduler adaptor can do."""

    name: str
    description: str
    supported_locations: tuple[str, ...]
    supported_properties: tuple[PropertyDescription, ...]
    supported_credentials: tuple[str, ...]
    is_embedded: bool
    supports_interactive: bool
    supports_batch: bool
    uses_file_system: bool

    @classmethod
    def from_pb(cls, m: pb.SchedulerAdaptorDescription) -> "SchedulerAdaptorDescription":
        """Args: m: engine message. Returns: the description."""
        return cls(m.name, m.description, tuple(m.supported_locations),
                   _props(m.supported_properties), tuple(m.supported_credentials),
                   m.is_embedded, m.supports_interactive, m.supports_batch, m.uses_file_system)
