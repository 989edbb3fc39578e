#!/usr/bin/env bash
# Regenerate the committed gRPC stubs from proto/ (needs grpcio-tools==1.85.1,
# from `pip install -e '.[test]'`). Also refresh proto/xenon.proto from the jar.
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY' > proto/xenon.proto
import subprocess, sys
from xenonfs.engine.locate import find_jar, find_java
sys.stdout.write(subprocess.run([str(find_java()), "-jar", str(find_jar()), "--proto"],
                                capture_output=True, text=True, check=True).stdout)
PY
python -m grpc_tools.protoc -Ixenonfs/_proto=proto --python_out=. --pyi_out=. \
    --grpc_python_out=. proto/xenon.proto proto/xenonfs.proto
