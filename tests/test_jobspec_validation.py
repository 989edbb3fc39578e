"""Job specs checked before any scheduler sees them (issue 16, item 11): a
bad one fails close() with EINVAL and a NAME.error naming what was wrong,
never EIO; the checks are the same for every scheduler (`jobspec.parse`)."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.mounts import mounted
from xenonfs.vfs import jobspec

DEEP = "executable = \"/bin/true\"\narguments = " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize("text, fmt, words", [
    (DEEP, "toml", ["nests too deeply"]),
    ("[" * 5000 + "]" * 5000, "json", ["nests too deeply"]),
    ('executable = "/bin/true"\nmax_runtime = 99999999999999999999\n', "toml",
     ["max_runtime", "2147483647"]),
    ('{"executable": "/bin/true", "max_memory": 1e400}', "json", ["max_memory", "Infinity"]),
    ('{"executable": "/bin/true", "temp_space": NaN}', "json", ["temp_space", "NaN"]),
    ('executable = "/bin/true"\ntemp_space = -inf\n', "toml", ["temp_space"]),
    ('executable = "/bin/true"\nmax_runtime = -1\n', "toml", ["max_runtime", "from 0"]),
    ('executable = "/bin/true"\ntasks = 0\n', "toml", ["tasks", "from 1"]),
    ('executable = "/bin/true"\ncores_per_task = 0\n', "toml", ["cores_per_task"]),
    ('executable = "/bin/true"\ntasks_per_node = 1.5\n', "toml", ["tasks_per_node"]),
    ('executable = "/bin/true"\nenvironment = {"A B" = "x"}\n', "toml",
     ["environment", '"A B"', "variable name"]),
    ('executable = "/bin/true"\nenvironment = {"1A" = "x"}\n', "toml", ["environment"]),
    ('executable = "/bin/true"\nenvironment = {"A=B" = "x"}\n', "toml", ["environment"]),
    ('{"executable": "/bin/true", "arguments": ["a\\u0000b"]}', "json", ["arguments", "NUL"]),
    ('{"executable": "/bin/\\u0000true"}', "json", ["executable", "NUL"]),
    ('{"executable": "/bin/true", "working_directory": "/tmp\\u0000x"}', "json",
     ["working_directory", "NUL"]),
    ('{"executable": "/bin/true", "environment": {"A": "\\u0000"}}', "json",
     ["environment.A", "NUL"]),
    ('{"executable": "/bin/true", "stdout": "o\\u0000"}', "json", ["stdout", "NUL"]),
    ('executable = "/bin/true"\nstart_time = ""\n', "toml", ["start_time"]),
    ("", "toml", ["empty"]),
    ("# only a comment\n\n", "toml", ["empty"]),
    ("  \n", "json", ["empty"]),
    ("{}", "json", ["empty"]),
])
def test_bad_specs_are_refused_by_name(text: str, fmt: str, words: list[str]) -> None:
    with pytest.raises(jobspec.SpecError) as info:
        jobspec.parse(text.encode(), fmt)
    for word in words:
        assert word in str(info.value)
    assert len(str(info.value)) < 400


def test_limits_of_size() -> None:
    arg = "x" * (jobspec.MAX_COMMAND_BYTES - 100)
    assert jobspec.parse(json.dumps({"executable": "/bin/echo", "arguments": [arg]}).encode(),
                         "json")["arguments"] == [arg]
    with pytest.raises(jobspec.SpecError, match="command line .* bytes"):
        jobspec.parse(json.dumps({"executable": "/bin/echo",
                                  "environment": {"BIG": arg + "x" * 200}}).encode(), "json")
    with pytest.raises(jobspec.SpecError, match="at most 1048576"):
        jobspec.parse(b"#" * (jobspec.MAX_SPEC_BYTES + 1), "toml")


def test_good_values_at_the_edges_pass() -> None:
    spec = jobspec.parse(b'executable = "/bin/true"\ntasks = 1\nmax_runtime = 2147483647\n'
                         b'max_memory = 0\nenvironment = {_A1 = "", b = "x y $z"}\n'
                         b'start_time = "now"\n', "toml")
    assert spec["tasks"] == 1 and spec["environment"] == {"_A1": "", "b": "x y $z"}


@pytest.fixture
def local_mount(tmp_path: Path) -> Iterator[Path]:
    backing = tmp_path / "backing"
    backing.mkdir()
    with mounted(f"file://{backing}", tmp_path / "mnt", ["job_poll_interval=0.5"],
                 cache_dir=tmp_path / "cache") as mnt:
        yield mnt


def _close_fails(mnt: Path, name: str, data: bytes) -> tuple[int, str]:
    """Returns: (errno of the failed close, NAME.error's text)."""
    fd = os.open(mnt / ".jobs" / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        if data:
            os.write(fd, data)
    finally:
        with pytest.raises(OSError) as info:
            os.close(fd)
    return info.value.errno, (mnt / ".jobs" / f"{name.rsplit('.', 1)[0]}.error").read_text()


def test_bad_specs_in_a_mount_give_einval_and_an_error_file(local_mount: Path) -> None:
    mnt = local_mount
    cases = [("deep.toml", DEEP.encode(), "nests too deeply"),
             ("huge.toml", b'executable = "/bin/true"\nmax_runtime = 99999999999999999999\n',
              "max_runtime"),
             ("names.toml", b'executable = "/bin/true"\nenvironment = {"A B" = "x"}\n',
              "variable name"),
             ("zero.toml", b'executable = "/bin/true"\ntasks = 0\n', "tasks"),
             ("late.toml", b'executable = "/bin/true"\nstart_time = "garbage"\n', "start_time"),
             ("comment.toml", b"# nothing else\n", "empty"),
             ("blank.json", b"\n", "empty")]
    for name, data, word in cases:
        code, explanation = _close_fails(mnt, name, data)
        assert code == errno.EINVAL, (name, code)
        assert word in explanation, (name, explanation)
        assert not (mnt / ".jobs" / name.rsplit(".", 1)[0]).exists()
    # Created and closed without a byte: no job, and NAME.error says why (the
    # last close of a file cannot fail; a shell's `> FILE` flushes before writing).
    (mnt / ".jobs" / "empty.toml").touch()
    assert "the spec is empty" in (mnt / ".jobs" / "empty.error").read_text()
    assert "empty.toml" not in os.listdir(mnt / ".jobs")
    # A spec file past the size limit: the write says so, and so does close().
    fd = os.open(mnt / ".jobs" / "big.toml", os.O_WRONLY | os.O_CREAT)
    data = b"#" * (jobspec.MAX_SPEC_BYTES + 1)
    with pytest.raises(OSError) as info:
        while data:  # the kernel writes in pieces: the one past the limit fails
            data = data[os.write(fd, data):]
    assert info.value.errno == errno.EFBIG
    with pytest.raises(OSError) as info:
        os.close(fd)
    assert info.value.errno == errno.EINVAL
    assert "more than 1048576 bytes" in (mnt / ".jobs" / "big.error").read_text()
    # And the mount's jobs still run.
    (mnt / ".jobs" / "fine.toml").write_text('executable = "/bin/echo"\narguments = ["ok"]\n'
                                              'environment = {X = "1"}\n')
    deadline = time.monotonic() + 60
    while not json.loads((mnt / ".jobs" / "fine" / "status.json").read_text())["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert (mnt / ".jobs" / "fine" / "stdout").read_text() == "ok\n"
