"""Google Cloud Storage through gcloud-aio-storage.

Spec: ``path`` is ``gs://bucket/prefix/``; options ``endpoint_url`` (an emulator such as
fake-gcs-server, ``http://host:port``; passed to the client as its API root rather than through the
process-wide ``STORAGE_EMULATOR_HOST``) and ``page_size`` (``maxResults``, default 1000).
Credentials: ``service_account_json`` (the key file's JSON text) or None for ambient credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application-default file, or the metadata server).

A file's identity is its ``generation`` (changes on every rewrite), not the JSON API's ``etag``.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from gcloud.aio.storage import Storage

from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import AutoloaderError, TerminalError
from autoloader_sources.base import (
    ListedFile,
    PathFilter,
    Source,
    SourceAuthError,
    SourceNotFound,
    SourceUnavailable,
    page_size,
)
from autoloader_sources.bucket_url import BucketUrl, parse_bucket_url

READ_CHUNK = 1024 * 1024
TIMEOUT_SECONDS = 60
_LIST_FIELDS = "items(name,size,updated,generation),nextPageToken"
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key")


def create(spec: SourceSpec, credentials: Mapping[str, str] | None, allowed_roots: Sequence[Path]) -> GcsSource:
    """Build the GCS connector for ``spec`` (the registry's factory; local roots do not apply).

    Raises:
        TerminalError: The path is not ``gs://bucket/...``.
        SourceAuthError: ``service_account_json`` is not a usable service-account key.
    """
    del allowed_roots
    return GcsSource(spec, credentials)


class GcsSource(Source):
    """Objects under ``gs://bucket/prefix/`` matching the spec's globs.

    Attributes:
        list_requests: Objects.list calls made so far (for metrics and benchmarks).
    """

    def __init__(self, spec: SourceSpec, credentials: Mapping[str, str] | None) -> None:
        self._url = parse_bucket_url(spec.path, scheme="gs")
        self._filter = PathFilter(spec.file_pattern, spec.exclude_pattern)
        self._page_size = page_size(dict(spec.options))
        self._api_root = str(spec.options.get("endpoint_url") or "").rstrip("/") or None
        self._service_json = _service_account_json(credentials)
        self._storage: Storage | None = None
        self.list_requests = 0

    async def __aenter__(self) -> GcsSource:
        """Create the client (its HTTP session is closed on exit)."""
        service_file = io.StringIO(self._service_json) if self._service_json else None
        self._storage = Storage(service_file=service_file, api_root=self._api_root)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client's HTTP session."""
        storage, self._storage = self._storage, None
        if storage is not None:
            await storage.close()

    @property
    def _client(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("use the GCS source inside `async with`")
        return self._storage

    async def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching objects in name order, one page (``maxResults``) at a time.

        Raises:
            SourceNotFound: The bucket does not exist.
            SourceAuthError: The credentials were refused.
            SourceUnavailable: The endpoint is unreachable, throttling or failing.
        """
        params = {
            "prefix": self._url.key(self._filter.prefix),
            "maxResults": str(self._page_size),
            "fields": _LIST_FIELDS,
        }
        if start_after is not None:
            params["startOffset"] = self._url.key(start_after)  # inclusive: the equal name is dropped below
        while True:
            page = await self._call(
                None, self._client.list_objects(self._url.bucket, params=params, timeout=TIMEOUT_SECONDS)
            )
            self.list_requests += 1
            for item in page.get("items", ()):
                listed = self._listed(item)
                if listed is not None and (start_after is None or listed.path > start_after):
                    yield listed
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def _listed(self, item: Mapping[str, Any]) -> ListedFile | None:
        name: str = item["name"]
        if name.endswith("/"):  # a "folder" placeholder made by consoles, not a file
            return None
        relative = self._url.relative(name)
        if not self._filter.matches(relative):
            return None
        return _listed_file(relative, item)

    async def stat(self, path: str) -> ListedFile:
        """Return the object's size, update time and generation.

        Raises:
            SourceNotFound: The object or bucket does not exist.
        """
        metadata = await self._call(
            path, self._client.download_metadata(self._url.bucket, self._url.key(path), timeout=TIMEOUT_SECONDS)
        )
        return _listed_file(path, metadata)

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the object's bytes in ``[start, end)`` (a ranged media download), a chunk at a time.

        Raises:
            SourceNotFound: The object or bucket does not exist.
            SourceUnavailable: The connection broke while streaming.
        """
        if end is not None and end <= start:
            return
        headers = {}
        if start > 0 or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            stream = await self._call(
                path,
                self._client.download_stream(
                    self._url.bucket, self._url.key(path), headers=headers, timeout=TIMEOUT_SECONDS
                ),
            )
        except _RangeBeyondEnd:
            return
        async with stream:
            while True:
                try:
                    chunk = await stream.read(READ_CHUNK)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    raise SourceUnavailable(
                        f"reading {self._describe(path)} was interrupted ({type(exc).__name__}); retry later"
                    ) from exc
                if not chunk:
                    return
                yield chunk

    async def _call(self, path: str | None, request: Any) -> Any:
        """Await one client call (about ``path``, or a listing when None), translating driver errors."""
        try:
            return await request
        except aiohttp.ClientResponseError as exc:
            raise _translate_response_error(exc, self._url, path, api_root=self._api_root) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SourceUnavailable(
                f"cannot reach Google Cloud Storage at {self._api_root or 'storage.googleapis.com'} "
                f"({type(exc).__name__}); check endpoint_url and the network, or retry later"
            ) from exc
        except (ValueError, KeyError) as exc:
            # Raised while building a token from the key (bad key material, unknown key type).
            raise SourceAuthError(
                f"the GCS credentials could not be used ({type(exc).__name__}); check service_account_json"
            ) from exc

    def _describe(self, path: str | None) -> str:
        return self._url.describe("gs") if path is None else f"gs://{self._url.bucket}/{self._url.key(path)}"


class _RangeBeyondEnd(SourceNotFound):
    """The requested range starts at or after the end of the object (an empty read)."""


def _translate_response_error(  # noqa: PLR0911 - one return per outcome reads clearer than a table
    exc: aiohttp.ClientResponseError, url: BucketUrl, path: str | None, *, api_root: str | None
) -> AutoloaderError:
    """Map an HTTP error to our types; the body (exc.message) is never echoed (it may quote names)."""
    status = exc.status
    where = url.describe("gs") if path is None else f"gs://{url.bucket}/{url.key(path)}"
    if not str(exc.request_info.real_url).startswith(api_root or "https://storage.googleapis.com"):
        # The failing request went to the token endpoint: the key itself was refused.
        return SourceAuthError(f"Google refused the service-account key ({status}); check service_account_json")
    if status == 404:
        if path is None:
            return SourceNotFound(f"bucket {url.bucket!r} does not exist; check the source path")
        return SourceNotFound(f"file {path!r} not found under {url.describe('gs')}")
    if status == 416:
        return _RangeBeyondEnd(f"range beyond the end of {where}")
    if status in (401, 403):
        return SourceAuthError(
            f"Google Cloud Storage refused the credentials for {where} ({status}); check the service account "
            "and its roles (storage.objects.list and storage.objects.get)"
        )
    if status in (408, 429) or status >= 500:
        return SourceUnavailable(
            f"Google Cloud Storage is unavailable or throttling for {where} ({status}); retry later"
        )
    return TerminalError(f"Google Cloud Storage refused the request for {where} ({status})")


def _service_account_json(credentials: Mapping[str, str] | None) -> str | None:
    """Check ``service_account_json`` before the client sees it: the client silently falls back to
    ambient credentials when the key text does not parse."""
    if not credentials:
        return None
    text = credentials.get("service_account_json")
    if not text:
        raise SourceAuthError("GCS credentials need service_account_json (or no credentials for ambient ones)")
    try:
        data = json.loads(text)
    except ValueError:
        raise SourceAuthError("service_account_json is not valid JSON; paste the whole key file") from None
    if not isinstance(data, dict):
        raise SourceAuthError("service_account_json must be a JSON object (the key file)")
    if data.get("type", "service_account") == "service_account":
        _check_service_account(data)
    return text


def _check_service_account(data: Mapping[str, Any]) -> None:
    missing = [name for name in _SERVICE_ACCOUNT_FIELDS if not data.get(name)]
    if missing:
        raise SourceAuthError(f"service_account_json is missing {', '.join(missing)}; paste the whole key file")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(str(data["private_key"]).encode(), password=None)
    except (ValueError, TypeError):
        raise SourceAuthError("the private_key in service_account_json is not a valid PEM key") from None


def _listed_file(relative: str, item: Mapping[str, Any]) -> ListedFile:
    # Sizes and generations are strings in the JSON API.
    generation = item.get("generation")
    return ListedFile(
        path=relative,
        size=int(item.get("size", 0)),
        modified_at=_parse_time(item["updated"]),
        etag=str(generation) if generation is not None else item.get("md5Hash"),
    )


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
