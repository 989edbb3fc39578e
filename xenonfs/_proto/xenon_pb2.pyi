from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PosixFilePermission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NONE: _ClassVar[PosixFilePermission]
    OWNER_READ: _ClassVar[PosixFilePermission]
    OWNER_WRITE: _ClassVar[PosixFilePermission]
    OWNER_EXECUTE: _ClassVar[PosixFilePermission]
    GROUP_READ: _ClassVar[PosixFilePermission]
    GROUP_WRITE: _ClassVar[PosixFilePermission]
    GROUP_EXECUTE: _ClassVar[PosixFilePermission]
    OTHERS_READ: _ClassVar[PosixFilePermission]
    OTHERS_WRITE: _ClassVar[PosixFilePermission]
    OTHERS_EXECUTE: _ClassVar[PosixFilePermission]
NONE: PosixFilePermission
OWNER_READ: PosixFilePermission
OWNER_WRITE: PosixFilePermission
OWNER_EXECUTE: PosixFilePermission
GROUP_READ: PosixFilePermission
GROUP_WRITE: PosixFilePermission
GROUP_EXECUTE: PosixFilePermission
OTHERS_READ: PosixFilePermission
OTHERS_WRITE: PosixFilePermission
OTHERS_EXECUTE: PosixFilePermission

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Properties(_message.Message):
    __slots__ = ("properties",)
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.ScalarMap[str, str]
    def __init__(self, properties: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PropertyDescription(_message.Message):
    __slots__ = ("name", "description", "default_value", "type")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STRING: _ClassVar[PropertyDescription.Type]
        BOOLEAN: _ClassVar[PropertyDescription.Type]
        INTEGER: _ClassVar[PropertyDescription.Type]
        DOUBLE: _ClassVar[PropertyDescription.Type]
        LONG: _ClassVar[PropertyDescription.Type]
        SIZE: _ClassVar[PropertyDescription.Type]
        NATURAL: _ClassVar[PropertyDescription.Type]
    STRING: PropertyDescription.Type
    BOOLEAN: PropertyDescription.Type
    INTEGER: PropertyDescription.Type
    DOUBLE: PropertyDescription.Type
    LONG: PropertyDescription.Type
    SIZE: PropertyDescription.Type
    NATURAL: PropertyDescription.Type
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    default_value: str
    type: PropertyDescription.Type
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., default_value: _Optional[str] = ..., type: _Optional[_Union[PropertyDescription.Type, str]] = ...) -> None: ...

class PropertyDescriptions(_message.Message):
    __slots__ = ("properties",)
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.RepeatedCompositeFieldContainer[PropertyDescription]
    def __init__(self, properties: _Optional[_Iterable[_Union[PropertyDescription, _Mapping]]] = ...) -> None: ...

class SchedulerAdaptorDescription(_message.Message):
    __slots__ = ("name", "description", "supported_locations", "supported_properties", "is_embedded", "supports_interactive", "supports_batch", "uses_file_system", "supported_credentials")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    IS_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_INTERACTIVE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_BATCH_FIELD_NUMBER: _ClassVar[int]
    USES_FILE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    supported_locations: _containers.RepeatedScalarFieldContainer[str]
    supported_properties: _containers.RepeatedCompositeFieldContainer[PropertyDescription]
    is_embedded: bool
    supports_interactive: bool
    supports_batch: bool
    uses_file_system: bool
    supported_credentials: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., supported_locations: _Optional[_Iterable[str]] = ..., supported_properties: _Optional[_Iterable[_Union[PropertyDescription, _Mapping]]] = ..., is_embedded: _Optional[bool] = ..., supports_interactive: _Optional[bool] = ..., supports_batch: _Optional[bool] = ..., uses_file_system: _Optional[bool] = ..., supported_credentials: _Optional[_Iterable[str]] = ...) -> None: ...

