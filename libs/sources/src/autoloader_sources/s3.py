"""AWS S3 and S3-compatible stores (MinIO, SeaweedFS, moto) through aiobotocore.

Spec: ``path`` is ``s3://bucket/prefix/``; options ``region`` (default ``us-east-1``),
``endpoint_url`` (S3-compatible stores), ``path_style`` (default: on when ``endpoint_url`` is set),
``page_size`` (listing page, default 1000). Credentials: ``access_key_id`` + ``secret_access_key``
(+ optional ``session_token``), or None for the default AWS credential chain (env, profile, IAM role).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import AutoloaderError, TerminalError
from autoloader_sources.base import (
    LISTING_PAGE,
    ListedFile,
    PathFilter,
    Source,
    SourceAuthError,
    SourceNotFound,
    SourceUnavailable,
    entries_of,
    page_size,
)
from autoloader_sources.bucket_url import BucketUrl, parse_bucket_url

READ_CHUNK = 1024 * 1024
DEFAULT_REGION = "us-east-1"

_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidClientTokenId",
        "AllAccessDisabled",
        "AccountProblem",
    }
)
_RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
        "RequestLimitExceeded",
        "TooManyRequests",
    }
)
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


def create(spec: SourceSpec, credentials: Mapping[str, str] | None, allowed_roots: Sequence[Path]) -> S3Source:
    """Build the S3 connector for ``spec`` (the registry's factory; local roots do not apply).

    Raises:
        TerminalError: The path is not ``s3://bucket/...`` or the credentials are incomplete.
    """
    del allowed_roots
    return S3Source(spec, credentials)


class S3Source(Source):
    """Objects under ``s3://bucket/prefix/`` matching the spec's globs.

    Attributes:
        list_requests: ListObjectsV2 calls made so far (for metrics and the listing benchmark).
    """

    def __init__(self, spec: SourceSpec, credentials: Mapping[str, str] | None) -> None:
        self._url = parse_bucket_url(spec.path, scheme="s3")
        self._filter = PathFilter(spec.file_pattern, spec.exclude_pattern)
        self._options = dict(spec.options)
        self._page_size = page_size(self._options)
        try:
            self._client_args = _client_args(self._options, credentials)
        except (TypeError, ValueError) as exc:
            raise TerminalError("S3 options max_attempts, connect_timeout and read_timeout must be numbers") from exc
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self.list_requests = 0

    async def __aenter__(self) -> S3Source:
        """Create the S3 client (its HTTP session is closed on exit).

        Raises:
            TerminalError: The endpoint URL or another option is invalid.
        """
        stack = AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(get_session().create_client("s3", **self._client_args))
        except ValueError as exc:
            await stack.aclose()
            raise TerminalError(f"S3 client options are invalid ({exc}); check endpoint_url and region") from exc
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client's connections."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def _s3(self) -> Any:
        if self._client is None:
            raise RuntimeError("use the S3 source inside `async with`")
        return self._client

    def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching objects in key order, one ListObjectsV2 page at a time.

        Raises:
            SourceNotFound: The bucket does not exist.
            SourceAuthError: The credentials were refused.
            SourceUnavailable: The endpoint is unreachable, throttling or failing.
        """
        return entries_of(self.list_pages(start_after=start_after))

    async def list_pages(
        self, *, start_after: str | None = None, size: int = LISTING_PAGE
    ) -> AsyncGenerator[list[ListedFile], None]:
        """The matching objects of each ListObjectsV2 page (of ``page_size`` keys; ``size`` is not used).

        Raises:
            SourceNotFound, SourceAuthError, SourceUnavailable: as :meth:`list_files`.
        """
        request: dict[str, Any] = {
            "Bucket": self._url.bucket,
            "Prefix": self._url.key(self._filter.prefix),
            "MaxKeys": self._page_size,
        }
        if start_after is not None:
            request["StartAfter"] = self._url.key(start_after)
        while True:
            page = await self._call(None, self._s3.list_objects_v2, **request)
            self.list_requests += 1
            found = [listed for item in page.get("Contents", ()) if (listed := self._listed(item)) is not None]
            if found:
                yield found
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    def _listed(self, item: Mapping[str, Any]) -> ListedFile | None:
        key: str = item["Key"]
        if key.endswith("/"):  # a "folder" marker made by consoles, not a file
            return None
        relative = self._url.relative(key)
        if not self._filter.matches(relative):
            return None
        return ListedFile(
            path=relative,
            size=int(item["Size"]),
            modified_at=_utc(item["LastModified"]),
            etag=_unquote(item.get("ETag")),
        )

    async def stat(self, path: str) -> ListedFile:
        """Return the object's size, mtime and ETag (HeadObject).

        Raises:
            SourceNotFound: The object or bucket does not exist.
        """
        head = await self._call(path, self._s3.head_object, Bucket=self._url.bucket, Key=self._url.key(path))
        return ListedFile(
            path=path,
            size=int(head["ContentLength"]),
            modified_at=_utc(head["LastModified"]),
            etag=_unquote(head.get("ETag")),
        )

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the object's bytes in ``[start, end)`` (a ranged GetObject), a chunk at a time.

        Raises:
            SourceNotFound: The object or bucket does not exist.
            SourceUnavailable: The connection broke while streaming.
        """
        if end is not None and end <= start:
            return
        request: dict[str, Any] = {"Bucket": self._url.bucket, "Key": self._url.key(path)}
        if start > 0 or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await self._call(path, self._s3.get_object, **request)
        except _RangeBeyondEnd:
            return
        async with response["Body"] as body:
            chunks = body.iter_chunks(READ_CHUNK)
            while True:
                try:
                    chunk = await anext(chunks, None)
                except (TimeoutError, aiohttp.ClientError, BotoCoreError) as exc:
                    raise SourceUnavailable(
                        f"reading {self._describe(path)} was interrupted ({type(exc).__name__}); retry later"
                    ) from exc
                if chunk is None:
                    return
                yield chunk

    async def _call(self, path: str | None, operation: Any, **request: Any) -> Any:
        """Run one S3 call (about ``path``, or a listing when None), translating every driver error into ours."""
        try:
            return await operation(**request)
        except ClientError as exc:
            raise _translate_client_error(exc, self._url, path) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise SourceAuthError(
                "no AWS credentials were found: set access_key_id and secret_access_key, "
                "or configure the default credential chain (environment, profile or IAM role)"
            ) from exc
        except (TimeoutError, BotoConnectionError, HTTPClientError, aiohttp.ClientError) as exc:
            raise SourceUnavailable(
                f"cannot reach the S3 endpoint {self._endpoint()} ({type(exc).__name__}); "
                "check endpoint_url/region and the network, or retry later"
            ) from exc
        except BotoCoreError as exc:
            raise TerminalError(f"S3 request for {self._describe(path)} failed: {type(exc).__name__}") from exc

    def _describe(self, path: str | None) -> str:
        return self._url.describe("s3") if path is None else f"s3://{self._url.bucket}/{self._url.key(path)}"

    def _endpoint(self) -> str:
        return str(self._client_args.get("endpoint_url") or f"(AWS, region {self._client_args['region_name']})")


class _RangeBeyondEnd(SourceNotFound):
    """The requested range starts at or after the end of the object (an empty read)."""


def _translate_client_error(  # noqa: PLR0911 - one return per outcome reads clearer than a table
    exc: ClientError, url: BucketUrl, path: str | None
) -> AutoloaderError:
    """Map an S3 error response to our error types; never echo the server's message (it may quote keys)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    where = url.describe("s3") if path is None else f"s3://{url.bucket}/{url.key(path)}"
    if code == "NoSuchBucket":
        return SourceNotFound(f"bucket {url.bucket!r} does not exist; check the source path")
    if path is not None and (code in _MISSING_CODES or status == 404):
        return SourceNotFound(f"file {path!r} not found under {url.describe('s3')}")
    if status == 404:
        return SourceNotFound(f"{where} not found ({code or status}); check the source path")
    if code == "InvalidRange":
        return _RangeBeyondEnd(f"range beyond the end of {where}")
    if code in _AUTH_CODES or status in (401, 403):
        return SourceAuthError(
            f"S3 refused the credentials for {where} ({code or status}); check the access key, "
            "secret and the permissions s3:ListBucket and s3:GetObject"
        )
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed") or status == 301:
        return TerminalError(f"bucket {url.bucket!r} is in another region ({code or status}); set the region option")
    if code in _RETRYABLE_CODES or status >= 500 or status == 429:
        return SourceUnavailable(f"S3 is unavailable or throttling for {where} ({code or status}); retry later")
    return TerminalError(f"S3 refused the request for {where} ({code or status})")


def _client_args(options: Mapping[str, Any], credentials: Mapping[str, str] | None) -> dict[str, Any]:
    endpoint = options.get("endpoint_url") or None
    path_style = options.get("path_style")
    if path_style is None:
        path_style = endpoint is not None  # S3-compatible servers rarely have per-bucket DNS names
    config = AioConfig(
        s3={"addressing_style": "path" if _flag(path_style) else "auto"},
        retries={"max_attempts": int(options.get("max_attempts", 3)), "mode": "standard"},
        connect_timeout=float(options.get("connect_timeout", 10)),
        read_timeout=float(options.get("read_timeout", 60)),
    )
    args: dict[str, Any] = {
        "region_name": str(options.get("region") or DEFAULT_REGION),
        "endpoint_url": endpoint,
        "config": config,
    }
    args.update(_credential_args(credentials))
    return args


def _credential_args(credentials: Mapping[str, str] | None) -> dict[str, str]:
    if not credentials:
        return {}  # the default credential chain
    missing = [name for name in ("access_key_id", "secret_access_key") if not credentials.get(name)]
    if missing:
        raise SourceAuthError(f"S3 credentials need {' and '.join(missing)} (or no credentials for the default chain)")
    args = {
        "aws_access_key_id": credentials["access_key_id"],
        "aws_secret_access_key": credentials["secret_access_key"],
    }
    if credentials.get("session_token"):
        args["aws_session_token"] = credentials["session_token"]
    return args


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _unquote(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
