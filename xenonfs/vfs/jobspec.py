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
#: The error of a spec with no keys (an empty file, or only comments).
EMPTY = "the spec is empty: nothing was submitted (write its keys, at least executable = ...)"


class SpecError(ValueError):
    """A spec that cannot be submitted; the message names the key or line."""


#: Largest spec file accepted (bytes): what a job needs is a command line, not data.
MAX_SPEC_BYTES = 1024 * 1024
#: Most bytes a job's command line (executable, arguments, environment) may
#: take. Linux takes at most 128 KiB per argument, and sshd drops a
#: connection whose request is over 256 KiB (every later job then failed).
MAX_COMMAND_BYTES = 128 * 1024
#: Largest count a scheduler takes (the engine's are Java ints).
MAX_INT = 2 ** 31 - 1
#: Counts that must be at least 1; the other numbers may be 0 (the
#: scheduler's default).
AT_LEAST_ONE = ("tasks", "cores_per_task", "tasks_per_node")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WANTED = {"str": "a string", "bool": "true or false", "list": "a list of strings",
           "dict": "a table of strings"}


def _no_nul(key: str, text: str) -> None:
    if "\0" in text:
        raise SpecError(f"key {key!r}: {json.dumps(text[:60])} contains a NUL byte, which no "
                        "command line, variable or file name can carry")


def _check(key: str, value: Any) -> None:
    """Raises: SpecError naming ``key`` when ``value`` is not what it may be."""
    kind = FIELDS[key]
    if kind == "int":
        low = 1 if key in AT_LEAST_ONE else 0
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_INT:
            shown = json.dumps(value) if isinstance(value, (int, float, bool)) else \
                json.dumps(value)[:60]
            raise SpecError(f"key {key!r}: expected a whole number from {low} to {MAX_INT}, "
                            f"got {shown}")
        return
    ok = {"str": lambda v: isinstance(v, str),
          "bool": lambda v: isinstance(v, bool),
          "list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
          "dict": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
          }[kind](value)
    if not ok:
        raise SpecError(f"key {key!r}: expected {_WANTED[kind]}, got {json.dumps(value)[:200]}")
    if kind == "str":
        _no_nul(key, value)
    elif kind == "list":
        for item in value:
            _no_nul(key, item)
    elif kind == "dict":
        for name, item in value.items():
            if not ENV_NAME_RE.fullmatch(name):
                raise SpecError(f"key {key!r}: {json.dumps(name)[:60]} is not a variable name "
                                "(letters, digits and _, not starting with a digit)")
            _no_nul(f"{key}.{name}", item)


def _command_bytes(spec: dict[str, Any]) -> int:
    """Returns: the bytes the spec's command line takes (each word and its separator)."""
    words = [spec.get("executable", ""), spec.get("working_directory") or "",
             *spec.get("arguments", []), *spec.get("scheduler_arguments", []),
             *(f"{k}={v}" for k, v in (spec.get("environment") or {}).items())]
    return sum(len(w.encode()) + 1 for w in words)


def parse(text: bytes, fmt: str) -> dict[str, Any]:
    """Args: text: the file's bytes; fmt: "toml" or "json".

    Returns:
        The spec's keys and values (checked).

    Raises:
        SpecError: empty, too big or too deeply nested, syntax error (with the
            line), unknown key, wrong type or value, no executable.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is {len(text)} bytes; at most {MAX_SPEC_BYTES} are taken "
                        "(put data in a file and let the job read it)")
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        raise SpecError("the spec is not UTF-8 text") from None
    try:
        data = tomllib.loads(decoded) if fmt == "toml" else json.loads(decoded)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"TOML syntax error: {exc}") from None
    except json.JSONDecodeError as exc:
        if not decoded.strip():
            raise SpecError(EMPTY) from None
        raise SpecError(f"JSON syntax error at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise SpecError("the spec nests too deeply (arrays or tables inside each other "
                        "thousands of times)") from None
    except ValueError as exc:  # e.g. a number with more digits than Python reads
        raise SpecError(f"{fmt.upper()} value error: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise SpecError("the spec must be a table of keys")
    if not data:
        raise SpecError(EMPTY)
    for key, value in data.items():
        if key not in FIELDS:
            raise SpecError(f"unknown key {json.dumps(key)[:60]} (known: {', '.join(FIELDS)})")
        _check(key, value)
    if not data.get("executable"):
        raise SpecError("key 'executable' is missing (the program to run)")
    size = _command_bytes(data)
    if size > MAX_COMMAND_BYTES:
        raise SpecError(f"the job's command line (executable, arguments, environment) is {size} "
                        f"bytes; at most {MAX_COMMAND_BYTES} are taken (put data in a file and "
                        "let the job read it, e.g. through stdin)")
    if data.get("start_time") == "":
        raise SpecError("key 'start_time': empty (leave it out, or give a time)")
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