class SchedulerAdaptorDescriptions(_message.Message):
    __slots__ = ("descriptions",)
    DESCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    descriptions: _containers.RepeatedCompositeFieldContainer[SchedulerAdaptorDescription]
    def __init__(self, descriptions: _Optional[_Iterable[_Union[SchedulerAdaptorDescription, _Mapping]]] = ...) -> None: ...

class FileSystemAdaptorDescription(_message.Message):
    __slots__ = ("name", "description", "supported_locations", "supported_properties", "supports_third_party_copy", "can_create_symboliclinks", "can_read_symboliclinks", "is_connectionless", "supported_credentials", "supports_reading_posix_permissions", "supports_setting_posix_permissions", "supports_rename", "can_append", "needs_size_beforehand")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_THIRD_PARTY_COPY_FIELD_NUMBER: _ClassVar[int]
    CAN_CREATE_SYMBOLICLINKS_FIELD_NUMBER: _ClassVar[int]
    CAN_READ_SYMBOLICLINKS_FIELD_NUMBER: _ClassVar[int]
    IS_CONNECTIONLESS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_READING_POSIX_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_SETTING_POSIX_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_RENAME_FIELD_NUMBER: _ClassVar[int]
    CAN_APPEND_FIELD_NUMBER: _ClassVar[int]
    NEEDS_SIZE_BEFOREHAND_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    supported_locations: _containers.RepeatedScalarFieldContainer[str]
    supported_properties: _containers.RepeatedCompositeFieldContainer[PropertyDescription]
    supports_third_party_copy: bool
    can_create_symboliclinks: bool
    can_read_symboliclinks: bool
    is_connectionless: bool
    supported_credentials: _containers.RepeatedScalarFieldContainer[str]
    supports_reading_posix_permissions: bool
    supports_setting_posix_permissions: bool
    supports_rename: bool
    can_append: bool
    needs_size_beforehand: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., supported_locations: _Optional[_Iterable[str]] = ..., supported_properties: _Optional[_Iterable[_Union[PropertyDescription, _Mapping]]] = ..., supports_third_party_copy: _Optional[bool] = ..., can_create_symboliclinks: _Optional[bool] = ..., can_read_symboliclinks: _Optional[bool] = ..., is_connectionless: _Optional[bool] = ..., supported_credentials: _Optional[_Iterable[str]] = ..., supports_reading_posix_permissions: _Optional[bool] = ..., supports_setting_posix_permissions: _Optional[bool] = ..., supports_rename: _Optional[bool] = ..., can_append: _Optional[bool] = ..., needs_size_beforehand: _Optional[bool] = ...) -> None: ...

class FileSystemAdaptorDescriptions(_message.Message):
    __slots__ = ("descriptions",)
    DESCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    descriptions: _containers.RepeatedCompositeFieldContainer[FileSystemAdaptorDescription]
    def __init__(self, descriptions: _Optional[_Iterable[_Union[FileSystemAdaptorDescription, _Mapping]]] = ...) -> None: ...

class AdaptorName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AdaptorNames(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[_Iterable[str]] = ...) -> None: ...

