"""xenonfs's own runners for batch systems whose engine adaptors fail on
today's versions (see README "Schedulers"): built on running their
command-line tools through the engine's `local` or `ssh` scheduler."""

from __future__ import annotations

from typing import Any

#: Batch system name (the scheme of ``scheduler=NAME://`` / ``NAME+ssh://``)
#: -> its runner class (a `scripted.ScriptedJobRunner`).
RUNNERS: dict[str, Any] = {}

# Registered after RUNNERS exists: the runners' modules import this package.
from .gridengine import GridEngineRunner  # noqa: E402
from .slurm import SlurmRunner  # noqa: E402

RUNNERS["gridengine"] = GridEngineRunner
RUNNERS["slurm"] = SlurmRunner
