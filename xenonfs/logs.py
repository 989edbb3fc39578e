"""Logging for the daemon and its workers: journald under systemd, stderr
otherwise; registered secrets are masked in every record."""

from __future__ import annotations

import logging
import os
import sys

#: Journal fields a log call may pass with ``extra=``.
FIELDS = ("MOUNT", "PATH", "JOB_ID")
_SECRETS: set[str] = set()
_DEFAULTS: dict[str, str] = {}
_MARK = "_xenonfs_handler"


def register_secret(value: str) -> None:
    """Args: value: a secret to mask in all later log output (short ones are
    ignored: masking every "a" would garble logs without protecting much)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def set_default_field(name: str, value: str) -> None:
    """Args: name: one of `FIELDS`; value: put on every record that lacks it
    (a mount worker tags all its lines with its mount)."""
    _DEFAULTS[name] = value


def _mask(text: str) -> str:
    # Longest first: a secret that contains another must not leave its rest.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class SecretFilter(logging.Filter):
    """Adds default fields; replaces registered secrets in the message, its
    args, its traceback and the fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _DEFAULTS.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if _SECRETS:
            record.msg = _mask(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                # An exception's message may quote a secret: format the
                # traceback here to mask it, and drop exc_info so that the
                # journal's EXCEPTION_INFO field (its repr) is not sent.
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            if record.exc_text:
                record.exc_text = _mask(record.exc_text)
            if record.stack_info:
                record.stack_info = _mask(record.stack_info)
            for name in FIELDS:
                if isinstance(getattr(record, name, None), str):
                    setattr(record, name, _mask(getattr(record, name)))
        return True


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [f"{n.lower()}={getattr(record, n)}" for n in FIELDS if hasattr(record, n)]
        return f"{text} [{' '.join(fields)}]" if fields else text


def under_systemd() -> bool:
    """Returns: True when started by systemd (its journal takes our output)."""
    return bool(os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM"))


def log_location() -> str:
    """Returns: where this process's log goes, as a user would look it up."""
    if under_systemd():
        return "journalctl --user -u xenonfs"
    try:
        target = os.readlink("/proc/self/fd/2")
    except OSError:
        return "this process's standard error"
    if target.startswith("/dev/pts/") or target.startswith("/dev/tty"):
        return "the daemon's terminal"
    return target if target.startswith("/") else "this process's standard error"


def setup_logging(level: int, journal: bool | None = None) -> None:
    """Send xenonfs's logs to journald or stderr (replacing our earlier handler).

    Args:
        level: logging level of the root logger.
        journal: True/False to force; None: journald when under systemd.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    if journal is None:
        journal = under_systemd()
    handler: logging.Handler
    if journal:
        from systemd.journal import JournalHandler
        handler = JournalHandler(SYSLOG_IDENTIFIER="xenonfs")
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_StderrFormatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.addFilter(SecretFilter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
