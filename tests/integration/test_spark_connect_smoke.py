"""Smoke test of the session's local Spark Connect server through the ``pyspark-client`` client.

Proves the ground the Spark Connect engine stands on: a round trip of Arrow data through a remote
session, and the first half of the ``staged`` commit strategy (Spark writes Parquet with
microsecond timestamps, which PyArrow -- and so PyIceberg ``add_files`` -- reads back).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": pa.array(["ada", "grace", None], pa.string()),
        "amount": pa.array([1.5, 2.25, -3.0], pa.float64()),
        "seen_at": pa.array(
            [datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), None],
            pa.timestamp("us", tz="UTC"),
        ),
    }
)


@pytest.fixture
def spark(spark_connect_url: str) -> Iterator[SparkSession]:
    """A remote session of its own on the session's server, stopped after the test."""
    session = SparkSession.builder.remote(spark_connect_url).create()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        yield session
    finally:
        session.stop()


def test_session_reports_the_server_version(spark: SparkSession) -> None:
    assert spark.version.startswith("4.")
    assert spark.range(5).count() == 5


def test_arrow_table_round_trips_through_the_session(spark: SparkSession) -> None:
    frame = spark.createDataFrame(ROWS)

    assert frame.count() == 3
    assert frame.columns == ["id", "name", "amount", "seen_at"]
    back = frame.orderBy("id").toArrow()
    assert back.column("id").to_pylist() == [1, 2, 3]
    assert back.column("name").to_pylist() == ["ada", "grace", None]
    assert back.column("amount").to_pylist() == [1.5, 2.25, -3.0]
    assert back.column("seen_at").to_pylist() == ROWS.column("seen_at").to_pylist()


def test_pandas_frame_round_trips_and_aggregates(spark: SparkSession) -> None:
    frame = spark.createDataFrame(ROWS.select(["id", "amount"]).to_pandas())

    total = frame.groupBy().sum("amount").collect()[0][0]
    assert total == pytest.approx(0.75)
    assert [row.id for row in frame.filter("amount > 0").orderBy("id").collect()] == [1, 2]


def test_parquet_written_by_spark_reads_back_in_pyarrow_with_micro_timestamps(
    spark: SparkSession, tmp_path: Path
) -> None:
    # The server runs on this machine, so a local folder is where both sides can reach the files.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    target = tmp_path / "staged"

    spark.createDataFrame(ROWS).coalesce(1).write.mode("overwrite").parquet(str(target))

    files = sorted(target.glob("*.parquet"))
    assert len(files) == 1
    assert (target / "_SUCCESS").exists()
    schema = pq.read_schema(files[0])
    assert schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("id").type == pa.int64()
    table = pq.read_table(files[0]).sort_by("id")
    assert table.num_rows == 3
    assert table.column("name").to_pylist() == ["ada", "grace", None]
    assert table.column("seen_at").to_pylist() == ROWS.column("seen_at").to_pylist()
    assert spark.read.parquet(str(target)).count() == 3
