"""Readers from source files (CSV, TSV, JSON, Parquet, Avro, ORC) to Arrow, inference, Iceberg type normalisation."""

from autoloader_formats.inference import Inferred, conform, infer_schema, parse_hints, parse_type, schema_from_json
from autoloader_formats.normalise import iceberg_type, normalise_for_iceberg
from autoloader_formats.readers import (
    FORMAT_OPTIONS,
    SUPPORTED_FORMATS,
    BadRow,
    compression_of,
    iter_batches,
    read_json_lines_together,
    read_table,
    reads_together,
)

__all__ = [
    "FORMAT_OPTIONS",
    "SUPPORTED_FORMATS",
    "BadRow",
    "Inferred",
    "compression_of",
    "conform",
    "iceberg_type",
    "infer_schema",
    "iter_batches",
    "normalise_for_iceberg",
    "parse_hints",
    "parse_type",
    "read_json_lines_together",
    "read_table",
    "reads_together",
    "schema_from_json",
]
