"""Azure Blob Storage (and ADLS Gen2 through its blob endpoint) via ``azure.storage.blob.aio``.

Paths: ``abfss://container@account.dfs.core.windows.net/prefix/`` or
``https://account.blob.core.windows.net/container/prefix/``. Credentials: exactly one of
``connection_string``, ``account_key`` or ``sas_token``; none means the platform's ambient identity
(``DefaultAzureCredential``). Options: ``endpoint_url`` (emulators such as Azurite:
``http://127.0.0.1:10000/devstoreaccount1``), ``page_size``, ``retry_total``.

Azure lists a container's blobs in lexical name order, but the List Blobs ``marker`` is an opaque
continuation token, not a key, so ``start_after`` is honoured by skipping names while streaming
(the pages before it are still fetched).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import ContainerClient

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

CHUNK = 4 * 1024 * 1024
"""Bytes per ranged GET when streaming a blob (the first GET too, so big blobs arrive in pieces)."""

CREDENTIAL_FIELDS = ("connection_string", "account_key", "sas_token")
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_SECRET_QUERY = re.compile(r"(?i)\b(sig|AccountKey|SharedAccessSignature)=[^&;\s'\"]+")


class BlobLocation(NamedTuple):
    """Where an Azure source points.

    Attributes:
        account: Storage account name.
        account_url: Blob service endpoint (``https://account.blob.core.windows.net``).
        container: Container name.
        prefix: Blob name prefix, empty or ending with ``/``.
    """

    account: str
    account_url: str
    container: str
    prefix: str

    def describe(self) -> str:
        """The location for messages (no credentials in it)."""
        return f"container {self.container!r} of storage account {self.account!r} (prefix {self.prefix!r})"


def parse_blob_path(path: str, endpoint_url: str | None = None) -> BlobLocation:
    """Parse an ``abfss://`` or ``https://`` Azure Blob path.

    Args:
        path: ``abfss://container@account.dfs.core.windows.net/prefix/`` or
            ``https://account.blob.core.windows.net/container/prefix/``.
        endpoint_url: Overrides the blob endpoint derived from the host (emulators).

    Raises:
        TerminalError: The path has neither form, or misses the account or container.
    """
    parts = urlsplit(path)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    folder = parts.path.lstrip("/")
    if scheme in ("abfs", "abfss") and "@" in parts.netloc:
        container = parts.netloc.split("@", 1)[0]
        # ADLS Gen2 is the same storage as its blob endpoint: foo.dfs.<suffix> -> foo.blob.<suffix>.
        account, _, suffix = host.partition(".dfs.")
        blob_host = f"{account}.blob.{suffix}" if suffix else host
    elif scheme in ("https", "http"):
        container, _, folder = folder.partition("/")
        account, blob_host = host.split(".", 1)[0], host
    else:
        container = account = blob_host = ""
    if not (container and account):
        raise TerminalError(
            f"source path {path!r} must look like abfss://container@account.dfs.core.windows.net/folder/ "
            "or https://account.blob.core.windows.net/container/folder/"
        )
    prefix = folder.strip("/")
    return BlobLocation(
        account=account,
        account_url=(endpoint_url or f"https://{blob_host}").rstrip("/"),
        container=container,
        prefix=prefix + "/" if prefix else "",
    )


def _redact(text: str, secrets: Sequence[str]) -> str:
    """Remove credential values (and SAS signatures/keys in URLs) from a driver message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_QUERY.sub(r"\1=***", text)


class AzureBlobSource(Source):
    """Blobs under a container prefix, matching the include/exclude globs."""

    def __init__(
        self,
        location: BlobLocation,
        *,
        credentials: Mapping[str, str] | None,
        path_filter: PathFilter,
        options: Mapping[str, Any],
    ) -> None:
        self._location = location
        self._credentials = _check_credentials(credentials)
        self._filter = path_filter
        self._page_size = page_size(dict(options))
        self._retry_total = int(options.get("retry_total", 2))
        self._client: ContainerClient | None = None
        self._ambient: Any = None  # azure.identity.aio.DefaultAzureCredential, closed on exit

    @property
    def location(self) -> BlobLocation:
        """The parsed account, container and prefix."""
        return self._location

    async def __aenter__(self) -> AzureBlobSource:
        """Create the container client (no request is made yet).

        Raises:
            TerminalError: The connection string is malformed.
        """
        kwargs: dict[str, Any] = {
            "max_single_get_size": CHUNK,
            "max_chunk_get_size": CHUNK,
            # Our consumers retry transient errors with backoff; the SDK default (15 s, 3 times)
            # would hold a run for a minute on an unreachable host.
            "retry_total": self._retry_total,
            "initial_backoff": 1,
            "increment_base": 2,
            "connection_timeout": 10,
        }
        try:
            self._client = self._make_client(kwargs)
            await self._client.__aenter__()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def _make_client(self, kwargs: dict[str, Any]) -> ContainerClient:
        loc, creds = self._location, self._credentials
        if "connection_string" in creds:
            try:
                return ContainerClient.from_connection_string(creds["connection_string"], loc.container, **kwargs)
            except ValueError as exc:
                raise TerminalError(
                    "the Azure connection string is malformed: expected 'Key=Value;' pairs such as "
                    "AccountName=...;AccountKey=...;BlobEndpoint=... (copy it from the storage account's "
                    "'Access keys' page)"
                ) from exc
        credential: Any
        if "account_key" in creds:
            credential = {"account_name": loc.account, "account_key": creds["account_key"]}
        elif "sas_token" in creds:
            credential = creds["sas_token"].lstrip("?")
        else:
            credential = self._ambient = _ambient_credential()
        try:
            return ContainerClient(loc.account_url, loc.container, credential=credential, **kwargs)
        except ValueError as exc:  # e.g. a token credential with an http:// endpoint
            raise TerminalError(
                f"cannot use {loc.account_url} for {loc.describe()}: {exc} "
                "(use an https endpoint, or give a connection string or account key)"
            ) from exc

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the HTTP session and any ambient credential."""
        client, self._client = self._client, None
        ambient, self._ambient = self._ambient, None
        if client is not None:
            await client.__aexit__(None, None, None)
        if ambient is not None:
            await ambient.close()

    @property
    def _container(self) -> ContainerClient:
        if self._client is None:
            raise TerminalError("the Azure source must be opened with 'async with' before use")
        return self._client

    async def list_files(self, *, start_after: str | None = None) -> AsyncIterator[ListedFile]:
        """Stream matching blobs page by page in name order.

        Raises:
            SourceNotFound: The container does not exist.
            SourceAuthError: The credentials were refused.
            SourceUnavailable: The service could not be reached or failed (5xx, throttling).
        """
        prefix = self._location.prefix
        pages = self._container.list_blobs(
            name_starts_with=prefix + self._filter.prefix,
            include=["metadata"],
            results_per_page=self._page_size,
        ).by_page()
        try:
            async for page in pages:
                async for blob in page:
                    listed = self._listed(blob, start_after)
                    if listed is not None:
                        yield listed
        except AzureError as exc:
            raise self._translate(exc, None) from exc

    def _listed(self, blob: BlobProperties, start_after: str | None) -> ListedFile | None:
        relative = blob.name[len(self._location.prefix) :]
        if start_after is not None and relative <= start_after:
            return None
        # ADLS Gen2 (hierarchical namespace) lists its directories as empty marker blobs.
        if relative.endswith("/") or (blob.metadata or {}).get("hdi_isfolder") == "true":
            return None
        if not self._filter.matches(relative):
            return None
        return self._to_listed(relative, blob)

    @staticmethod
    def _to_listed(relative: str, blob: BlobProperties) -> ListedFile:
        modified = blob.last_modified or datetime.fromtimestamp(0, UTC)
        etag = (blob.etag or "").strip('"') or None  # listings are unquoted, properties quoted
        return ListedFile(path=relative, size=int(blob.size or 0), modified_at=modified.astimezone(UTC), etag=etag)

    async def stat(self, path: str) -> ListedFile:
        """Return the blob's size, last-modified time and etag.

        Raises:
            SourceNotFound: The blob or container does not exist.
        """
        name = self._blob_name(path)
        try:
            props = await self._container.get_blob_client(name).get_blob_properties()
        except AzureError as exc:
            raise self._translate(exc, path) from exc
        return self._to_listed(path, props)

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the blob's bytes in ``[start, end)`` with ranged GETs of :data:`CHUNK` bytes.

        Raises:
            SourceNotFound: The blob or container does not exist.
        """
        name = self._blob_name(path)
        if end is not None and end <= start:
            return
        length = None if end is None else end - start
        try:
            downloader = await self._container.get_blob_client(name).download_blob(offset=start, length=length)
            async for chunk in downloader.chunks():
                yield chunk
        except HttpResponseError as exc:
            if exc.status_code == 416:  # start lies beyond the end: nothing to read
                return
            raise self._translate(exc, path) from exc
        except AzureError as exc:
            raise self._translate(exc, path) from exc

    def _blob_name(self, path: str) -> str:
        # Blob names are literal, but HTTP stacks normalise "..": it could leave the prefix.
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise TerminalError(f"file {path!r} is outside the source folder (use a relative path without '..')")
        return self._location.prefix + path

    def _translate(self, exc: AzureError, path: str | None) -> AutoloaderError:
        """Map an Azure SDK error to our taxonomy with a message naming the cause (no secrets)."""
        where = self._location.describe()
        status = getattr(exc, "status_code", None)
        code = str(getattr(exc, "error_code", None) or "")
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return self._not_found(code, path, where)
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return SourceAuthError(self._auth_message(exc, code, where))
        if isinstance(exc, ServiceRequestError | ServiceResponseError) or status in RETRYABLE_STATUS:
            cause = _redact(_first_line(exc), list(self._credentials.values()))
            return SourceUnavailable(
                f"Azure Blob Storage at {self._location.account_url} is unavailable ({cause}); "
                "it will be retried — check the endpoint and network if this persists"
            )
        return TerminalError(
            f"Azure Blob Storage refused the request for {where}: {code or type(exc).__name__} (HTTP {status})"
        )

    def _not_found(self, code: str, path: str | None, where: str) -> SourceNotFound:
        if path is None or "container" in code.lower():
            return SourceNotFound(
                f"{where} was not found ({code or 'HTTP 404'}): check the account and "
                "container names in the source path"
            )
        return SourceNotFound(f"file {path!r} not found in {where}")

    def _auth_message(self, exc: AzureError, code: str, where: str) -> str:
        status = getattr(exc, "status_code", None)
        # Without a status the SDK refused locally (no ambient identity found, a key that is not base64).
        cause = code or (f"HTTP {status}" if status else _redact(_first_line(exc), list(self._credentials.values())))
        if self._ambient is not None and not status:
            return (
                f"no usable ambient Azure identity for {where} ({cause}): give credentials "
                "(connection_string, account_key or sas_token) or configure a managed identity"
            )
        kind = next(iter(self._credentials), "ambient identity")
        return (
            f"Azure refused the {kind} for {where} ({cause}): check that the secret is "
            "current and grants read and list permission on the container"
        )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_credentials(credentials: Mapping[str, str] | None) -> dict[str, str]:
    """Keep the one credential given; None or empty means the ambient identity.

    Raises:
        TerminalError: Unknown fields, or more than one kind of credential.
    """
    given = {k: v for k, v in (credentials or {}).items() if v}
    unknown = sorted(set(given) - set(CREDENTIAL_FIELDS))
    if unknown:
        raise TerminalError(f"unknown Azure credential fields {unknown}: use one of {list(CREDENTIAL_FIELDS)}")
    if len(given) > 1:
        raise TerminalError(
            f"give exactly one Azure credential, not {sorted(given)}: connection_string, account_key or sas_token"
        )
    return given


def _ambient_credential() -> Any:
    """``DefaultAzureCredential`` (imported here: only ambient-identity sources need azure-identity).

    Raises:
        TerminalError: azure-identity is not installed.
    """
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:  # pragma: no cover - installed with the sources library
        raise TerminalError(
            "ambient Azure identity needs the azure-identity package; install it or give credentials"
        ) from exc
    return DefaultAzureCredential()


def create(spec: SourceSpec, credentials: Mapping[str, str] | None, allowed_roots: Sequence[Path]) -> AzureBlobSource:
    """Build the Azure Blob connector for ``spec`` (``allowed_roots`` apply to local sources only).

    Raises:
        TerminalError: The path or the credential fields are invalid.
    """
    del allowed_roots
    endpoint = spec.options.get("endpoint_url")
    location = parse_blob_path(spec.path, str(endpoint) if endpoint else None)
    return AzureBlobSource(
        location,
        credentials=credentials,
        path_filter=PathFilter(spec.file_pattern, spec.exclude_pattern),
        options=spec.options,
    )
