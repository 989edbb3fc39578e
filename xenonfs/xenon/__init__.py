"""The seed's synchronous API (PyXenon 3 names), on xenonfs's engine and client.

    from xenonfs import xenon
    xenon.init()
    fs = xenon.FileSystem.create('sftp', location='host:22',
                                 password_credential=xenon.PasswordCredential('me', '...'))

Differences from PyXenon: the engine always runs with mutual TLS (there is
no ``disable_tls``), reads of large files use bounded memory, and handles
survive an engine restart.
"""

from __future__ import annotations

import logging
import os

from ..client.errors import *  # noqa: F401,F403 - the seed exports its exception classes
from ..client.types import (CertificateCredential, CopyMode, CopyOperation, CopyStatus,
                            CredentialMap, DefaultCredential, Job, JobDescription, JobStatus,
                            KeytabCredential, PasswordCredential, Path, PathAttributes,
                            PosixFilePermission, PropertyDescription, QueueStatus)
from ..engine.process import EngineSettings
from . import portal
from .objects import FileSystem, OutputStream, Scheduler

UserCredential = PasswordCredential | CertificateCredential | DefaultCredential | KeytabCredential


def init(port: int | None = None, do_not_exit: bool = False, disable_tls: bool = False,
         log_level: str = "WARNING", **settings: object) -> portal.Portal:
    """Start the engine (once per process).

    Args:
        port: ignored; a free port on loopback is chosen (kept for the seed's signature).
        do_not_exit: do not stop the engine at interpreter exit.
        disable_tls: must stay False: the engine is only ever run with mutual TLS.
        log_level: level of the ``xenonfs`` loggers' stderr handler.
        **settings: `EngineSettings` fields (java, jar, heap, ...).

    Returns:
        The running engine portal.

    Raises:
        ValueError: ``disable_tls=True`` or an unknown setting.
        EngineNotFound, EngineError: the engine could not be started.
    """
    if disable_tls:
        raise ValueError("xenonfs never runs the engine without mutual TLS: anyone reaching "
                         "its port could run jobs as you")
    logger = logging.getLogger("xenonfs")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(getattr(logging, log_level.upper()))
    fields = set(EngineSettings.__dataclass_fields__)
    unknown = set(settings) - fields
    if unknown:
        raise ValueError(f"unknown engine setting(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(fields))}")
    settings.setdefault("cwd", os.getcwd())
    return portal.start(EngineSettings(**settings), do_not_exit)  # type: ignore[arg-type]


def shutdown() -> None:
    """Close all file systems and schedulers and stop the engine."""
    portal.shutdown()


__all__ = [
    "init", "shutdown", "FileSystem", "Scheduler", "OutputStream", "Path", "PathAttributes",
    "PosixFilePermission", "CopyMode", "CopyOperation", "CopyStatus", "Job", "JobDescription",
    "JobStatus", "QueueStatus", "PropertyDescription", "CertificateCredential",
    "PasswordCredential", "DefaultCredential", "KeytabCredential", "CredentialMap",
    "UserCredential", "XenonException", "NoSuchPathException", "PathAlreadyExistsException",
    "DirectoryNotEmptyException", "InvalidCredentialException", "UnknownAdaptorException",
]
