"""Who reads a batch's files on the Spark engine: the cluster itself, or the loader's connectors.

``auto`` lets the cluster read when it can reach the files and Spark reads them the way our own
readers do; otherwise the loader streams the files through its connectors as Arrow into the
session. An ingestion overrides this with ``engine.read_files`` (``cluster`` | ``connector``).

The cluster reaches:

- local folders under one of the cluster's ``options.shared_paths`` (a mount both see at the same
  path, or a cluster on the loader's machine);
- object stores (``s3`` as ``s3a://``, ``gcs`` as ``gs://``; Azure goes through the connector) when
  ``options.reads_object_stores`` is true (the cluster's own credentials or instance role).

Spark reads them only when the batch needs nothing it does differently from our readers:
CSV/TSV/JSON lines/Parquet/ORC, no compression or gzip/bz2, no user schema or type hints, no
``rescue`` mode, ``append`` or ``overwrite``, no empty files (the bad-data policy must see them).
Under ``skip_file`` / ``skip_row`` Spark reads with ``FAILFAST``; a batch whose data Spark refuses
is read again through the connectors, which apply the policy row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from autoloader_contracts.events import BatchPlanned
from autoloader_loader.spark.session import ClusterTarget

SPARK_FORMATS = {"csv": "csv", "tsv": "csv", "json": "json", "parquet": "parquet", "orc": "orc"}
SPARK_COMPRESSION = {"", ".gz", ".bz2"}
CLUSTER_WRITE_MODES = ("append", "overwrite")
HADOOP_GLOB_CHARACTERS = set("*?[]{}\\")


@dataclass(frozen=True)
class ReadChoice:
    """How a batch's files reach Spark, and why (for logs and errors)."""

    by: str
    reason: str

    @property
    def cluster(self) -> bool:
        """True when the cluster reads the files itself."""
        return self.by == "cluster"


def choose_reader(planned: BatchPlanned, target: ClusterTarget) -> ReadChoice:
    """Decide who reads ``planned``'s files (see the module docstring)."""
    mode = planned.read_files
    if mode == "connector":
        return ReadChoice("connector", "the ingestion asks for connector reading")
    unreachable = _unreachable(planned, target)
    unsupported = unreachable or _unsupported(planned)
    if unsupported is None:
        return ReadChoice("cluster", "the cluster reaches the files")
    if mode == "cluster":
        return ReadChoice("connector", f"the cluster cannot read this batch itself: {unsupported}")
    return ReadChoice("connector", unsupported)


def _unreachable(planned: BatchPlanned, target: ClusterTarget) -> str | None:
    source = planned.source
    if source.type == "local":
        shared = [str(p) for p in target.options.get("shared_paths") or []]
        if not any(_under(source.path, root) for root in shared):
            return "the folder is not under the cluster's shared_paths"
        return None
    if source.type in ("s3", "gcs"):
        if not bool(target.options.get("reads_object_stores", False)):
            return "the cluster is not set to read object stores (options.reads_object_stores)"
        return None
    return f"a Spark cluster cannot reach {source.type} servers"


def _unsupported(planned: BatchPlanned) -> str | None:
    return _unsupported_format(planned) or _unsupported_load(planned)


def _unsupported_format(planned: BatchPlanned) -> str | None:
    fmt = planned.format
    if fmt.type not in SPARK_FORMATS or (fmt.type == "json" and _truthy(fmt.options.get("multiline"))):
        return f"Spark reads {fmt.type} differently from the loader's readers"
    if fmt.options.get("compression", "auto") not in ("auto", "none"):
        return "an explicit compression option"
    if any(set(f.path) & HADOOP_GLOB_CHARACTERS for f in planned.files):
        return "file names with characters Spark would take for a glob"
    if any(_compression(f.path) not in SPARK_COMPRESSION for f in planned.files):
        return "a compression Spark does not read the same way"
    return None


def _unsupported_load(planned: BatchPlanned) -> str | None:
    schema = planned.format.schema
    if schema.schema_json is not None or schema.hints or schema.inference != "auto":
        return "a user schema or type hints"
    if schema.evolution_mode == "rescue":
        return "evolution mode rescue"
    if planned.destination.write_mode not in CLUSTER_WRITE_MODES:
        return f"write mode {planned.destination.write_mode}"
    if any(f.size == 0 for f in planned.files):
        return "empty files (the bad-data policy reports them)"
    return None


def spark_read_options(planned: BatchPlanned) -> tuple[str, dict[str, Any]]:
    """Spark's data source name and reader options for the batch's format."""
    fmt = planned.format
    options = fmt.options
    if fmt.type in ("csv", "tsv"):
        spark_options: dict[str, Any] = {
            "header": str(_truthy(options.get("header", True))).lower(),
            "inferSchema": "true",
            "sep": options.get("delimiter") or ("\t" if fmt.type == "tsv" else ","),
            "quote": options.get("quote", '"'),
            "encoding": options.get("encoding") or "UTF-8",
            "mode": "FAILFAST",
            "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][XXX]",
        }
        # Without an escape character the loader's reader (PyArrow) reads a doubled quote inside a
        # quoted field as one quote (RFC 4180); Spark does that only when the escape is the quote.
        escape = options.get("escape") or spark_options["quote"]
        if escape:
            spark_options["escape"] = escape
        if options.get("null_value") is not None:
            spark_options["nullValue"] = options["null_value"]
        return "csv", spark_options
    if fmt.type == "json":
        return "json", {"mode": "FAILFAST", "encoding": options.get("encoding") or "UTF-8"}
    return SPARK_FORMATS[fmt.type], {}


def cluster_uri(planned: BatchPlanned, relative: str) -> str:
    """The URI the cluster reads the batch's file ``relative`` at."""
    source = planned.source
    if source.type == "local":
        return f"file://{(Path(source.path) / relative).resolve()}"
    prefix = source.path.rstrip("/")
    for ours, theirs in (("s3://", "s3a://"), ("gcs://", "gs://")):
        if prefix.startswith(ours):
            prefix = theirs + prefix[len(ours) :]
    return f"{prefix}/{relative}"


def _under(path: str, root: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(root) or PurePosixPath(root) in PurePosixPath(path).parents


def _compression(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    return suffix if suffix in (".gz", ".bz2", ".zst", ".zstd", ".lz4", ".snappy", ".deflate", ".xz") else ""


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")