class CertificateCredential(_message.Message):
    __slots__ = ("certfile", "passphrase", "username")
    CERTFILE_FIELD_NUMBER: _ClassVar[int]
    PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    certfile: str
    passphrase: str
    username: str
    def __init__(self, certfile: _Optional[str] = ..., passphrase: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class PasswordCredential(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class DefaultCredential(_message.Message):
    __slots__ = ("username",)
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    def __init__(self, username: _Optional[str] = ...) -> None: ...

class KeytabCredential(_message.Message):
    __slots__ = ("username", "keytabfile")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    KEYTABFILE_FIELD_NUMBER: _ClassVar[int]
    username: str
    keytabfile: str
    def __init__(self, username: _Optional[str] = ..., keytabfile: _Optional[str] = ...) -> None: ...

class UserCredential(_message.Message):
    __slots__ = ("certificate_credential", "password_credential", "default_credential", "keytab_credential")
    CERTIFICATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    KEYTAB_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    certificate_credential: CertificateCredential
    password_credential: PasswordCredential
    default_credential: DefaultCredential
    keytab_credential: KeytabCredential
    def __init__(self, certificate_credential: _Optional[_Union[CertificateCredential, _Mapping]] = ..., password_credential: _Optional[_Union[PasswordCredential, _Mapping]] = ..., default_credential: _Optional[_Union[DefaultCredential, _Mapping]] = ..., keytab_credential: _Optional[_Union[KeytabCredential, _Mapping]] = ...) -> None: ...

class CredentialMap(_message.Message):
    __slots__ = ("entries", "certificate_credential", "password_credential", "default_credential", "keytab_credential")
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: UserCredential
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[UserCredential, _Mapping]] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    KEYTAB_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.MessageMap[str, UserCredential]
    certificate_credential: CertificateCredential
    password_credential: PasswordCredential
    default_credential: DefaultCredential
    keytab_credential: KeytabCredential
    def __init__(self, entries: _Optional[_Mapping[str, UserCredential]] = ..., certificate_credential: _Optional[_Union[CertificateCredential, _Mapping]] = ..., password_credential: _Optional[_Union[PasswordCredential, _Mapping]] = ..., default_credential: _Optional[_Union[DefaultCredential, _Mapping]] = ..., keytab_credential: _Optional[_Union[KeytabCredential, _Mapping]] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("location",)
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    location: str
    def __init__(self, location: _Optional[str] = ...) -> None: ...

class GetCredentialResponse(_message.Message):
    __slots__ = ("certificate_credential", "password_credential", "default_credential", "credential_map", "keytab_credential")
    CERTIFICATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_MAP_FIELD_NUMBER: _ClassVar[int]
    KEYTAB_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    certificate_credential: CertificateCredential
    password_credential: PasswordCredential
    default_credential: DefaultCredential
    credential_map: CredentialMap
    keytab_credential: KeytabCredential
    def __init__(self, certificate_credential: _Optional[_Union[CertificateCredential, _Mapping]] = ..., password_credential: _Optional[_Union[PasswordCredential, _Mapping]] = ..., default_credential: _Optional[_Union[DefaultCredential, _Mapping]] = ..., credential_map: _Optional[_Union[CredentialMap, _Mapping]] = ..., keytab_credential: _Optional[_Union[KeytabCredential, _Mapping]] = ...) -> None: ...

class CreateFileSystemRequest(_message.Message):
    __slots__ = ("adaptor", "location", "properties", "certificate_credential", "password_credential", "default_credential", "credential_map", "keytab_credential")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADAPTOR_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_MAP_FIELD_NUMBER: _ClassVar[int]
    KEYTAB_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    adaptor: str
    location: str
    properties: _containers.ScalarMap[str, str]
    certificate_credential: CertificateCredential
    password_credential: PasswordCredential
    default_credential: DefaultCredential
    credential_map: CredentialMap
    keytab_credential: KeytabCredential
    def __init__(self, adaptor: _Optional[str] = ..., location: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., certificate_credential: _Optional[_Union[CertificateCredential, _Mapping]] = ..., password_credential: _Optional[_Union[PasswordCredential, _Mapping]] = ..., default_credential: _Optional[_Union[DefaultCredential, _Mapping]] = ..., credential_map: _Optional[_Union[CredentialMap, _Mapping]] = ..., keytab_credential: _Optional[_Union[KeytabCredential, _Mapping]] = ...) -> None: ...

class FileSystem(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class FileSystems(_message.Message):
    __slots__ = ("filesystems",)
    FILESYSTEMS_FIELD_NUMBER: _ClassVar[int]
    filesystems: _containers.RepeatedCompositeFieldContainer[FileSystem]
    def __init__(self, filesystems: _Optional[_Iterable[_Union[FileSystem, _Mapping]]] = ...) -> None: ...

class Path(_message.Message):
    __slots__ = ("path", "separator")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SEPARATOR_FIELD_NUMBER: _ClassVar[int]
    path: str
    separator: str
    def __init__(self, path: _Optional[str] = ..., separator: _Optional[str] = ...) -> None: ...

class PathRequest(_message.Message):
    __slots__ = ("filesystem", "path")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    path: Path
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., path: _Optional[_Union[Path, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("filesystem", "path", "recursive")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    path: Path
    recursive: bool
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., path: _Optional[_Union[Path, _Mapping]] = ..., recursive: _Optional[bool] = ...) -> None: ...

class CopyRequest(_message.Message):
    __slots__ = ("filesystem", "source", "destination_filesystem", "destination", "mode", "recursive")
    class CopyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CREATE: _ClassVar[CopyRequest.CopyMode]
        REPLACE: _ClassVar[CopyRequest.CopyMode]
        IGNORE: _ClassVar[CopyRequest.CopyMode]
    CREATE: CopyRequest.CopyMode
    REPLACE: CopyRequest.CopyMode
    IGNORE: CopyRequest.CopyMode
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    source: Path
    destination_filesystem: FileSystem
    destination: Path
    mode: CopyRequest.CopyMode
    recursive: bool
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., source: _Optional[_Union[Path, _Mapping]] = ..., destination_filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., destination: _Optional[_Union[Path, _Mapping]] = ..., mode: _Optional[_Union[CopyRequest.CopyMode, str]] = ..., recursive: _Optional[bool] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("filesystem", "source", "target")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    source: Path
    target: Path
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., source: _Optional[_Union[Path, _Mapping]] = ..., target: _Optional[_Union[Path, _Mapping]] = ...) -> None: ...

class CreateSymbolicLinkRequest(_message.Message):
    __slots__ = ("filesystem", "link", "target")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    link: Path
    target: Path
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., link: _Optional[_Union[Path, _Mapping]] = ..., target: _Optional[_Union[Path, _Mapping]] = ...) -> None: ...

class CopyOperation(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CopyOperationRequest(_message.Message):
    __slots__ = ("filesystem", "copy_operation")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    COPY_OPERATION_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    copy_operation: CopyOperation
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., copy_operation: _Optional[_Union[CopyOperation, _Mapping]] = ...) -> None: ...

class WaitUntilDoneRequest(_message.Message):
    __slots__ = ("filesystem", "copy_operation", "timeout")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    COPY_OPERATION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    copy_operation: CopyOperation
    timeout: int
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., copy_operation: _Optional[_Union[CopyOperation, _Mapping]] = ..., timeout: _Optional[int] = ...) -> None: ...

class CopyStatus(_message.Message):
    __slots__ = ("copy_operation", "bytes_copied", "bytes_to_copy", "done", "running", "state", "error_message", "error_type")
    class ErrorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[CopyStatus.ErrorType]
        NOT_FOUND: _ClassVar[CopyStatus.ErrorType]
        CANCELLED: _ClassVar[CopyStatus.ErrorType]
        ALREADY_EXISTS: _ClassVar[CopyStatus.ErrorType]
        NOT_CONNECTED: _ClassVar[CopyStatus.ErrorType]
        XENON: _ClassVar[CopyStatus.ErrorType]
    NONE: CopyStatus.ErrorType
    NOT_FOUND: CopyStatus.ErrorType
    CANCELLED: CopyStatus.ErrorType
    ALREADY_EXISTS: CopyStatus.ErrorType
    NOT_CONNECTED: CopyStatus.ErrorType
    XENON: CopyStatus.ErrorType
    COPY_OPERATION_FIELD_NUMBER: _ClassVar[int]
    BYTES_COPIED_FIELD_NUMBER: _ClassVar[int]
    BYTES_TO_COPY_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    copy_operation: CopyOperation
    bytes_copied: int
    bytes_to_copy: int
    done: bool
    running: bool
    state: str
    error_message: str
    error_type: CopyStatus.ErrorType
    def __init__(self, copy_operation: _Optional[_Union[CopyOperation, _Mapping]] = ..., bytes_copied: _Optional[int] = ..., bytes_to_copy: _Optional[int] = ..., done: _Optional[bool] = ..., running: _Optional[bool] = ..., state: _Optional[str] = ..., error_message: _Optional[str] = ..., error_type: _Optional[_Union[CopyStatus.ErrorType, str]] = ...) -> None: ...

class PathAttributes(_message.Message):
    __slots__ = ("path", "creation_time", "group", "is_directory", "is_executable", "is_hidden", "is_other", "is_readable", "is_regular", "is_symbolic_link", "is_writable", "last_access_time", "last_modified_time", "owner", "permissions", "size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    IS_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    IS_EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
    IS_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    IS_OTHER_FIELD_NUMBER: _ClassVar[int]
    IS_READABLE_FIELD_NUMBER: _ClassVar[int]
    IS_REGULAR_FIELD_NUMBER: _ClassVar[int]
    IS_SYMBOLIC_LINK_FIELD_NUMBER: _ClassVar[int]
    IS_WRITABLE_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_TIME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    path: Path
    creation_time: int
    group: str
    is_directory: bool
    is_executable: bool
    is_hidden: bool
    is_other: bool
    is_readable: bool
    is_regular: bool
    is_symbolic_link: bool
    is_writable: bool
    last_access_time: int
    last_modified_time: int
    owner: str
    permissions: _containers.RepeatedScalarFieldContainer[PosixFilePermission]
    size: int
    def __init__(self, path: _Optional[_Union[Path, _Mapping]] = ..., creation_time: _Optional[int] = ..., group: _Optional[str] = ..., is_directory: _Optional[bool] = ..., is_executable: _Optional[bool] = ..., is_hidden: _Optional[bool] = ..., is_other: _Optional[bool] = ..., is_readable: _Optional[bool] = ..., is_regular: _Optional[bool] = ..., is_symbolic_link: _Optional[bool] = ..., is_writable: _Optional[bool] = ..., last_access_time: _Optional[int] = ..., last_modified_time: _Optional[int] = ..., owner: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[PosixFilePermission, str]]] = ..., size: _Optional[int] = ...) -> None: ...

