"""The one way the vfs makes an error: an OSError whose errno the FUSE layer
replies with, and whose text names what was wrong."""

from __future__ import annotations

import os


def err(code: int, what: str) -> OSError:
    """Returns: OSError(code) saying ``what`` (a path, mostly) after the errno's text."""
    return OSError(code, f"{os.strerror(code)}: {what}")
