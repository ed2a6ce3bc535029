"""Object-store source paths."""

from __future__ import annotations

import pytest

from autoloader_core.errors import TerminalError
from autoloader_sources.bucket_url import BucketUrl, parse_bucket_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://bucket", BucketUrl("bucket", "")),
        ("s3://bucket/", BucketUrl("bucket", "")),
        ("s3://bucket/data", BucketUrl("bucket", "data/")),
        ("s3://bucket/a/b/", BucketUrl("bucket", "a/b/")),
        ("s3://bucket/we?ird#name/", BucketUrl("bucket", "we?ird#name/")),
    ],
)
def test_bucket_and_prefix(path: str, expected: BucketUrl) -> None:
    assert parse_bucket_url(path, scheme="s3") == expected


@pytest.mark.parametrize("path", ["gs://bucket/x/", "s3://", "s3:///data/", "/local/path"])
def test_other_paths_are_refused(path: str) -> None:
    with pytest.raises(TerminalError, match="s3://bucket/folder/"):
        parse_bucket_url(path, scheme="s3")


def test_keys_and_relative_paths_round_trip() -> None:
    url = parse_bucket_url("gs://b/in/", scheme="gs")
    assert url.key("x/y.csv") == "in/x/y.csv"
    assert url.relative("in/x/y.csv") == "x/y.csv"
    assert url.describe("gs") == "gs://b/in/"
