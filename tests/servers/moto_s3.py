"""moto's S3 service alone on one port: the process `MotoServer` starts.

``moto_server`` puts every service behind one dispatcher that guesses the
service of each request from its Authorization header, reading it as SigV4
(``Credential=KEY/DATE/REGION/SERVICE/aws4_request``). jclouds (inside the
engine) signs with SigV2, ``AWS KEY:SIGNATURE``, and the base64 signature holds
"/" now and then: with exactly four of them the header splits like a SigV4
scope, the "service" is a piece of the signature, no backend matches, and
moto answers 500 (``'NoneType' object has no attribute 'replace'``), which
reaches the engine's caller as an error (jclouds was seen not to rescue it).
With 27 random base64 characters that is about one request in 1400, and one
mount test makes hundreds: a random EIO. Serving the S3 app alone leaves nothing to guess.

moto's key store is not thread-safe either: a listing iterates over a copy of
the bucket's key names and looks each up (and a GET checks, then looks up), so
a key deleted meanwhile by another request raises KeyError and gets a 500
(seen once while 8 clients made and removed trees in one bucket; a mount makes
up to 8 engine calls at once). So the app takes one request at a time; the
answers' bodies are still sent in parallel.

Usage: ``python -m tests.servers.moto_s3 -H 127.0.0.1 -p PORT``
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.serving import run_simple


class Serialized:
    """A WSGI app that lets one request at a time into ``app``.

    Args:
        app: the WSGI app to guard.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        with self.lock:
            return self.app(environ, start_response)


def main(argv: list[str] | None = None) -> None:
    """Serve moto's S3 until killed.

    Args:
        argv: ``-H HOST -p PORT`` (default: sys.argv).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    # moto builds some URLs it returns from this (as moto_server does).
    os.environ.setdefault("MOTO_PORT", str(args.port))
    run_simple(args.host, args.port, Serialized(create_backend_app("s3")), threaded=True)


if __name__ == "__main__":
    main()