class SetPosixFilePermissionsRequest(_message.Message):
    __slots__ = ("filesystem", "path", "permissions")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    path: Path
    permissions: _containers.RepeatedScalarFieldContainer[PosixFilePermission]
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., path: _Optional[_Union[Path, _Mapping]] = ..., permissions: _Optional[_Iterable[_Union[PosixFilePermission, str]]] = ...) -> None: ...

class ReadFromFileResponse(_message.Message):
    __slots__ = ("buffer",)
    BUFFER_FIELD_NUMBER: _ClassVar[int]
    buffer: bytes
    def __init__(self, buffer: _Optional[bytes] = ...) -> None: ...

class WriteToFileRequest(_message.Message):
    __slots__ = ("filesystem", "path", "buffer", "size")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BUFFER_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    path: Path
    buffer: bytes
    size: int
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., path: _Optional[_Union[Path, _Mapping]] = ..., buffer: _Optional[bytes] = ..., size: _Optional[int] = ...) -> None: ...

class AppendToFileRequest(_message.Message):
    __slots__ = ("filesystem", "path", "buffer")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BUFFER_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    path: Path
    buffer: bytes
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., path: _Optional[_Union[Path, _Mapping]] = ..., buffer: _Optional[bytes] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("filesystem", "dir", "recursive")
    FILESYSTEM_FIELD_NUMBER: _ClassVar[int]
    DIR_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    filesystem: FileSystem
    dir: Path
    recursive: bool
    def __init__(self, filesystem: _Optional[_Union[FileSystem, _Mapping]] = ..., dir: _Optional[_Union[Path, _Mapping]] = ..., recursive: _Optional[bool] = ...) -> None: ...

