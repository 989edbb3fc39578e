"""The listing of an s3 bucket's top level, straight from the server.

The engine's s3 adaptor lists a directory with the prefix ``DIR/``, which for
the bucket's top level ("/") never matches a key, so it reports the top as
missing. Everything else there works through the engine; only this one
listing (one paginated ListObjectsV2 with delimiter "/") is done here, with
botocore, by the wiring layer (the vfs never sees this module).
"""

from __future__ import annotations

import errno
import stat
from typing import Any
from urllib.parse import urlsplit

import trio

from ..vfs.remote import RemoteAttr

#: The region requests are signed for. S3-compatible servers (moto, MinIO,
#: Ceph) accept any; AWS buckets outside us-east-1 are not covered yet.
REGION = "us-east-1"
#: Error codes that mean the credential is wrong, not the request.
_CREDENTIAL_ERRORS = {"SignatureDoesNotMatch": "the secret access key is wrong",
                      "InvalidAccessKeyId": "the access key id is unknown",
                      "AccessDenied": "access denied to the access key"}


class BucketTop:
    """Lists the top level of one bucket.

    Args:
        location: the engine location, ``http(s)://host:port/bucket``.
        access_key: the access key id.
        secret: the secret access key.
        marker: the adaptor's directory marker name, left out of listings.
        verify: CA bundle (PEM path) for https, or None for the system's.
    """

    def __init__(self, location: str, access_key: str, secret: str, marker: str,
                 verify: str | None = None) -> None:
        parts = urlsplit(location)
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.bucket = parts.path.strip("/")
        self.marker = marker
        self._access_key = access_key
        self._secret = secret
        self._verify = verify
        self._client: Any = None

    def _s3(self) -> Any:
        """Returns: the botocore client (made once: making one takes ~0.1 s)."""
        if self._client is None:
            import botocore.config  # here: only s3 bucket-root mounts pay its ~8 MiB of RSS
            import botocore.session
            config = botocore.config.Config(s3={"addressing_style": "path"},
                                            connect_timeout=10, read_timeout=60,
                                            retries={"max_attempts": 3})
            self._client = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.endpoint, region_name=REGION,
                aws_access_key_id=self._access_key, aws_secret_access_key=self._secret,
                config=config, verify=self._verify)
        return self._client

    def _list(self) -> list[tuple[str, RemoteAttr]]:
        entries: dict[str, RemoteAttr] = {}
        pages = self._s3().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="", Delimiter="/")
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"]
                if name and name != self.marker:
                    ms = int(obj["LastModified"].timestamp() * 1000)
                    entries[name] = RemoteAttr(stat.S_IFREG, int(obj["Size"]), ms * 1_000_000,
                                               None)
            for common in page.get("CommonPrefixes", []):
                # Keys starting with "/" share the prefix "/": no name to show.
                name = common["Prefix"].rstrip("/")
                if name:
                    # A key that is also a prefix ("a" and "a/b") shows as the
                    # directory, as the engine's own listings below do.
                    entries[name] = RemoteAttr(stat.S_IFDIR, 0, 0, None)
        return list(entries.items())

    async def list(self) -> list[tuple[str, RemoteAttr]]:
        """Returns: (name, attributes) of the files and directories at the top.

        Raises:
            OSError: EACCES for a refused credential (the message says which
                part), ENOENT for a missing bucket, EHOSTUNREACH when the server
                cannot be reached, EIO otherwise.
        """
        import botocore.exceptions

        try:
            return await trio.to_thread.run_sync(self._list)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            where = f"s3 bucket {self.bucket} at {self.endpoint}"
            if code in _CREDENTIAL_ERRORS:
                raise OSError(errno.EACCES,
                              f"{where}: {_CREDENTIAL_ERRORS[code]} ({code})") from None
            if code == "NoSuchBucket":
                raise OSError(errno.ENOENT, f"{where}: no such bucket") from None
            raise OSError(errno.EIO, f"{where}: listing the top level failed: {exc}") from None
        except botocore.exceptions.SSLError as exc:
            raise OSError(errno.EACCES, f"s3 server {self.endpoint}: certificate not trusted "
                                        f"(set engine_ca_file in the daemon's config): {exc}"
                          ) from None
        except (botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectTimeoutError) as exc:
            raise OSError(errno.EHOSTUNREACH, f"s3 server {self.endpoint}: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise OSError(errno.EIO, f"s3 server {self.endpoint}: listing the top level of "
                                     f"{self.bucket} failed: {exc}") from None
