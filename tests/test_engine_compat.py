"""The engine compatibility class: shipped compiled, reproducible from its source,
and what makes the s3 adaptor work at all."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xenonfs.engine import compat
from xenonfs.engine.locate import find_jar


def _javac_major(javac: str) -> int:
    out = subprocess.run([javac, "-version"], capture_output=True, text=True, check=True)
    return int((out.stdout or out.stderr).split()[1].split(".")[0])


def test_compiled_classes_are_shipped_for_every_source() -> None:
    shipped = sorted(p.relative_to(compat.CLASSES_DIR) for p in compat.CLASSES_DIR.rglob("*.class"))
    assert shipped, f"no compiled classes in {compat.CLASSES_DIR}"
    tops = {p.with_suffix("").as_posix() for p in shipped if "$" not in p.name}
    assert tops == {p.relative_to(compat.SOURCE_DIR).with_suffix("").as_posix()
                    for p in compat.sources()}
    for path in shipped:
        data = (compat.CLASSES_DIR / path).read_bytes()
        assert data[:4] == b"\xca\xfe\xba\xbe"
        assert int.from_bytes(data[6:8], "big") == 52  # Java 8 class files (--release 8)


def test_shipped_classes_are_what_the_source_compiles_to(tmp_path: Path) -> None:
    javac = shutil.which("javac")
    if javac is None:
        pytest.skip("no javac here (the shipped classes are used as they are)")
    if _javac_major(javac) != 17:
        # Other javac versions may order the constant pool differently.
        pytest.skip(f"the shipped classes were built by javac 17, this is {javac}")
    built = compat.compile_classes(tmp_path, javac)
    shipped = sorted(p.relative_to(compat.CLASSES_DIR) for p in compat.CLASSES_DIR.rglob("*.class"))
    assert built == shipped
    for path in built:
        assert (tmp_path / path).read_bytes() == (compat.CLASSES_DIR / path).read_bytes(), (
            f"{path} differs from its source: run `python -m xenonfs.engine.compat` and commit")


def test_the_jar_has_the_class_we_replace_and_the_constructor_we_call() -> None:
    """If a new engine jar fixed or moved these, the compatibility class must go."""
    javap = shutil.which("javap")
    if javap is None:
        pytest.skip("no javap here")
    jar = str(find_jar())
    gson = subprocess.run([javap, "-cp", jar, "com.google.gson.internal.bind.ReflectiveTypeAdapterFactory"],
                          capture_output=True, text=True, check=True).stdout
    assert ("ReflectiveTypeAdapterFactory(com.google.gson.internal.ConstructorConstructor, "
            "com.google.gson.FieldNamingStrategy, com.google.gson.internal.Excluder, "
            "com.google.gson.internal.bind.JsonAdapterAnnotationTypeAdapterFactory)") in gson
    ours = subprocess.run([javap, "-cp", jar, "org.jclouds.json.internal."
                           "DeserializationConstructorAndReflectiveTypeAdapterFactory"],
                          capture_output=True, text=True, check=True).stdout
    assert "implements com.google.gson.TypeAdapterFactory" in ours
