"""The one table from engine errors to exception classes and errno values.

The engine reports a Java exception as a gRPC status whose details start with
the Java class name ("nl.esciencecenter.xenon.filesystems.NoSuchPathException:
file adaptor: Path does not exist: /x"). The class name decides our class; the
status code is only the fallback. Every class carries the errno the FUSE layer
returns for it, so errno is decided here and nowhere else.
"""

from __future__ import annotations

import errno as E
import re

import grpc


class XenonException(Exception):
    """Root of every error the engine reports.

    Attributes:
        errno: what a file system operation failing with this error returns.
        code: the gRPC status code name, or None for errors raised locally.
        engine_message: the engine's message without the Java class prefix.
        method: the RPC or client method that failed.
    """

    errno: int = E.EIO

    def __init__(self, message: str, *, method: str | None = None, code: str | None = None,
                 errno: int | None = None) -> None:
        super().__init__(message)
        self.engine_message = message
        self.method = method
        self.code = code
        if errno is not None:
            self.errno = errno

    def __str__(self) -> str:
        where = f" (in {self.method})" if self.method else ""
        return f"{self.engine_message}{where}"


def _cls(name: str, errno: int, doc: str, base: type[XenonException] = XenonException
         ) -> type[XenonException]:
    return type(name, (base,), {"errno": errno, "__doc__": doc, "__module__": __name__})


UnknownRpcException = _cls("UnknownRpcException", E.EIO, "An engine error no rule knows.")
XenonRuntimeException = _cls("XenonRuntimeException", E.EIO,
                             "An internal failure of the engine (a Java Error or runtime exception).")
AttributeNotSupportedException = _cls("AttributeNotSupportedException", E.ENOTSUP,
                                      "The adaptor does not support this attribute.")
CopyCancelledException = _cls("CopyCancelledException", E.ECANCELED, "The copy was cancelled.")
DirectoryNotEmptyException = _cls("DirectoryNotEmptyException", E.ENOTEMPTY,
                                  "A non-recursive delete of a directory that has entries.")
FileSystemClosedException = _cls("FileSystemClosedException", E.EIO,
                                 "The file system handle is closed or unknown to the engine.")
SchedulerClosedException = _cls("SchedulerClosedException", E.EIO,
                                "The scheduler handle is closed or unknown to the engine.")
IncompleteJobDescriptionException = _cls("IncompleteJobDescriptionException", E.EINVAL,
                                         "The job description lacks a required field.")
InvalidCredentialException = _cls("InvalidCredentialException", E.EACCES,
                                  "The credential was refused (or is of a kind the adaptor "
                                  "does not take).")
InvalidJobDescriptionException = _cls("InvalidJobDescriptionException", E.EINVAL,
                                      "The job description is not valid for this scheduler.")
InvalidLocationException = _cls("InvalidLocationException", E.EINVAL,
                                "The location is not valid for the adaptor.")
InvalidOptionsException = _cls("InvalidOptionsException", E.EINVAL, "Invalid options.")
InvalidPathException = _cls("InvalidPathException", E.EINVAL,
                            "The path is of the wrong kind (a file where a directory is "
                            "needed, or the reverse).")
InvalidPropertyException = _cls("InvalidPropertyException", E.EINVAL,
                                "A property has an invalid value.")
InvalidResumeTargetException = _cls("InvalidResumeTargetException", E.EINVAL,
                                    "A copy cannot be resumed onto this target.")
NoSuchCopyException = _cls("NoSuchCopyException", E.EIO,
                           "No such copy operation (the engine that ran it is gone: never "
                           "ENOENT, which would say the file is missing).")
NoSuchJobException = _cls("NoSuchJobException", E.ENOENT, "No such job.")
NoSuchPathException = _cls("NoSuchPathException", E.ENOENT, "The path does not exist.")
NoSuchQueueException = _cls("NoSuchQueueException", E.ENOENT, "No such queue.")
PathAlreadyExistsException = _cls("PathAlreadyExistsException", E.EEXIST,
                                  "The path exists already.")
PropertyTypeException = _cls("PropertyTypeException", E.EINVAL,
                             "A property value has the wrong type.")
