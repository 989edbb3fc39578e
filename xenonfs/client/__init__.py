"""Async (trio) client for the xenon-grpc engine.

Never imports pyfuse3: the FUSE side talks to it through `xenonfs.vfs`.
"""

from .client import XenonClient, open_client
from .errors import *  # noqa: F401,F403 - the exception table is part of the API
from .errors import XenonException, errno_of, from_rpc_error
from .filesystem import FileReader, FileSystem
from .scheduler import InteractiveJob, Output, Scheduler
from .types import (CertificateCredential, CopyMode, CopyOperation, CopyStatus,
                    CredentialMap, DefaultCredential, FileSystemAdaptorDescription, Job,
                    JobDescription, JobStatus, KeytabCredential, PasswordCredential, Path,
                    PathAttributes, PosixFilePermission, PropertyDescription, QueueStatus,
                    SchedulerAdaptorDescription)

__all__ = [
    "XenonClient", "open_client", "FileSystem", "FileReader", "Scheduler", "InteractiveJob",
    "Output", "XenonException", "errno_of", "from_rpc_error", "CertificateCredential",
    "CopyMode", "CopyOperation", "CopyStatus", "CredentialMap", "DefaultCredential",
    "FileSystemAdaptorDescription", "Job", "JobDescription", "JobStatus", "KeytabCredential",
    "PasswordCredential", "Path", "PathAttributes", "PosixFilePermission",
    "PropertyDescription", "QueueStatus", "SchedulerAdaptorDescription",
]
