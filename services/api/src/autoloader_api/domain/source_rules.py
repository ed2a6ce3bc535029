"""What a source of each type accepts: path shape, credential fields, options (SPEC §3).

One table row per source type (a dispatch table, not an if-chain). Pure functions: every problem
becomes a FieldError naming the field and what to send. Messages may quote paths and option values
but never credential values.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from autoloader_core.errors import FieldError

MASK = "********"
"""How responses show a credential value; sent back in an update it means "keep the stored value"."""

PathCheck = Callable[[str], str | None]
"""Returns what is wrong with a path (None: fine)."""
OptionCheck = Callable[[Any], str | None]
CredentialCheck = Callable[[Mapping[str, Any]], list[FieldError]]

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_AZURE_CONTAINER = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ABFSS = re.compile(r"^abfss://(?P<container>[^@/]*)@(?P<account>[^./]+)\.dfs\.core\.windows\.net(?P<rest>/.*)?$")
_AZURE_HTTPS = re.compile(
    r"^https://(?P<account>[^./]+)\.blob\.core\.windows\.net/(?P<container>[^/?#]*)(?P<rest>[/?#].*)?$"
)


# --- paths ------------------------------------------------------------------------------------


def _s3_path(path: str) -> str | None:
    match = re.match(r"^s3://(?P<bucket>[^/]*)(?P<rest>/.*)?$", path)
    if match is None:
        return f"path {_shown(path)!r} is not an S3 URL; send s3://bucket/prefix/"
    return _s3_bucket(match["bucket"]) or _no_query(path)


def _s3_bucket(bucket: str) -> str | None:
    rule = (
        "bucket names have 3-63 lowercase letters, digits, dots or hyphens, start and end with a "
        "letter or digit, have no '..' and are not IP addresses"
    )
    if not _S3_BUCKET.match(bucket) or ".." in bucket or _is_ip(bucket):
        return f"{bucket!r} is not a valid S3 bucket name: {rule}"
    return None


def _gcs_path(path: str) -> str | None:
    match = re.match(r"^gs://(?P<bucket>[^/]*)(?P<rest>/.*)?$", path)
    if match is None:
        return f"path {_shown(path)!r} is not a GCS URL; send gs://bucket/prefix/"
    bucket = match["bucket"]
    too_long = any(len(part) > 63 for part in bucket.split(".")) or ("." not in bucket and len(bucket) > 63)
    if not _GCS_BUCKET.match(bucket) or too_long or _is_ip(bucket):
        return (
            f"{bucket!r} is not a valid GCS bucket name: use 3-63 lowercase letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return _no_query(path)


def _azure_path(path: str) -> str | None:
    match = _ABFSS.match(path) or _AZURE_HTTPS.match(path)
    if match is None:
        return (
            f"path {_shown(path)!r} is not an Azure Blob URL; send "
            "abfss://container@account.dfs.core.windows.net/prefix/ or "
            "https://account.blob.core.windows.net/container/prefix/"
        )
    if "?" in path or "#" in path:
        return "the path must not carry a query (a SAS token is a credential): send it as credentials.sas_token"
    if not _AZURE_ACCOUNT.match(match["account"]):
        return f"{match['account']!r} is not a valid storage account name: use 3-24 lowercase letters or digits"
    container = match["container"]
    if not _AZURE_CONTAINER.match(container) or "--" in container:
        return (
            f"{container!r} is not a valid container name: use 3-63 lowercase letters, digits or single "
            "hyphens, starting and ending with a letter or digit"
        )
    return None


def _server_path(scheme: str) -> PathCheck:
    def check(path: str) -> str | None:
        example = f"{scheme}://host[:port]/folder/"
        try:
            parts = urlsplit(path)
            parts.port  # noqa: B018 - raises ValueError when the port is out of range
        except ValueError:
            return f"path {_shown(path)!r} has an invalid port; send {example} with a port from 1 to 65535"
        if parts.scheme != scheme or not parts.hostname:
            return f"path {_shown(path)!r} is not a {scheme.upper()} URL; send {example}"
        return _server_path_rest(parts, example)

    return check


def _server_path_rest(parts: SplitResult, example: str) -> str | None:
    if parts.username is not None or parts.password is not None:
        return "the path must not contain a user name or password: send them as credentials.username/password"
    if parts.query or parts.fragment:
        return f"the path must not have a query or fragment; send {example}"
    if ".." in parts.path.split("/"):
        return f"path must not contain '..' segments; send the folder itself, e.g. {example}"
    return None


def _shown(path: str) -> str:
    """The path as messages may quote it: without user info, query or fragment (they may hold secrets)."""
    return re.split(r"[?#]", re.sub(r"//[^/@]*@", "//", path, count=1), maxsplit=1)[0]


def _no_query(path: str) -> str | None:
    if "?" in path or "#" in path:
        return "the path must not have a query or fragment; credentials go in source.credentials"
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# --- options ----------------------------------------------------------------------------------


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be an http(s) URL string, e.g. 'http://127.0.0.1:9000'"
    try:
        parts = urlsplit(value)
    except ValueError:
        return f"{value!r} is not a valid URL; send e.g. 'https://s3.example.com'"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http(s) URL; send e.g. 'https://s3.example.com'"
    if parts.username is not None or parts.query:
        return "must not carry a user name, password or query: send credentials in source.credentials"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {json.dumps(value)}"


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return "must be a non-empty string"


def _positive_int(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return None
    return f"must be a positive integer, got {json.dumps(value)}"


def _count(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return f"must be an integer of 0 or more, got {json.dumps(value)}"


def _seconds(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return None
    return f"must be a positive number of seconds, got {json.dumps(value)}"


_COMMON_OPTIONS: dict[str, OptionCheck] = {"page_size": _positive_int}


# --- credentials ------------------------------------------------------------------------------


def _s3_credentials(credentials: Mapping[str, Any]) -> list[FieldError]:
    keys = {"access_key_id", "secret_access_key"}
    if credentials.keys() & keys and not keys <= credentials.keys():
        missing = sorted(keys - credentials.keys())[0]
        return [_credential_error(missing, "send access_key_id and secret_access_key together")]
    if "session_token" in credentials and not keys <= credentials.keys():
        return [_credential_error("session_token", "a session_token needs access_key_id and secret_access_key")]
    return []


def _azure_credentials(credentials: Mapping[str, Any]) -> list[FieldError]:
    given = [name for name in ("connection_string", "account_key", "sas_token") if name in credentials]
    if len(given) == 1:
        return []
    return [
        FieldError(
            "source.credentials",
            "send exactly one of connection_string, account_key or sas_token"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    ]


def _gcs_credentials(credentials: Mapping[str, Any]) -> list[FieldError]:
    value = credentials.get("service_account_json")
    if value is None or isinstance(value, dict):
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return []
    return [_credential_error("service_account_json", "must be a JSON object (the key file's content)")]


def _ftp_credentials(credentials: Mapping[str, Any]) -> list[FieldError]:
    if "password" in credentials and "username" not in credentials:
        return [_credential_error("username", "a password needs a username")]
    return []


def _sftp_credentials(credentials: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    if "passphrase" in credentials and "private_key" not in credentials:
        errors.append(_credential_error("passphrase", "a passphrase needs the private_key it unlocks"))
    if "username" not in credentials:
        errors.append(_credential_error("username", "SFTP needs a username; send it"))
    if "password" not in credentials and "private_key" not in credentials:
        errors.append(FieldError("source.credentials", "SFTP needs a password or a private_key; send one"))
    return errors


def _credential_error(name: str, message: str) -> FieldError:
    return FieldError(f"source.credentials.{name}", message)


@dataclass(frozen=True)
class SourceRules:
    """What one source type accepts.

    Attributes:
        path: Check of ``source.path``.
        credential_fields: Names allowed in ``source.credentials``.
        credentials: Check of the combination of fields sent.
        options: Option name -> check of its value (the options the connector reads).
        requires_credentials: True when there is no ambient identity to fall back on.
        required_options: Options that must be set.
    """

    path: PathCheck
    credential_fields: tuple[str, ...]
    credentials: CredentialCheck
    options: Mapping[str, OptionCheck] = field(default_factory=dict)
    requires_credentials: bool = False
    required_options: tuple[str, ...] = ()


RULES: dict[str, SourceRules] = {
    "s3": SourceRules(
        path=_s3_path,
        credential_fields=("access_key_id", "secret_access_key", "session_token"),
        credentials=_s3_credentials,
        options={
            "region": _text, "endpoint_url": _http_url, "path_style": _boolean,
            "max_attempts": _positive_int, "connect_timeout": _seconds, "read_timeout": _seconds,
        },
    ),
    "azure_blob": SourceRules(
        path=_azure_path,
        credential_fields=("connection_string", "account_key", "sas_token"),
        credentials=_azure_credentials,
        options={"endpoint_url": _http_url, "retry_total": _count},
    ),
    "gcs": SourceRules(
        path=_gcs_path,
        credential_fields=("service_account_json",),
        credentials=_gcs_credentials,
        options={"endpoint_url": _http_url},
    ),
    "ftp": SourceRules(
        path=_server_path("ftp"),
        credential_fields=("username", "password"),
        credentials=_ftp_credentials,
        options={"tls": _boolean, "passive": _boolean, "ca_cert": _text, "timeout": _seconds},
    ),
    "sftp": SourceRules(
        path=_server_path("sftp"),
        credential_fields=("username", "password", "private_key", "passphrase"),
        credentials=_sftp_credentials,
        options={"host_key": _text, "timeout": _seconds},
        requires_credentials=True,
        required_options=("host_key",),
    ),
}
"""Rules of the remote source types (``local`` is checked against the allowed roots instead)."""

_REQUIRED_OPTION_HINTS = {
    "host_key": "host_key is required: send the server's public host key ('ssh-ed25519 AAAA...'), "
    "pinned so a different server is refused",
}


def remote_source_errors(
    source_type: str, path: str, options: Mapping[str, Any], credentials: Mapping[str, Any] | None, *,
    stored_credentials: bool = False,
) -> list[FieldError]:
    """Return every problem of a remote source's path, options and credentials.

    Args:
        source_type: A key of :data:`RULES`.
        path: ``source.path``.
        options: ``source.options``.
        credentials: The credentials sent (None or empty: none sent).
        stored_credentials: Credentials stored earlier stay in use (an update that omits them).
    """
    rules = RULES[source_type]
    problem = rules.path(path)
    errors = [FieldError("source.path", problem)] if problem else []
    errors += option_errors(source_type, options)
    errors += [
        FieldError(f"source.options.{name}", _REQUIRED_OPTION_HINTS.get(name, f"{name} is required; send it"))
        for name in rules.required_options
        if name not in options
    ]
    if credentials:
        errors += credential_errors(source_type, credentials)
    elif rules.requires_credentials and not stored_credentials:
        errors.append(FieldError("source.credentials", f"{source_type} sources need credentials; send them"))
    return errors


def _option_checks(source_type: str) -> dict[str, OptionCheck]:
    return {**_COMMON_OPTIONS, **(RULES[source_type].options if source_type in RULES else {})}


def option_names(source_type: str) -> list[str]:
    """The ``source.options`` names ``source_type`` accepts (``local`` takes the common ones only)."""
    return sorted(_option_checks(source_type))


def option_errors(source_type: str, options: Mapping[str, Any]) -> list[FieldError]:
    """Check option names and values of ``source_type`` (unknown names are refused: typos)."""
    allowed = _option_checks(source_type)
    errors = []
    for name, value in options.items():
        check = allowed.get(name)
        if check is None:
            names = ", ".join(sorted(allowed))
            errors.append(FieldError(f"source.options.{name}", f"unknown option for {source_type}; use {names}"))
            continue
        problem = check(value)
        if problem:
            errors.append(FieldError(f"source.options.{name}", f"{name} {problem}"))
    return errors


def credential_errors(source_type: str, credentials: Mapping[str, Any]) -> list[FieldError]:
    """Check credential field names, value types and the combination sent (values never quoted)."""
    rules = RULES[source_type]
    errors = []
    for name, value in credentials.items():
        problem = _credential_value_problem(name, value, rules.credential_fields, source_type)
        if problem:
            errors.append(_credential_error(name, problem))
    return errors or rules.credentials(credentials)


def _credential_value_problem(name: str, value: Any, allowed: tuple[str, ...], source_type: str) -> str | None:
    if name not in allowed:
        return f"unknown credential field {name!r} for {source_type} sources; use {', '.join(allowed)}"
    if name == "service_account_json" and isinstance(value, dict):
        return None
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value == MASK:
        return f"{MASK!r} is the mask shown in responses; send the real value"
    return None


def normalise_credentials(credentials: Mapping[str, Any]) -> dict[str, str]:
    """Return validated credentials as strings (a JSON object value becomes its JSON text)."""
    return {
        name: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for name, value in credentials.items()
    }
