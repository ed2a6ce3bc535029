"""Parsing of object-store source paths (``s3://bucket/prefix/``, ``gs://bucket/prefix/``)."""

from __future__ import annotations

from typing import NamedTuple

from autoloader_core.errors import TerminalError


class BucketUrl(NamedTuple):
    """A bucket and the key prefix every listed path is relative to.

    Attributes:
        bucket: Bucket name.
        prefix: Key prefix, empty or ending with ``/``.
    """

    bucket: str
    prefix: str

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a path relative to the prefix)."""
        return self.prefix + relative

    def relative(self, key: str) -> str:
        """The path of ``key`` relative to the prefix (the key must start with it)."""
        return key[len(self.prefix) :]

    def describe(self, scheme: str) -> str:
        """The URL for messages, e.g. ``s3://bucket/prefix/``."""
        return f"{scheme}://{self.bucket}/{self.prefix}"


def parse_bucket_url(path: str, *, scheme: str) -> BucketUrl:
    """Split ``scheme://bucket/prefix`` into bucket and a ``/``-terminated prefix.

    Raises:
        TerminalError: The scheme is not ``scheme`` or the bucket is missing.
    """
    # Split by hand, not with urlsplit: keys may contain "?" and "#".
    head = f"{scheme}://"
    bucket, _, prefix = path.removeprefix(head).partition("/")
    if not path.startswith(head) or not bucket:
        raise TerminalError(f"source path {path!r} must look like {scheme}://bucket/folder/")
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return BucketUrl(bucket=bucket, prefix=prefix)