class GetPathSeparatorResponse(_message.Message):
    __slots__ = ("separator",)
    SEPARATOR_FIELD_NUMBER: _ClassVar[int]
    separator: str
    def __init__(self, separator: _Optional[str] = ...) -> None: ...

class CreateSchedulerRequest(_message.Message):
    __slots__ = ("adaptor", "location", "properties", "certificate_credential", "password_credential", "default_credential", "credential_map", "keytab_credential")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADAPTOR_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_MAP_FIELD_NUMBER: _ClassVar[int]
    KEYTAB_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    adaptor: str
    location: str
    properties: _containers.ScalarMap[str, str]
    certificate_credential: CertificateCredential
    password_credential: PasswordCredential
    default_credential: DefaultCredential
    credential_map: CredentialMap
    keytab_credential: KeytabCredential
    def __init__(self, adaptor: _Optional[str] = ..., location: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., certificate_credential: _Optional[_Union[CertificateCredential, _Mapping]] = ..., password_credential: _Optional[_Union[PasswordCredential, _Mapping]] = ..., default_credential: _Optional[_Union[DefaultCredential, _Mapping]] = ..., credential_map: _Optional[_Union[CredentialMap, _Mapping]] = ..., keytab_credential: _Optional[_Union[KeytabCredential, _Mapping]] = ...) -> None: ...

