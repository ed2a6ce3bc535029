"""Readers from source files (CSV, JSON lines, Parquet) to Arrow, and Iceberg type normalisation."""

from autoloader_formats.normalise import iceberg_type, normalise_for_iceberg
from autoloader_formats.readers import compression_of, read_table

__all__ = ["compression_of", "iceberg_type", "normalise_for_iceberg", "read_table"]
