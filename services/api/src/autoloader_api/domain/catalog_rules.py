"""Validation of a catalog registration: every problem becomes a FieldError saying what to send."""

from __future__ import annotations

import re
from collections.abc import Mapping

from autoloader_api.domain.source_rules import MASK
from autoloader_api.domain.validation import IDENTIFIER_RULE, is_identifier
from autoloader_contracts.catalog import CATALOG_CREDENTIAL_FIELDS, CATALOG_TYPES, CatalogConfig
from autoloader_core.errors import FieldError

_URI_SCHEMES = {
    "rest": ("http://", "https://"),
    "hive": ("thrift://",),
    "sql": ("postgresql", "mysql", "mssql", "oracle"),
}
_URI_EXAMPLES = {
    "rest": "'https://catalog.example.com/api/catalog'",
    "hive": "'thrift://metastore:9083'",
    "sql": "'postgresql+psycopg2://user@host/db'",
}
_WAREHOUSE_SCHEMES = ("s3://", "s3a://", "gs://", "abfs://", "abfss://")
# The loader's own disk is never a registered catalog's warehouse (nor a SQLite file its catalog):
# a tenant must not make the loader write where it likes. Local tables use the built-in catalog.
_WAREHOUSE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
_HOST = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/\s?#]+")
_SECRET_WORDS = ("secret", "password", "token", "credential", "session", "private", "key-id")
_FIELD_KEYS = {"type", "uri", "warehouse"}
PROPERTY_KEY_MAX = 200
PROPERTY_VALUE_MAX = 4096
PROPERTIES_MAX = 64


def validate_catalog(config: CatalogConfig) -> list[FieldError]:
    """Return every problem of ``config`` (empty when it is valid)."""
    errors: list[FieldError] = []
    if not is_identifier(config.name):
        errors.append(
            FieldError(
                "name",
                f"{config.name!r} is not a valid catalog name: destinations name it as <catalog>.<database>.<table>, "
                f"so use letters, digits and underscores (rule {IDENTIFIER_RULE})",
            )
        )
    if config.type not in CATALOG_TYPES:
        errors.append(FieldError("type", f"unknown type {config.type!r}; use one of {', '.join(CATALOG_TYPES)}"))
    else:
        errors += _uri_errors(config)
    errors += _warehouse_errors(config.type, config.warehouse)
    return errors + property_errors(config.properties)


def credential_errors(catalog_type: str, credentials: Mapping[str, str]) -> list[FieldError]:
    """Check a write-only ``credentials`` object: known fields, non-empty strings, complete pairs."""
    errors = [
        FieldError(
            f"credentials.{name}",
            f"unknown credential field {name!r}; use {', '.join(CATALOG_CREDENTIAL_FIELDS)}",
        )
        for name in credentials
        if name not in CATALOG_CREDENTIAL_FIELDS
    ]
    errors += [
        FieldError(f"credentials.{name}", f"{name} must be a non-empty string")
        for name, value in credentials.items()
        if not isinstance(value, str) or not value
    ]
    errors += [
        FieldError(f"credentials.{name}", f"{name} is the mask {MASK!r}; send the value itself")
        for name, value in credentials.items()
        if value == MASK
    ]
    if errors:
        return errors
    errors += _pair_errors(credentials, "client_id", "client_secret", "OAuth2 client credentials")
    errors += _pair_errors(credentials, "access_key_id", "secret_access_key", "an access key")
    if "token" in credentials and "client_id" in credentials:
        errors.append(
            FieldError("credentials", "send either token (a bearer token) or client_id + client_secret, not both")
        )
    rest_only = [name for name in ("token", "client_id", "scope") if name in credentials]
    if catalog_type in CATALOG_TYPES and catalog_type != "rest" and rest_only:
        errors.append(
            FieldError(f"credentials.{rest_only[0]}", f"{rest_only[0]} is for REST catalogs; a {catalog_type} "
                       "catalog takes access_key_id + secret_access_key")
        )
    if "scope" in credentials and "client_id" not in credentials:
        errors.append(FieldError("credentials.scope", "scope goes with client_id + client_secret"))
    return errors


def property_errors(properties: Mapping[str, str]) -> list[FieldError]:
    """Property keys and values are bounded strings, and never hold a secret (those go in ``credentials``)."""
    if len(properties) > PROPERTIES_MAX:
        return [FieldError("properties", f"{len(properties)} properties; send at most {PROPERTIES_MAX}")]
    errors = []
    for key, value in properties.items():
        field = f"properties.{key}"
        if not key or len(key) > PROPERTY_KEY_MAX or any(c.isspace() for c in key):
            errors.append(FieldError(field, f"property names are 1 to {PROPERTY_KEY_MAX} characters without spaces"))
        elif key in _FIELD_KEYS:
            errors.append(FieldError(field, f"{key} is a field of the catalog, not a property; send it as {key}"))
        elif any(word in key.lower() for word in _SECRET_WORDS):
            errors.append(
                FieldError(field, f"{key!r} looks like a secret; send secrets in credentials (write-only, encrypted)")
            )
        elif not isinstance(value, str) or len(value) > PROPERTY_VALUE_MAX:
            errors.append(FieldError(field, f"property values are strings of at most {PROPERTY_VALUE_MAX} characters"))
    return errors


def _uri_errors(config: CatalogConfig) -> list[FieldError]:
    if config.type == "glue":
        return []  # Glue is found by region and account; a uri is optional (an endpoint override)
    example = _URI_EXAMPLES[config.type]
    if not config.uri:
        return [FieldError("uri", f"a {config.type} catalog needs uri, e.g. {example}")]
    if not config.uri.startswith(_URI_SCHEMES[config.type]) or (config.type != "sql" and not _HOST.match(config.uri)):
        return [FieldError("uri", f"uri {config.uri!r} is not a {config.type} catalog address; send e.g. {example}")]
    if any(c.isspace() for c in config.uri):
        return [FieldError("uri", "uri must not contain spaces")]
    return []


def _warehouse_errors(catalog_type: str, warehouse: str | None) -> list[FieldError]:
    if warehouse is None:
        return []
    if any(c.isspace() for c in warehouse) or not warehouse:
        return [FieldError("warehouse", "warehouse must be a non-empty string without spaces")]
    if catalog_type == "rest" and _WAREHOUSE_NAME.match(warehouse):
        return []  # a REST server's own warehouse name (Polaris, Lakekeeper, Unity name warehouses)
    if not warehouse.startswith(_WAREHOUSE_SCHEMES):
        return [
            FieldError(
                "warehouse",
                f"warehouse {warehouse!r} is not a storage location; send e.g. 's3://bucket/prefix' "
                f"(schemes: {', '.join(s.rstrip(':/') for s in _WAREHOUSE_SCHEMES)}), a REST server's warehouse "
                "name, or omit it when the catalog chooses its warehouse; the loader's local disk is not offered",
            )
        ]
    return []


def _pair_errors(credentials: Mapping[str, str], first: str, second: str, what: str) -> list[FieldError]:
    if (first in credentials) == (second in credentials):
        return []
    missing = second if first in credentials else first
    return [FieldError(f"credentials.{missing}", f"{what} need both {first} and {second}; {missing} is missing")]