UnknownAdaptorException = _cls("UnknownAdaptorException", E.EINVAL, "No adaptor of that name.")
UnknownPropertyException = _cls("UnknownPropertyException", E.EINVAL,
                                "The adaptor does not know this property.")
UnsupportedJobDescriptionException = _cls("UnsupportedJobDescriptionException", E.EINVAL,
                                          "The scheduler cannot run this job description.")
UnsupportedOperationException = _cls("UnsupportedOperationException", E.ENOTSUP,
                                     "The adaptor cannot do this.")
IncompatibleVersionException = _cls("IncompatibleVersionException", E.EIO,
                                    "The remote scheduler's version is not supported.")
JobCanceledException = _cls("JobCanceledException", E.ECANCELED, "The job was cancelled.")
InvalidArgumentException = _cls("InvalidArgumentException", E.EINVAL,
                                "An argument was rejected by the engine.")
NotConnectedException = _cls("NotConnectedException", E.EIO,
                             "The connection to the remote side (or the engine) is gone.")
EngineUnavailableException = _cls("EngineUnavailableException", E.EIO,
                                  "The engine process cannot be reached.", NotConnectedException)
EngineTimeoutException = _cls("EngineTimeoutException", E.EIO,
                              "The engine (or the server behind it) did not answer within "
                              "its deadline.", NotConnectedException)

#: Java simple class name -> our class. Names equal to ours map to themselves.
_BY_JAVA_NAME: dict[str, type[XenonException]] = {
    c.__name__: c for c in (
        AttributeNotSupportedException, CopyCancelledException, DirectoryNotEmptyException,
        IncompleteJobDescriptionException, InvalidCredentialException,
        InvalidJobDescriptionException, InvalidLocationException, InvalidOptionsException,
        InvalidPathException, InvalidPropertyException, InvalidResumeTargetException,
        NoSuchCopyException, NoSuchJobException, NoSuchPathException, NoSuchQueueException,
        PathAlreadyExistsException, PropertyTypeException, UnknownAdaptorException,
        UnknownPropertyException, UnsupportedJobDescriptionException,
        UnsupportedOperationException, IncompatibleVersionException, JobCanceledException,
        NotConnectedException, XenonRuntimeException)
}
_BY_JAVA_NAME.update({
    "XenonException": XenonException,
    "IllegalArgumentException": InvalidArgumentException,
    "IllegalStateException": XenonRuntimeException,
    "NullPointerException": XenonRuntimeException,
    "UnsupportedOperationException": UnsupportedOperationException,
})

#: Fallback by gRPC status when the details name no known class.
_BY_CODE: dict[grpc.StatusCode, type[XenonException]] = {
    grpc.StatusCode.NOT_FOUND: NoSuchPathException,
    grpc.StatusCode.ALREADY_EXISTS: PathAlreadyExistsException,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidPathException,
    grpc.StatusCode.UNIMPLEMENTED: UnsupportedOperationException,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentException,
    grpc.StatusCode.UNAVAILABLE: EngineUnavailableException,
    grpc.StatusCode.DEADLINE_EXCEEDED: EngineTimeoutException,
    grpc.StatusCode.CANCELLED: CopyCancelledException,
    grpc.StatusCode.UNAUTHENTICATED: InvalidCredentialException,
    grpc.StatusCode.PERMISSION_DENIED: InvalidCredentialException,
    grpc.StatusCode.RESOURCE_EXHAUSTED: XenonRuntimeException,
    grpc.StatusCode.INTERNAL: XenonException,
    grpc.StatusCode.UNKNOWN: XenonRuntimeException,
}

_JAVA_PREFIX = re.compile(r"^((?:[a-z_][\w$]*\.)+)?([A-Z][\w$]*(?:Exception|Error)):\s*(.*)$", re.S)

