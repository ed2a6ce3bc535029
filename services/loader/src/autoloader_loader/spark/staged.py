"""The ``staged`` commit strategy: Spark writes Parquet into the table's data folder, PyIceberg commits it.

:class:`SparkStagedTable` is the :class:`~autoloader_loader.tables.StagedTable` the batch writer
appends to when a batch goes through a Spark cluster: each group of rows is sent to the session as
Arrow, Spark writes it as Parquet (``TIMESTAMP_MICROS``, one file per partition) under
``<table>/data/autoloader/<batch id>/g<n>``, and the files join the batch's transaction with
``add_files``. Evolution, alignment, lineage, write modes and the exactly-once batch id stay the
embedded engine's: only who writes the data files changes.

A group folder is overwritten when a batch is retried, so files of an attempt that never
committed are replaced, never added twice.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Transaction
from pyspark.sql import DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.connect.session import SparkSession

from autoloader_loader import tables
from autoloader_loader.spark.names import quoted
from autoloader_loader.spark.session import arrow_frame
from autoloader_loader.writes import quiet_empty_delete

PARTITION_INDEX = "__autoloader_partition"
"""Helper column Spark partitions the files by (one Iceberg partition per folder); never written into files."""
STAGING_FOLDER = "data/autoloader"
SCHEME_FOR_SPARK = {"s3": "s3a", "gs": "gs", "abfss": "abfss", "file": "file"}
"""Warehouse URI scheme -> the scheme Hadoop file systems on a cluster use for it."""


def spark_uri(uri: str) -> str:
    """The URI a Spark cluster writes ``uri`` under (``s3://`` becomes ``s3a://``)."""
    scheme = urlsplit(uri).scheme
    mapped = SCHEME_FOR_SPARK.get(scheme, scheme)
    return uri if mapped == scheme else mapped + uri[len(scheme) :]


def iceberg_uri(uri: str) -> str:
    """The URI PyIceberg reads a file Spark reported at ``uri`` from (``s3a://`` back to ``s3://``)."""
    if uri.startswith("s3a://"):
        return "s3://" + uri[len("s3a://") :]
    return uri


class NeedsLoaderPartitioning(Exception):
    """Spark cannot compute the table's partition values (bucket, truncate, time transforms) here."""


class SparkStagedTable(tables.StagedTable):
    """An open transaction whose data files Spark writes.

    Args:
        transaction: The batch's transaction.
        session: The Spark session lent for the batch.
        batch_id: Names the batch's staging folder.

    Attributes:
        spark_seconds: Time spent in Spark calls so far (the cost model's Spark-side duration).
    """

    def __init__(self, transaction: Transaction, *, session: SparkSession, batch_id: str) -> None:
        super().__init__(transaction)
        self._session = session
        self._batch_id = batch_id
        self._groups = 0
        self.spark_seconds = 0.0

    def append(self, df: pa.Table, snapshot_properties: dict[str, str]) -> None:
        """Have Spark write ``df`` and add its files to the transaction as one snapshot."""
        files = self._write_with_spark(df)
        if files:
            self.transaction.add_files(files, snapshot_properties=snapshot_properties, check_duplicate_files=False)

    def overwrite(
        self, df: pa.Table, *, overwrite_filter: BooleanExpression, snapshot_properties: dict[str, str]
    ) -> None:
        """Delete the rows ``overwrite_filter`` matches, then append ``df`` (two snapshots, one commit)."""
        with quiet_empty_delete():
            self.transaction.delete(overwrite_filter, snapshot_properties=snapshot_properties)
        self.append(df, snapshot_properties)

    def append_frame(self, frame: DataFrame, snapshot_properties: dict[str, str]) -> None:
        """Have Spark write a DataFrame it already holds (cast to the table) and add the files as one snapshot.

        Raises:
            NeedsLoaderPartitioning: The table is partitioned by a transform other than identity.
        """
        fields = self.metadata.spec().fields
        if any(str(f.transform) != "identity" for f in fields):
            raise NeedsLoaderPartitioning("the table's partition transforms are computed by the loader")
        if fields:
            schema = self.schema()
            names = [sf.col(quoted(str(schema.find_column_name(f.source_id)))).cast("string") for f in fields]
            frame = frame.withColumn(PARTITION_INDEX, sf.concat_ws("\x00", *names) if len(names) > 1 else names[0])
        files = self._write_frame(frame, partitioned=bool(fields), coalesce=None)
        self.transaction.add_files(files, snapshot_properties=snapshot_properties, check_duplicate_files=False)

    def _write_with_spark(self, data: pa.Table) -> list[str]:
        if data.num_rows == 0:
            return []
        partitioned = bool(self.metadata.spec().fields)
        if partitioned:
            data = data.append_column(PARTITION_INDEX, self._partition_index(data))
        started = time.monotonic()
        frame = arrow_frame(self._session, data)
        self.spark_seconds += time.monotonic() - started
        # A group is bounded (rows and bytes): one file per partition of it.
        return self._write_frame(frame, partitioned=partitioned, coalesce=1)

    def _write_frame(self, frame: DataFrame, *, partitioned: bool, coalesce: int | None) -> list[str]:
        self._groups += 1
        folder = spark_uri(f"{self.metadata.location.rstrip('/')}/{STAGING_FOLDER}/{self._batch_id}/g{self._groups}")
        started = time.monotonic()
        writer = (frame.coalesce(coalesce) if coalesce else frame).write.mode("overwrite")
        if partitioned:
            writer = writer.partitionBy(PARTITION_INDEX)
        writer.parquet(folder)
        try:
            written = self._session.read.parquet(folder).inputFiles()
        except Exception as exc:
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                written = []  # Spark wrote no data file (no rows)
            else:
                raise
        self.spark_seconds += time.monotonic() - started
        return sorted(iceberg_uri(path) for path in written)

    def _partition_index(self, data: pa.Table) -> pa.Array:
        """A small integer per row naming its Iceberg partition (rows of one value share a file)."""
        schema = self.schema()
        keys: list[pa.Array] = []
        for field in self.metadata.spec().fields:
            source = schema.find_field(field.source_id)
            column = data.column(source.name).combine_chunks()
            transformed = field.transform.pyarrow_transform(source.field_type)(column)
            keys.append(pc.fill_null(pc.cast(transformed, pa.string()), "\x00null"))
        joined = keys[0] if len(keys) == 1 else pc.binary_join_element_wise(*keys, "\x00")
        return pc.dictionary_encode(joined).indices
