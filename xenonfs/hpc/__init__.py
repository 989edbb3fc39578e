"""xenonfs's own runners for batch systems whose engine adaptors fail on
today's versions (see README "Schedulers"): built on running their
command-line tools through the engine's `local` or `ssh` scheduler."""

from __future__ import annotations

from typing import Any

#: Batch system name (the scheme of ``scheduler=NAME://`` / ``NAME+ssh://``)
#: -> its runner class (a `scripted.ScriptedJobRunner`).
RUNNERS: dict[str, Any] = {}


def _register() -> None:
    # Imported here: the runners import this package's other modules.
    from .slurm import SlurmRunner
    RUNNERS["slurm"] = SlurmRunner


_register()