#: (class, regex on the message) -> (class to use instead, errno or None).
#: Generic XenonExceptions whose text says what they really are.
_REFINE: list[tuple[type[XenonException], re.Pattern[str], type[XenonException], int | None]] = [
    (XenonException, re.compile(r"auth(entication)? fail", re.I),
     InvalidCredentialException, None),
    # webdav refuses append, chmod and readlink with a plain XenonException
    # ("Appending to file not supported", "Operation not supported").
    (XenonException, re.compile(r"\bnot supported\b", re.I), UnsupportedOperationException, None),
    (XenonException, re.compile(r"permission denied|access denied", re.I), XenonException, E.EACCES),
    (XenonException, re.compile(r"no space left|quota", re.I), XenonException, E.ENOSPC),
    (XenonException, re.compile(r"not connected|connection( setup)? to .* failed|connection (is )?(closed|refused|reset)", re.I),
     NotConnectedException, None),
    (InvalidPathException, re.compile(r"not a file", re.I), InvalidPathException, E.EISDIR),
    (InvalidPathException, re.compile(r"not a directory", re.I), InvalidPathException, E.ENOTDIR),
    (NoSuchPathException, re.compile(r"^File system with id", re.I), FileSystemClosedException, None),
    (NoSuchPathException, re.compile(r"^Scheduler with id", re.I), SchedulerClosedException, None),
]


def from_rpc_error(error: grpc.RpcError, method: str | None = None) -> XenonException:
    """Translate a failed engine call.

    Args:
        error: the error grpc raised (it is also a grpc.Call).
        method: name of the RPC, for the message.

    Returns:
        An instance of the matching `XenonException` subclass, carrying the
        engine's message.
    """
    code: grpc.StatusCode = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details: str = (error.details() if hasattr(error, "details") else "") or ""
    cls: type[XenonException] | None = None
    message = details
    m = _JAVA_PREFIX.match(details)
    if m:
        cls = _BY_JAVA_NAME.get(m.group(2))
        if cls is not None:
            message = m.group(3)
    if cls is None:
        cls = _BY_CODE.get(code, UnknownRpcException)
        if code is grpc.StatusCode.UNAVAILABLE:
            # No Java exception named: the engine itself could not be reached.
            message = f"engine unavailable: {details}"
    if not message:
        message = (f"engine failed without a message ({code.name}); a Java Error, "
                   "see the engine log")
    if m and method and method.endswith(".create") and \
            m.group(2) in ("NullPointerException", "IllegalArgumentException"):
        # The adaptors' location parsers fail this way on malformed locations.
        cls = InvalidLocationException
    errno = None
    for base, pattern, refined, refined_errno in _REFINE:
        if cls is base and pattern.search(message):
            cls, errno = refined, refined_errno
            break
    if cls is InvalidCredentialException and "Connection authentication failed" in message:
        # The SSH adaptors say the same for a wrong password and an unknown host key.
        message += (" (the credential was refused, or the host key is not in known_hosts: "
                    "see the strictHostKeyChecking property)")
    return cls(message, method=method, code=code.name, errno=errno)


_COPY_ERRORS: dict[int, type[XenonException]] = {
    1: NoSuchPathException, 2: CopyCancelledException, 3: PathAlreadyExistsException,
    4: NotConnectedException, 5: XenonException,
}


def from_copy_status(error_type: int, message: str, method: str = "copy") -> XenonException:
    """Translate the error of a failed copy (copies report errors in their status).

    Args:
        error_type: CopyStatus.ErrorType value (not NONE).
        message: the status's error message.
        method: for the message.

    Returns:
        The exception to raise.
    """
    cls = _COPY_ERRORS.get(error_type, XenonException)
    m = _JAVA_PREFIX.match(message)
    if m:
        cls = _BY_JAVA_NAME.get(m.group(2), cls)
        message = m.group(3)
    errno = None
    for base, pattern, refined, refined_errno in _REFINE:
        if cls is base and pattern.search(message):
            cls, errno = refined, refined_errno
            break
    return cls(message or "copy failed", method=method, code="COPY_" + str(error_type),
               errno=errno)


def errno_of(exc: BaseException) -> int:
    """Args: exc: any exception. Returns: the errno a FUSE reply should carry."""
    if isinstance(exc, XenonException):
        return exc.errno
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    return E.EIO


__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, XenonException)] + [
    "from_rpc_error", "from_copy_status", "errno_of"]
