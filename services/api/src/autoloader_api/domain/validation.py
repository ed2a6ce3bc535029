"""Validation of an ingestion configuration: every problem becomes a FieldError saying what to send.

Pure functions: they look only at the configuration, the allowed local roots, the schedule
rules and the per-source-type rules (``source_rules``), so the API can refuse bad input before
anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import msgspec

from autoloader_api.domain.source_rules import option_errors, remote_source_errors
from autoloader_contracts.ingestion import (
    READ_FILES_MODES,
    DestinationSpec,
    IngestionConfig,
    SchemaSpec,
    SourceSpec,
)
from autoloader_contracts.partitioning import PartitionSyntaxError, parse_partition
from autoloader_contracts.schedule import ScheduleError, cron_of
from autoloader_core.errors import FieldError, ValidationFailed
from autoloader_formats import FORMAT_OPTIONS, SUPPORTED_FORMATS
from autoloader_formats.inference import parse_hints, schema_from_json
from autoloader_sources.local import PathOutsideRoots, confine_path

SOURCE_TYPES = ("local", "s3", "azure_blob", "gcs", "ftp", "sftp")
FORMAT_TYPES = SUPPORTED_FORMATS
WRITE_MODES = ("append", "overwrite", "merge")
AVAILABLE_WRITE_MODES = WRITE_MODES
EVOLUTION_MODES = ("add_new_columns", "rescue", "fail", "ignore")
CHANGED_FILES = ("ignore", "reload")
ON_ERROR = ("fail_run", "skip_file", "skip_row")
NAME_MAX = 128
PATH_MAX = 2048
PATTERN_MAX = 1024
PATTERN_DEEP_WILDCARDS_MAX = 8
"""``**`` per pattern: more says nothing a shorter glob cannot, and each one widens a listing."""
PATTERN_WILDCARDS_MAX = 64
SCHEMA_COLUMNS_MAX = 1000
SCHEMA_JSON_BYTES_MAX = 256 * 1024
COLUMN_NAME_MAX = 255
LIST_MAX = 64
"""Entries of merge_keys, partitioning.columns, alert_recipients, and keys of options."""
IDENTIFIER_RULE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_IDENTIFIER = re.compile(IDENTIFIER_RULE)


def validate_config(
    config: IngestionConfig,
    *,
    allowed_roots: Sequence[Path],
    credentials_given: bool = False,
    credentials: Mapping[str, Any] | None = None,
) -> list[FieldError]:
    """Return every problem of ``config`` (empty when it is valid).

    Args:
        config: The configuration as the user sent it (``source.credential_ref`` set when stored
            credentials stay in use).
        allowed_roots: Resolved folders local sources may read.
        credentials_given: Whether the request carried ``source.credentials``.
        credentials: The credentials the request carried (checked per source type).
    """
    errors = validate_name(config.name)
    errors += validate_source(
        config.source, allowed_roots=allowed_roots, credentials=credentials, credentials_given=credentials_given
    )
    for check in _SECTION_CHECKS:
        errors += check(config)
    return errors


def validate_source(
    source: SourceSpec,
    *,
    allowed_roots: Sequence[Path],
    credentials: Mapping[str, Any] | None = None,
    credentials_given: bool = False,
) -> list[FieldError]:
    """Return every problem of one source: type, path, patterns, options, credentials.

    Args:
        source: The source section (``credential_ref`` set when stored credentials stay in use).
        allowed_roots: Resolved folders local sources may read.
        credentials: The credentials sent with it, if any.
        credentials_given: Whether credentials were sent (even an empty object).
    """
    if source.type not in SOURCE_TYPES:
        return _one_of("source.type", source.type, SOURCE_TYPES, "source type")
    if len(source.path) > PATH_MAX:
        errors = [FieldError("source.path", f"path has {len(source.path)} characters; send at most {PATH_MAX}")]
    elif source.type == "local":
        errors = _local_source_errors(source, allowed_roots, credentials_given or bool(credentials))
    else:
        errors = remote_source_errors(
            source.type,
            source.path,
            source.options,
            credentials,
            stored_credentials=source.credential_ref is not None,
        )
    errors += _count_error("source.options", source.options, "options")
    errors += _pattern_errors("source.file_pattern", source.file_pattern)
    if source.exclude_pattern is not None:
        errors += _pattern_errors("source.exclude_pattern", source.exclude_pattern)
    return errors


def validate_name(name: str) -> list[FieldError]:
    """Check the ingestion name: 1..128 characters, not blank."""
    if not name.strip():
        return [FieldError("name", "name must not be empty; send 1 to 128 characters")]
    if len(name) > NAME_MAX:
        return [FieldError("name", f"name has {len(name)} characters; send at most {NAME_MAX}")]
    return []


def is_identifier(value: str) -> bool:
    """Tell whether ``value`` is a safe catalog/database/table/column name."""
    return bool(_IDENTIFIER.match(value))


def _one_of(field: str, value: str, allowed: Sequence[str], what: str) -> list[FieldError]:
    if value in allowed:
        return []
    return [FieldError(field, f"unknown {what} {value!r}; use one of {', '.join(allowed)}")]


def _local_source_errors(source: SourceSpec, roots: Sequence[Path], credentials_given: bool) -> list[FieldError]:
    errors = _local_path_errors(source.path, roots) + option_errors("local", source.options)
    if credentials_given:
        errors.append(FieldError("source.credentials", "local sources take no credentials; remove source.credentials"))
    return errors


def _local_path_errors(path: str, roots: Sequence[Path]) -> list[FieldError]:
    if not path.strip():
        return [FieldError("source.path", "path must not be empty; send an absolute folder path")]
    try:
        confine_path(path, roots)
    except PathOutsideRoots as exc:
        return [FieldError("source.path", exc.message)]
    return []


def _count_error(field: str, entries: Sized, what: str, limit: int = LIST_MAX) -> list[FieldError]:
    if len(entries) <= limit:
        return []
    return [FieldError(field, f"{field} has {len(entries)} {what}; send at most {limit}")]


def _pattern_errors(field: str, pattern: str) -> list[FieldError]:
    if not pattern.strip():
        return [FieldError(field, "pattern must not be empty; use a glob such as '**/*.csv'")]
    if len(pattern) > PATTERN_MAX:
        return [FieldError(field, f"pattern has {len(pattern)} characters; send at most {PATTERN_MAX}")]
    deep, wildcards = pattern.count("**"), sum(pattern.count(c) for c in "*?[")
    if deep > PATTERN_DEEP_WILDCARDS_MAX or wildcards > PATTERN_WILDCARDS_MAX:
        return [
            FieldError(
                field,
                f"pattern has {deep} '**' and {wildcards} wildcards; send at most {PATTERN_DEEP_WILDCARDS_MAX} '**' "
                f"and {PATTERN_WILDCARDS_MAX} wildcards ('*', '?', '[') in all",
            )
        ]
    if pattern.startswith(("/", "\\")):
        return [FieldError(field, f"pattern {pattern!r} must be relative to source.path, e.g. '**/*.csv'")]
    if ".." in re.split(r"[/\\]", pattern):
        return [
            FieldError(
                field,
                f"pattern {pattern!r} must not contain '..' segments; point source.path at the folder instead",
            )
        ]
    return []


def _format_errors(config: IngestionConfig) -> list[FieldError]:
    errors = _one_of("format.type", config.format.type, FORMAT_TYPES, "format")
    errors += _one_of(
        "format.schema.evolution_mode", config.format.schema.evolution_mode, EVOLUTION_MODES, "evolution mode"
    )
    return errors + _format_option_errors(config.format.type, config.format.options) + _schema_pin_errors(
        config.format.schema
    )


def _format_option_errors(format_type: str, options: Mapping[str, Any]) -> list[FieldError]:
    """A misspelt reader option would be ignored silently at load time, so it is refused here."""
    known = FORMAT_OPTIONS.get(format_type)
    if known is None:
        return []  # the unknown format itself is the error
    accepted = ", ".join(sorted(known))
    return [
        FieldError(f"format.options.{name}", f"unknown option {name!r} for {format_type}; use one of {accepted}")
        for name in options
        if name not in known
    ]


def _schema_pin_errors(schema: SchemaSpec) -> list[FieldError]:
    """Hints and a user schema must name types the readers know (checked here, not at load time)."""
    size_errors = _schema_size_errors(schema)
    if size_errors:
        return size_errors
    try:
        if schema.hints:
            parse_hints(schema.hints)
        if schema.schema_json is not None:
            schema_from_json(schema.schema_json)
    except ValidationFailed as exc:
        return list(exc.errors)
    return []


def _schema_size_errors(schema: SchemaSpec) -> list[FieldError]:
    """A schema is read by every load and preview: bound its columns, names and bytes."""
    where = "format.schema"
    errors = _count_error(f"{where}.hints", schema.hints, "columns", SCHEMA_COLUMNS_MAX)
    errors += [
        _long_name_error(f"{where}.hints.{name[:40]}", name)
        for name in list(schema.hints)[:SCHEMA_COLUMNS_MAX]
        if len(name) > COLUMN_NAME_MAX
    ]
    if schema.schema_json is None:
        return errors
    size = len(msgspec.json.encode(schema.schema_json))
    if size > SCHEMA_JSON_BYTES_MAX:
        message = f"schema_json is {size} bytes of JSON; send at most {SCHEMA_JSON_BYTES_MAX}"
        errors.append(FieldError(f"{where}.schema_json", message))
    if isinstance(schema.schema_json, list):
        errors += _count_error(f"{where}.schema_json", schema.schema_json, "columns", SCHEMA_COLUMNS_MAX)
        errors += [
            _long_name_error(f"{where}.schema_json[{i}].name", item["name"])
            for i, item in enumerate(schema.schema_json[:SCHEMA_COLUMNS_MAX])
            if isinstance(item, dict) and isinstance(item.get("name"), str) and len(item["name"]) > COLUMN_NAME_MAX
        ]
    return errors


def _long_name_error(field: str, name: str) -> FieldError:
    return FieldError(field, f"column name has {len(name)} characters; send at most {COLUMN_NAME_MAX}")


def _destination_errors(config: IngestionConfig) -> list[FieldError]:
    destination = config.destination
    errors = [
        _identifier_error(f"destination.{part}", getattr(destination, part))
        for part in ("catalog", "database", "table")
    ]
    errors += [
        _partition_error(f"destination.partitioning.columns[{i}]", column)
        for i, column in enumerate(destination.partitioning.columns)
    ]
    counts = _count_error("destination.partitioning.columns", destination.partitioning.columns, "entries")
    counts += _count_error("destination.merge_keys", destination.merge_keys, "keys")
    if counts:
        return counts
    return [e for e in errors if e is not None] + _write_mode_errors(destination)


def _partition_error(field: str, entry: str) -> FieldError | None:
    try:
        parse_partition(entry)
    except PartitionSyntaxError as exc:
        return FieldError(field, str(exc))
    return None


def _identifier_error(field: str, value: str) -> FieldError | None:
    if is_identifier(value):
        return None
    return FieldError(
        field,
        f"{value!r} is not a valid name: use letters, digits and underscores, "
        f"starting with a letter or underscore, at most 128 characters "
        f"(rule {IDENTIFIER_RULE})",
    )


def _write_mode_errors(destination: DestinationSpec) -> list[FieldError]:
    mode = destination.write_mode
    if mode not in WRITE_MODES:
        return _one_of("destination.write_mode", mode, WRITE_MODES, "write mode")
    if mode not in AVAILABLE_WRITE_MODES:
        return [
            FieldError(
                "destination.write_mode",
                f"write_mode {mode!r} is not available in this version yet; use 'append'",
            )
        ]
    if mode == "merge" and not destination.merge_keys:
        return [
            FieldError(
                "destination.merge_keys",
                "write_mode 'merge' needs merge_keys: send the key columns that identify a row, e.g. [\"id\"]",
            )
        ]
    errors = [_identifier_error(f"destination.merge_keys[{i}]", key) for i, key in enumerate(destination.merge_keys)]
    return [e for e in errors if e is not None]


def _schedule_errors(config: IngestionConfig) -> list[FieldError]:
    try:
        cron_of(config.schedule)
    except ScheduleError as exc:
        return [FieldError(f"schedule.{exc.field}", exc.message)]
    return []


MAX_SETTLE_SECONDS = 300
"""A longer pause between the two FTP/SFTP listings would hold a run (and its consumer) too long."""


def _discovery_errors(config: IngestionConfig) -> list[FieldError]:
    discovery = config.discovery
    errors = []
    for name in ("max_files_per_run", "max_bytes_per_run"):
        value = getattr(discovery, name)
        if value is not None and value <= 0:
            errors.append(
                FieldError(
                    f"discovery.{name}",
                    f"{name} must be a positive integer (or null for no limit), got {value}",
                )
            )
    if discovery.min_file_age_seconds < 0:
        errors.append(
            FieldError(
                "discovery.min_file_age_seconds",
                f"min_file_age_seconds must be 0 or more, got {discovery.min_file_age_seconds}",
            )
        )
    if not 0 <= discovery.settle_interval_seconds <= MAX_SETTLE_SECONDS:
        errors.append(
            FieldError(
                "discovery.settle_interval_seconds",
                f"settle_interval_seconds must be between 0 and {MAX_SETTLE_SECONDS}, "
                f"got {discovery.settle_interval_seconds}",
            )
        )
    if discovery.full_listing_every_runs < 1:
        errors.append(
            FieldError(
                "discovery.full_listing_every_runs",
                f"full_listing_every_runs must be 1 or more, got {discovery.full_listing_every_runs}",
            )
        )
    return errors + _one_of("discovery.changed_files", discovery.changed_files, CHANGED_FILES, "changed_files policy")


def _errors_policy_errors(config: IngestionConfig) -> list[FieldError]:
    return _one_of("errors.on_error", config.errors.on_error, ON_ERROR, "on_error policy")


def _quality_errors(config: IngestionConfig) -> list[FieldError]:
    quality = config.quality
    errors = _count_error("quality.alert_recipients", quality.alert_recipients, "recipients")
    if quality.row_count_threshold is not None and quality.row_count_threshold < 0:
        errors.append(
            FieldError("quality.row_count_threshold", "row_count_threshold must be 0 or more (or null for no alert)")
        )
    if quality.no_files_alert_hours is not None and quality.no_files_alert_hours <= 0:
        errors.append(
            FieldError(
                "quality.no_files_alert_hours",
                "no_files_alert_hours must be a positive integer (or null for no alert)",
            )
        )
    return errors


SERVER_SOURCES = ("ftp", "sftp")
"""Sources only our connector reaches: a Spark cluster has no FTP/SFTP file system."""


def _engine_errors(config: IngestionConfig) -> list[FieldError]:
    read_files = config.engine.read_files
    errors = _one_of("engine.read_files", read_files, READ_FILES_MODES, "read_files mode")
    if read_files == "cluster" and config.source.type in SERVER_SOURCES:
        errors.append(
            FieldError(
                "engine.read_files",
                "an FTP/SFTP server cannot be read by a Spark cluster; use auto or connector",
            )
        )
    return errors


def engine_cluster_errors(read_files: str, cluster_kind: str) -> list[FieldError]:
    """Problems of ``engine.read_files`` on a cluster of ``cluster_kind`` (``embedded`` | ``spark_connect``).

    The embedded engine has no cluster to hand files to: it reads everything through connectors.
    """
    if read_files != "cluster" or cluster_kind != "embedded":
        return []
    return [
        FieldError(
            "engine.read_files",
            "read_files 'cluster' needs a Spark Connect cluster: the embedded engine reads everything "
            "through connectors; use auto or connector, or set cluster_id to a spark_connect cluster",
        )
    ]


_SECTION_CHECKS: tuple[Callable[[IngestionConfig], list[FieldError]], ...] = (
    _format_errors,
    _destination_errors,
    _schedule_errors,
    _discovery_errors,
    _errors_policy_errors,
    _quality_errors,
    _engine_errors,
)
