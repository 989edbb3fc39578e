"""proto/xenon.proto is the engine's own protocol; the committed stubs are generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from xenonfs.engine.locate import find_jar, find_java

ROOT = Path(__file__).resolve().parent.parent


def test_proto_is_what_the_engine_prints() -> None:
    printed = subprocess.run([str(find_java()), "-jar", str(find_jar()), "--proto"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert (ROOT / "proto" / "xenon.proto").read_text() == printed


def test_committed_stubs_regenerate_identically(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-Ixenonfs/_proto=proto",
                    f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
                    f"--grpc_python_out={tmp_path}", "proto/xenon.proto", "proto/xenonfs.proto"],
                   cwd=ROOT, check=True, timeout=120)
    for name in ("xenon_pb2.py", "xenon_pb2.pyi", "xenon_pb2_grpc.py",
                 "xenonfs_pb2.py", "xenonfs_pb2.pyi", "xenonfs_pb2_grpc.py"):
        fresh = (tmp_path / "xenonfs" / "_proto" / name).read_text()
        assert (ROOT / "xenonfs" / "_proto" / name).read_text() == fresh, \
            f"{name} is stale: regenerate with scripts/gen_proto.sh"
