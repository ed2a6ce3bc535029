"""The user's own Iceberg catalogs (REST, Glue, Hive, SQL), opened with PyIceberg's ``load_catalog``.

A destination ``catalog.database.table`` names a catalog of its tenant. When the tenant registered
a catalog of that name, the embedded engine writes through it (the catalog decides where the
table's files go, in its warehouse); otherwise the table lives in the built-in ``SqlCatalog`` on
Autoloader's own PostgreSQL. :class:`CatalogLookup` is the seam between the two: the loader's
composition root gives the engine one that reads the tenant's registry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    BadRequestError,
    ForbiddenError,
    NoSuchNamespaceError,
    OAuthError,
    RESTError,
    ServerError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException, Timeout

from autoloader_core.errors import TerminalError, TransientError

CATALOG_TYPES = ("rest", "glue", "hive", "sql")
"""The catalog types PyIceberg opens for us (the built-in default is not one of them)."""

SECRET_PROPERTIES = frozenset(
    {"token", "credential", "client.secret", "s3.secret-access-key", "s3.session-token", "glue.secret-access-key"}
)
"""Properties that hold secrets: never logged, never part of an error message."""


class CatalogRefused(TerminalError):
    """The catalog refused the credentials, or they lack a permission."""


@dataclass(frozen=True)
class CatalogConnection:
    """How to open one of a tenant's own catalogs.

    Attributes:
        name: The catalog's name in destinations (``<name>.<database>.<table>``).
        type: ``rest``, ``glue``, ``hive`` or ``sql``.
        uri: The catalog's endpoint (REST URL, thrift URI, SQLAlchemy URL); None for Glue.
        warehouse: Where new tables go, for catalogs that take it from the client.
        properties: Everything else PyIceberg takes: ``token`` or ``credential`` for REST, the
            warehouse's ``s3.*`` settings, ``header.*``. Secrets included: this value is never logged.
    """

    name: str
    type: str
    uri: str | None = None
    warehouse: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)

    def load_properties(self) -> dict[str, str]:
        """The ``load_catalog`` keyword arguments."""
        loaded = {"type": self.type, **self.properties}
        if self.uri:
            loaded["uri"] = self.uri
        if self.warehouse:
            loaded["warehouse"] = self.warehouse
        if self.type == "rest" and "credential" in loaded and self.uri:
            # Iceberg's default token endpoint, said explicitly: PyIceberg deprecates its implicit fallback.
            loaded.setdefault("oauth2-server-uri", f"{self.uri.rstrip('/')}/v1/oauth/tokens")
        return loaded

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything of the connection does, so an open catalog is never reused stale."""
        canonical = json.dumps(self.load_properties(), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class CatalogLookup(Protocol):
    """Finds a tenant's own catalog by name; None means the built-in catalog."""

    def __call__(self, tenant_id: str, catalog: str) -> CatalogConnection | None:
        """Return the tenant's registered catalog ``catalog``, or None when there is none."""


def no_user_catalogs(tenant_id: str, catalog: str) -> CatalogConnection | None:
    """The lookup of a loader without a registry: every table is in the built-in catalog."""
    return None


def open_catalog(connection: CatalogConnection) -> Catalog:
    """Open ``connection`` (for REST this fetches the server's config, so credentials are checked here).

    Raises:
        TerminalError: The catalog refused the credentials or the configuration is wrong.
        TransientError: The catalog is unreachable or failed on its side.
    """
    with catalog_errors(describe(connection)):
        return load_catalog(connection.name, **connection.load_properties())


def list_namespaces(connection: CatalogConnection) -> list[str]:
    """The catalog's top-level namespaces, dotted (what test-connection shows).

    Raises:
        TerminalError: See :func:`open_catalog`.
        TransientError: See :func:`open_catalog`.
    """
    catalog = open_catalog(connection)
    with catalog_errors(describe(connection)):
        return [".".join(namespace) for namespace in catalog.list_namespaces()]


def describe(connection: CatalogConnection) -> str:
    """``catalog 'name' at uri``: how error messages name the catalog (never with a credential)."""
    return f"catalog {connection.name!r}" + (f" at {connection.uri}" if connection.uri else "")


@contextmanager
def catalog_errors(where: str) -> Iterator[None]:
    """Turn what PyIceberg's REST client and ``requests`` raise into Terminal / Transient errors.

    Args:
        where: Names the catalog in the messages (see :func:`describe`), so a run's error says what to fix.
    """
    try:
        yield
    except (TerminalError, TransientError):
        raise
    except (OAuthError, UnauthorizedError) as exc:
        raise CatalogRefused(f"{where} refused the credentials ({_cause(exc)}): check its token or client "
                            "credentials") from exc
    except ForbiddenError as exc:
        raise CatalogRefused(f"{where} denied access ({_cause(exc)}): the credentials lack a permission") from exc
    except NoSuchNamespaceError:
        raise
    except (ServiceUnavailableError, ServerError) as exc:
        raise TransientError(f"{where} failed on its side ({_cause(exc)}); retrying") from exc
    except BadRequestError as exc:
        raise TerminalError(f"{where} rejected the request ({_cause(exc)})") from exc
    except (RequestsConnectionError, Timeout) as exc:
        raise TransientError(f"{where} is unreachable ({type(exc).__name__}); check the URI; retrying") from exc
    except RequestException as exc:
        raise TransientError(f"{where}: request failed ({type(exc).__name__})") from exc
    except RESTError as exc:
        raise TerminalError(f"{where}: {_cause(exc)}") from exc


_BUCKET_IN_MESSAGE = re.compile(r"bucket '([^']+)'")


def missing_bucket(exc: OSError) -> str | None:
    """The bucket an object-store error says does not exist (PyArrow's S3 ``NO_SUCH_BUCKET``), else None."""
    text = str(exc)
    if "NO_SUCH_BUCKET" not in text and "NoSuchBucket" not in text:
        return None
    named = _BUCKET_IN_MESSAGE.search(text)
    return named.group(1) if named else "?"


def _cause(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