class Scheduler(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Schedulers(_message.Message):
    __slots__ = ("schedulers",)
    SCHEDULERS_FIELD_NUMBER: _ClassVar[int]
    schedulers: _containers.RepeatedCompositeFieldContainer[Scheduler]
    def __init__(self, schedulers: _Optional[_Iterable[_Union[Scheduler, _Mapping]]] = ...) -> None: ...

class JobDescription(_message.Message):
    __slots__ = ("executable", "arguments", "working_directory", "environment", "queue_name", "max_runtime", "stderr", "stdin", "stdout", "name", "max_memory", "scheduler_arguments", "tasks", "cores_per_task", "tasks_per_node", "start_per_task", "start_time", "temp_space")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXECUTABLE_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CORES_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    TASKS_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    START_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    TEMP_SPACE_FIELD_NUMBER: _ClassVar[int]
    executable: str
    arguments: _containers.RepeatedScalarFieldContainer[str]
    working_directory: str
    environment: _containers.ScalarMap[str, str]
    queue_name: str
    max_runtime: int
    stderr: str
    stdin: str
    stdout: str
    name: str
    max_memory: int
    scheduler_arguments: _containers.RepeatedScalarFieldContainer[str]
    tasks: int
    cores_per_task: int
    tasks_per_node: int
    start_per_task: bool
    start_time: str
    temp_space: int
    def __init__(self, executable: _Optional[str] = ..., arguments: _Optional[_Iterable[str]] = ..., working_directory: _Optional[str] = ..., environment: _Optional[_Mapping[str, str]] = ..., queue_name: _Optional[str] = ..., max_runtime: _Optional[int] = ..., stderr: _Optional[str] = ..., stdin: _Optional[str] = ..., stdout: _Optional[str] = ..., name: _Optional[str] = ..., max_memory: _Optional[int] = ..., scheduler_arguments: _Optional[_Iterable[str]] = ..., tasks: _Optional[int] = ..., cores_per_task: _Optional[int] = ..., tasks_per_node: _Optional[int] = ..., start_per_task: _Optional[bool] = ..., start_time: _Optional[str] = ..., temp_space: _Optional[int] = ...) -> None: ...

class SubmitBatchJobRequest(_message.Message):
    __slots__ = ("scheduler", "description")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    description: JobDescription
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., description: _Optional[_Union[JobDescription, _Mapping]] = ...) -> None: ...

class SubmitInteractiveJobRequest(_message.Message):
    __slots__ = ("scheduler", "description", "stdin")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    description: JobDescription
    stdin: bytes
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., description: _Optional[_Union[JobDescription, _Mapping]] = ..., stdin: _Optional[bytes] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("scheduler", "job")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    job: Job
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Jobs(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetJobStatusesRequest(_message.Message):
    __slots__ = ("scheduler", "jobs")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class WaitRequest(_message.Message):
    __slots__ = ("scheduler", "job", "timeout")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    job: Job
    timeout: int
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., timeout: _Optional[int] = ...) -> None: ...

