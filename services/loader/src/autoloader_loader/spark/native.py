"""The ``native`` commit strategy: the cluster's own Iceberg catalog commits (``writeTo(...).append()``).

For clusters whose Spark has the Iceberg runtime and a catalog named like the cluster's
``catalog``. The batch's rows (read by the loader's connectors, with lineage columns) are sent
to the session as Arrow and written with one ``DataFrameWriterV2`` call, so the batch is one
Iceberg commit carrying ``snapshot-property.autoloader.*`` options. Exactly-once: before writing,
the table's ``snapshots`` metadata table is asked for a snapshot with the batch id, and the write
is a *conditional* append: ``overwrite(false)`` (deletes nothing; Iceberg records it as an
``append``) with ``isolation-level=serializable`` and ``validate-from-snapshot-id`` = the snapshot
the check saw, so Iceberg refuses the commit when anything was committed since. A plain
``append()`` would not: two loaders racing on one batch would both commit it. After a refused
commit the table is refreshed and the batch id looked up again.

Only ``append`` is supported; evolution is Iceberg's ``mergeSchema`` (tables are created with
``write.spark.accept-any-schema``). CI runs this against a real Spark 4.0 with the Iceberg runtime
(``spark_iceberg_url`` in tests/spark_env.py; docs/spark.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql.connect.functions import lit
from pyspark.sql.connect.readwriter import DataFrameWriterV2
from pyspark.sql.connect.session import SparkSession

from autoloader_contracts.events import BatchPlanned, FileResult
from autoloader_core.errors import FieldError, NotFoundError, TerminalError, ValidationFailed
from autoloader_loader import tables
from autoloader_loader.domain import decode_file_rows, encode_file_rows
from autoloader_loader.engine import (
    SNAPSHOT_BATCH_ID,
    SNAPSHOT_BATCH_ROWS,
    SNAPSHOT_FILE_ROWS,
    SNAPSHOT_INGESTION_ID,
    SNAPSHOT_RUN_ID,
    BatchResult,
    LoadError,
    TableRef,
)
from autoloader_loader.spark.names import quoted

SNAPSHOT_OPTION_PREFIX = "snapshot-property."
NEW_TABLE_PROPERTIES = {"format-version": "2", "write.spark.accept-any-schema": "true"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def table_name(catalog: str, ref: TableRef) -> str:
    """``catalog.database.table`` quoted for Spark SQL.

    Raises:
        LoadError: A part is not a plain identifier (nothing user-typed reaches SQL unchecked).
    """
    parts = [catalog, ref.database, ref.table]
    bad = [p for p in parts if not _IDENTIFIER.match(p)]
    if bad:
        raise LoadError(f"{bad[0]!r} is not a valid identifier for the cluster's catalog")
    return ".".join(quoted(p) for p in parts)


def snapshot_properties(planned: BatchPlanned, files: list[FileResult]) -> dict[str, str]:
    """The snapshot summary properties of the batch's commit."""
    return {
        SNAPSHOT_INGESTION_ID: planned.ingestion_id,
        SNAPSHOT_RUN_ID: planned.run_id,
        SNAPSHOT_BATCH_ID: planned.aggregate_id,
        SNAPSHOT_FILE_ROWS: encode_file_rows([f.rows for f in files]),
        SNAPSHOT_BATCH_ROWS: str(sum(f.rows for f in files)),
    }


@dataclass(frozen=True)
class TableState:
    """What the loader saw of the table before writing: whether it exists, and its current snapshot."""

    exists: bool
    snapshot_id: int | None = None


def plan_write(frame: DataFrame, name: str, properties: dict[str, str], state: TableState) -> DataFrameWriterV2:
    """The ``writeTo`` call for one batch: a conditional append (merging new columns), or create the table.

    An existing table is written only if nothing was committed after ``state.snapshot_id`` (none:
    after nothing at all). Nothing runs until :func:`commit`.
    """
    writer = frame.writeTo(name)
    for key, value in properties.items():
        writer = writer.option(SNAPSHOT_OPTION_PREFIX + key, value)
    if state.exists:
        writer = writer.option("mergeSchema", "true").option("isolation-level", "serializable")
        # Columns are matched by name: a new file column comes before the lineage columns in the
        # batch but after them in the evolved table.
        writer = writer.option("check-ordering", "false")
        if state.snapshot_id is not None:
            writer = writer.option("validate-from-snapshot-id", str(state.snapshot_id))
        return writer  # type: ignore[return-value]
    writer = writer.using("iceberg")
    for key, value in NEW_TABLE_PROPERTIES.items():
        writer = writer.tableProperty(key, value)
    return writer  # type: ignore[return-value]


