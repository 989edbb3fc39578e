"""JSON lines over a socketpair between the daemon and a mount worker.

Each message is one JSON object per line. Requests carry an ``id`` and get
exactly one reply with the same ``id``; other messages are events.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import trio

#: Longest line accepted (a status with many dirty paths fits easily).
MAX_LINE = 16 * 1024 * 1024


class PipeClosed(Exception):
    """The other end went away."""


class Pipe:
    """One end of the channel.

    Args:
        sock: a connected stream socket (one end of `socket.socketpair`).
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        self._buffer = bytearray()
        self._send_lock = trio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        """Args: message: a JSON-able dict. Raises: PipeClosed."""
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise PipeClosed(str(exc)) from None

    async def receive(self) -> dict[str, Any]:
        """Returns: the next message. Raises: PipeClosed at end of stream."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return json.loads(line)
            if len(self._buffer) > MAX_LINE:
                raise PipeClosed("message too long")
            try:
                chunk = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise PipeClosed(str(exc)) from None
            if not chunk:
                raise PipeClosed("end of stream")
            self._buffer += chunk

    async def aclose(self) -> None:
        """Close this end."""
        await self._stream.aclose()