class Queue(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Queues(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[_Iterable[str]] = ...) -> None: ...

class SchedulerAndQueues(_message.Message):
    __slots__ = ("scheduler", "queues")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., queues: _Optional[_Iterable[str]] = ...) -> None: ...

class GetQueueStatusRequest(_message.Message):
    __slots__ = ("scheduler", "queue")
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    scheduler: Scheduler
    queue: str
    def __init__(self, scheduler: _Optional[_Union[Scheduler, _Mapping]] = ..., queue: _Optional[str] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job", "state", "running", "done", "scheduler_specific_information", "exit_code", "error_message", "error_type", "name")
    class ErrorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[JobStatus.ErrorType]
        NOT_FOUND: _ClassVar[JobStatus.ErrorType]
        CANCELLED: _ClassVar[JobStatus.ErrorType]
        NOT_CONNECTED: _ClassVar[JobStatus.ErrorType]
        XENON: _ClassVar[JobStatus.ErrorType]
        IO: _ClassVar[JobStatus.ErrorType]
        OTHER: _ClassVar[JobStatus.ErrorType]
    NONE: JobStatus.ErrorType
    NOT_FOUND: JobStatus.ErrorType
    CANCELLED: JobStatus.ErrorType
    NOT_CONNECTED: JobStatus.ErrorType
    XENON: JobStatus.ErrorType
    IO: JobStatus.ErrorType
    OTHER: JobStatus.ErrorType
    class SchedulerSpecificInformationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_SPECIFIC_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    job: Job
    state: str
    running: bool
    done: bool
    scheduler_specific_information: _containers.ScalarMap[str, str]
    exit_code: int
    error_message: str
    error_type: JobStatus.ErrorType
    name: str
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., state: _Optional[str] = ..., running: _Optional[bool] = ..., done: _Optional[bool] = ..., scheduler_specific_information: _Optional[_Mapping[str, str]] = ..., exit_code: _Optional[int] = ..., error_message: _Optional[str] = ..., error_type: _Optional[_Union[JobStatus.ErrorType, str]] = ..., name: _Optional[str] = ...) -> None: ...

class GetJobStatusesResponse(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[JobStatus]
    def __init__(self, statuses: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ...) -> None: ...

class QueueStatus(_message.Message):
    __slots__ = ("name", "scheduler_specific_information", "error_message", "error_type")
    class ErrorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[QueueStatus.ErrorType]
        NOT_FOUND: _ClassVar[QueueStatus.ErrorType]
        NOT_CONNECTED: _ClassVar[QueueStatus.ErrorType]
        XENON: _ClassVar[QueueStatus.ErrorType]
        IO: _ClassVar[QueueStatus.ErrorType]
        OTHER: _ClassVar[QueueStatus.ErrorType]
    NONE: QueueStatus.ErrorType
    NOT_FOUND: QueueStatus.ErrorType
    NOT_CONNECTED: QueueStatus.ErrorType
    XENON: QueueStatus.ErrorType
    IO: QueueStatus.ErrorType
    OTHER: QueueStatus.ErrorType
    class SchedulerSpecificInformationEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_SPECIFIC_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    scheduler_specific_information: _containers.ScalarMap[str, str]
    error_message: str
    error_type: QueueStatus.ErrorType
    def __init__(self, name: _Optional[str] = ..., scheduler_specific_information: _Optional[_Mapping[str, str]] = ..., error_message: _Optional[str] = ..., error_type: _Optional[_Union[QueueStatus.ErrorType, str]] = ...) -> None: ...

class QueueStatuses(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[QueueStatus]
    def __init__(self, statuses: _Optional[_Iterable[_Union[QueueStatus, _Mapping]]] = ...) -> None: ...

class SubmitInteractiveJobResponse(_message.Message):
    __slots__ = ("job", "stdout", "stderr")
    JOB_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    job: Job
    stdout: bytes
    stderr: bytes
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ...) -> None: ...

class Is(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: bool
    def __init__(self, value: _Optional[bool] = ...) -> None: ...

class GetDefaultRuntimeResponse(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...