def commit(writer: DataFrameWriterV2, state: TableState) -> None:
    """Run the write planned by :func:`plan_write` (one Iceberg commit)."""
    if state.exists:
        # Overwrite nothing: an append that Iceberg validates against commits since the base snapshot.
        writer.overwrite(lit(False))
    else:
        writer.create()


def ensure_namespace(session: SparkSession, name: str) -> None:
    """Create the table's namespace in the cluster's catalog unless it exists (REST, Hive and Glue need one).

    ``name`` is ``catalog.database.table`` as built by :func:`table_name` (checked identifiers).
    """
    namespace = name.rsplit(".", 1)[0]
    session.sql(f"CREATE NAMESPACE IF NOT EXISTS {namespace}").collect()


_LOST_RACE = (
    "CommitFailedException",
    "TABLE_OR_VIEW_ALREADY_EXISTS",  # create(): another writer created the table first
    "AlreadyExistsException",
)


def lost_race(exc: BaseException) -> bool:
    """Whether a write failed because another writer committed to the table first."""
    text = f"{type(exc).__name__}: {exc}"
    # validate-from-snapshot-id: "ValidationException: Found conflicting files that can contain records ..."
    conflict = "ValidationException" in text and "conflicting" in text
    return conflict or any(marker in text for marker in _LOST_RACE)


def table_state(session: SparkSession, name: str) -> TableState:
    """Whether the table exists and its current snapshot (``main``), as the session's catalog sees it.

    Raises:
        TerminalError: The cluster has no such catalog (see :func:`table_exists`).
    """
    if not table_exists(session, name):
        return TableState(exists=False)
    rows = session.sql(f"SELECT snapshot_id FROM {name}.refs WHERE name = 'main'").collect()  # noqa: S608
    return TableState(exists=True, snapshot_id=int(rows[0][0]) if rows else None)


def refresh(session: SparkSession, name: str) -> None:
    """Forget the session's cached copy of the table (Iceberg's catalog caches tables for a while)."""
    try:
        session.sql(f"REFRESH TABLE {name}").collect()
    except AnalysisException:  # not there (yet): nothing cached either
        return


def check_write_mode(planned: BatchPlanned) -> None:
    """Refuse what the native strategy does not do.

    Raises:
        LoadError: Not ``append``.
    """
    mode = planned.destination.write_mode
    if mode != "append":
        raise LoadError(
            f"write_mode {mode!r} needs the staged commit strategy; the native strategy appends only "
            "(set the cluster's commit_strategy to staged, or use append)"
        )


def table_exists(session: SparkSession, name: str) -> bool:
    """Whether the cluster's catalog has the table.

    Raises:
        TerminalError: The cluster has no such catalog (explains how to configure one).
    """
    catalog = name.split(".", 1)[0].strip("`")
    catalogs = {row[0] for row in session.sql("SHOW CATALOGS").collect()}
    if catalog not in catalogs and catalog != "spark_catalog":
        # SHOW CATALOGS lists only catalogs already used in the session: try it once before refusing.
        try:
            session.sql(f"SHOW NAMESPACES IN {quoted(catalog)}").collect()
        except Exception as exc:
            raise TerminalError(
                f"the cluster has no catalog {catalog!r}: configure an Iceberg catalog of that name "
                f"(spark.sql.catalog.{catalog}=org.apache.iceberg.spark.SparkCatalog) or use the staged "
                "commit strategy"
            ) from exc
    return bool(session.catalog.tableExists(name.replace("`", "")))


def committed_batch(session: SparkSession, name: str, planned: BatchPlanned) -> BatchResult | None:
    """The earlier result when the table's ``snapshots`` metadata table holds the batch id."""
    # ``name`` is built by table_name() from checked identifiers; the values are bound parameters.
    query = f"SELECT snapshot_id, summary FROM {name}.snapshots WHERE summary[:key] = :batch ORDER BY committed_at DESC"  # noqa: S608
    rows = session.sql(query, args={"key": SNAPSHOT_BATCH_ID, "batch": planned.aggregate_id}).collect()
    if not rows:
        return None
    snapshot_id, summary = rows[0][0], dict(rows[0][1] or {})
    counts = decode_file_rows(summary.get(SNAPSHOT_FILE_ROWS), len(planned.files)) or [0] * len(planned.files)
    return BatchResult(
        files=[FileResult(path=f.path, rows=n, bytes=f.size) for f, n in zip(planned.files, counts, strict=True)],
        rows=int(summary.get(SNAPSHOT_BATCH_ROWS) or summary.get("added-records") or 0),
        bytes=sum(f.size for f in planned.files),
        snapshot_id=int(snapshot_id),
        table=name.replace("`", ""),
        duration_seconds=0.0,
        already_committed=True,
        read_by="connector",
    )


