"""Job spec files of the `.jobs/` directory: parse, check, fill in, write back.

A spec is TOML or JSON whose keys are the seed's JobDescription fields plus
``interactive``. Errors name the key (and the line, for TOML syntax).
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from typing import Any

#: Field -> expected kind: str, int, bool, list (of str), dict (str -> str).
FIELDS: dict[str, str] = {
    "executable": "str", "arguments": "list", "working_directory": "str",
    "environment": "dict", "queue_name": "str", "max_runtime": "int", "stdin": "str",
    "stdout": "str", "stderr": "str", "name": "str", "max_memory": "int",
    "scheduler_arguments": "list", "tasks": "int", "cores_per_task": "int",
    "tasks_per_node": "int", "start_per_task": "bool", "start_time": "str",
    "temp_space": "int", "interactive": "bool",
}
#: Where batch jobs' output goes by default, under their working directory.
OUTPUT_DIR = ".xenonfs-jobs"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class SpecError(ValueError):
    """A spec that cannot be submitted; the message names the key or line."""


def _check(key: str, value: Any) -> None:
    kind = FIELDS[key]
    ok = {"str": lambda v: isinstance(v, str),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
          "bool": lambda v: isinstance(v, bool),
          "list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
          "dict": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
          }[kind](value)
    if not ok:
        wanted = {"str": "a string", "int": "a whole number >= 0", "bool": "true or false",
                  "list": "a list of strings", "dict": "a table of strings"}[kind]
        raise SpecError(f"key {key!r}: expected {wanted}, got {json.dumps(value)}")


def parse(text: bytes, fmt: str) -> dict[str, Any]:
    """Args: text: the file's bytes; fmt: "toml" or "json".

    Returns:
        The spec's keys and values (checked).

    Raises:
        SpecError: syntax error (with the line), unknown key, wrong type, no executable.
    """
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        raise SpecError("the spec is not UTF-8 text") from None
    try:
        data = tomllib.loads(decoded) if fmt == "toml" else json.loads(decoded)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"TOML syntax error: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"JSON syntax error at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SpecError("the spec must be a table of keys")
    for key, value in data.items():
        if key not in FIELDS:
            raise SpecError(f"unknown key {key!r} (known: {', '.join(FIELDS)})")
        _check(key, value)
    if not data.get("executable"):
        raise SpecError("key 'executable' is missing (the program to run)")
    return data


def fill(spec: dict[str, Any], name: str, root: str, stamp: str) -> dict[str, Any]:
    """Fill in defaults.

    Args:
        spec: from `parse`.
        name: the job's name in `.jobs/`.
        root: the mount's remote root (absolute): the default working directory,
            and what a relative one is relative to.
        stamp: makes output names fresh (an existing stdout target fails a job).

    Returns:
        The full spec as submitted.
    """
    full = dict(spec)
    workdir = full.get("working_directory") or root
    full["working_directory"] = posixpath.normpath(posixpath.join(root, workdir))
    full.setdefault("name", name)
    if not full.get("interactive"):
        for stream in ("stdout", "stderr"):
            if not full.get(stream):
                ext = "out" if stream == "stdout" else "err"
                full[stream] = f"{OUTPUT_DIR}/{name}-{stamp}.{ext}"
    full.setdefault("interactive", False)
    return full


def for_attempt(full: dict[str, Any], attempt: int) -> dict[str, Any]:
    """Args: full: a filled spec; attempt: its submission number (2, 3, ...).

    Returns: the spec with the output files that `fill` named given new names
    (a failed start can leave them behind, and the scheduler refuses to write
    over a file); output files the user named stay as they are.
    """
    again = dict(full)
    for stream in ("stdout", "stderr"):
        target = again.get(stream)
        if target and target.startswith(OUTPUT_DIR + "/"):
            stem, dot, ext = target.rpartition(".")
            again[stream] = f"{stem}-{attempt}{dot}{ext}"
    return again


def output_path(full: dict[str, Any], stream: str) -> str | None:
    """Returns: the absolute remote path of a job's stdout/stderr file, if any."""
    target = full.get(stream)
    if not target:
        return None
    return posixpath.normpath(posixpath.join(full["working_directory"], target))


def to_toml(spec: dict[str, Any]) -> str:
    """Returns: the spec as TOML (JSON string escapes are valid TOML basic strings)."""
    lines = []
    for key in FIELDS:
        if key not in spec:
            continue
        value = spec[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict):
            text = "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}"
                                    for k, v in value.items()) + " }"
        else:
            text = json.dumps(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
