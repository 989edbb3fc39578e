"""Why a webdav server refuses us, when the engine does not say.

The engine's webdav adaptor turns every failed existence check (a wrong
password, a refused connection, an untrusted certificate, a server error) into
the same "Failed to check existence of directory" and keeps the cause to
itself; a wrong password is not even noticed when the file system is created.
For the mount command's message, this module asks the server directly, once,
with one PROPFIND of the mount's root, and describes what it answered.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from urllib.parse import quote, urlsplit

#: Seconds the direct request may take.
TIMEOUT = 10.0


def describe_failure(location: str, root: str, user: str | None, password: str | None) -> str:
    """Ask the server for ``root`` the way the engine would, and say what went wrong.

    Args:
        location: the engine location, ``http(s)://host:port[/path]``.
        root: absolute path of the mount's root on that server.
        user: the login name, or None.
        password: its password, or None (no credential given).

    Returns:
        One sentence for the user, e.g. "the server refused the login of user 'me'
        (HTTP 401 Unauthorized): wrong user name or password".
    """
    parts = urlsplit(location)
    https = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if https else 80)
    conn: http.client.HTTPConnection
    if https:
        conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    headers = {"Depth": "0"}
    if user is not None and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request("PROPFIND", quote(root.rstrip("/") + "/"), headers=headers)
        response = conn.getresponse()
        status, reason = response.status, response.reason
    except ssl.SSLCertVerificationError as exc:
        return (f"the server's TLS certificate is not trusted ({exc.verify_message}); to "
                "trust its CA, set engine_ca_file = \"CA.pem\" in the [daemon] table of "
                "the config and restart the daemon")
    except (socket.timeout, TimeoutError):
        return f"{host}:{port} did not answer within {TIMEOUT:.0f} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    except http.client.HTTPException as exc:
        return f"{host}:{port} does not speak HTTP{'S' if https else ''}: {exc!r}"
    finally:
        conn.close()
    what = f"HTTP {status} {reason}"
    if status == 401:
        if password is None:
            return (f"the server asks for a login ({what}) and no password was given "
                    "(use -o password_file=... or password_env=...)")
        return f"the server refused the login of user {user!r} ({what}): wrong user name or password"
    if status == 403:
        return f"user {user!r} may not access {root} ({what})"
    if status in (301, 302, 307, 308, 405, 501):
        return f"{root} is not a WebDAV collection on this server ({what})"
    if status == 207:
        return f"the server answers a direct request ({what}); see the daemon log for the engine's side"
    return f"the server answered {what}"