@dataclass
class ArrowParts:
    """Collects a batch's rows as the loader's readers produce them (the batch writer's add/drop interface)."""

    parts: list[tuple[int, pa.Table]] = field(default_factory=list)

    def add(self, file: int, data: pa.Table) -> None:
        """Keep a chunk of the ``file``-th file."""
        self.parts.append((file, data))

    def drop_file(self, file: int) -> bool:
        """Forget a bad file's rows (nothing was written yet, so the batch needs no redo)."""
        self.parts = [(i, d) for i, d in self.parts if i != file]
        return False


def describe(session: SparkSession, name: str) -> dict[str, Any]:
    """The ``table_info`` answer for a table in the cluster's catalog (same fields as the embedded engine's).

    Raises:
        NotFoundError: The table does not exist yet.
        TerminalError: The table is not an Iceberg table (it has no ``snapshots`` metadata table).
    """
    _require_table(session, name)
    schema = session.table(name).schema
    details = {row[0]: row[1] for row in session.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()}
    try:
        columns = "committed_at, snapshot_id, parent_id, operation, summary"
        snapshots = session.sql(f"SELECT {columns} FROM {name}.snapshots ORDER BY committed_at").collect()  # noqa: S608
    except AnalysisException as exc:
        raise TerminalError(f"{name.replace('`', '')} is not an Iceberg table (no snapshots metadata table)") from exc
    described = [_snapshot(row) for row in snapshots]
    current = described[-1] if described else None
    return {
        "identifier": name.replace("`", ""),
        "location": details.get("Location"),
        "format_version": _format_version(details.get("Table Properties")),
        "schema_id": None,
        "schema": [
            {"id": None, "name": f.name, "type": f.dataType.simpleString(), "required": not f.nullable}
            for f in schema.fields
        ],
        "row_count": int(current["summary"].get("total-records", 0)) if current else 0,
        "current_snapshot_id": current["snapshot_id"] if current else None,
        "snapshots": described,
    }


def sample(session: SparkSession, name: str, *, limit: int, columns: list[str] | None) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the table (only ``columns`` when given) as JSON-able dicts.

    Raises:
        NotFoundError: The table does not exist yet.
        ValidationFailed: A requested column is not in the table.
    """
    _require_table(session, name)
    frame = session.table(name)
    unknown = [c for c in columns or [] if c not in frame.columns]
    if unknown:
        raise ValidationFailed(
            [FieldError("columns", f"unknown column {c!r}; the table has: {', '.join(frame.columns)}") for c in unknown]
        )
    if columns:
        frame = frame.select(*[quoted(c) for c in columns])
    return [tables.jsonable(row) for row in frame.limit(limit).toArrow().to_pylist()]


def drop(session: SparkSession, name: str) -> bool:
    """Drop the table and its files (``PURGE``); False when it did not exist."""
    if not session.catalog.tableExists(name.replace("`", "")):
        return False
    session.sql(f"DROP TABLE {name} PURGE").collect()
    return True


def _require_table(session: SparkSession, name: str) -> None:
    if not table_exists(session, name):
        raise NotFoundError(f"table {name.replace('`', '')} does not exist yet: run the ingestion first")
    # A pooled session's catalog may cache the table (Iceberg: 30 s by default) and not show what
    # another session committed since.
    refresh(session, name)


def _snapshot(row: Any) -> dict[str, Any]:
    committed_at = row[0]
    return {
        "snapshot_id": int(row[1]),
        "parent_id": int(row[2]) if row[2] is not None else None,
        "timestamp": committed_at.isoformat() if committed_at is not None else None,
        "operation": row[3],
        "summary": dict(row[4] or {}),
    }


def _format_version(properties: str | None) -> int | None:
    found = re.search(r"format-version=(\d+)", properties or "")
    return int(found.group(1)) if found else None
