"""The partition entry syntax shared by the API and the loader."""

from __future__ import annotations

import pytest

from autoloader_contracts.partitioning import PartitionField, PartitionSyntaxError, parse_partition

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("entry", "parsed", "name"),
    [
        ("country", PartitionField("identity", "country"), "country"),
        ("day(created_at)", PartitionField("day", "created_at"), "created_at_day"),
        (" YEAR ( at ) ", PartitionField("year", "at"), "at_year"),
        ("bucket(16, id)", PartitionField("bucket", "id", 16), "id_bucket"),
        ("truncate(3,name)", PartitionField("truncate", "name", 3), "name_trunc"),
    ],
)
def test_entries_parse_to_transform_column_and_width(entry: str, parsed: PartitionField, name: str) -> None:
    assert parse_partition(entry) == parsed
    assert parse_partition(entry).name == name


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("week(at)", "unknown transform 'week'"),
        ("bucket(id)", "bucket needs a width"),
        ("day(4, at)", "unknown transform 'day'"),
        ("bucket(0, id)", "width of bucket must be 1 or more"),
        ("a-b", "'a-b' is not a partition field"),
        ("day(a.b)", "is not a partition field"),
    ],
)
def test_bad_entries_say_what_to_send(entry: str, words: str) -> None:
    with pytest.raises(PartitionSyntaxError, match=words):
        parse_partition(entry)


def test_describe_round_trips() -> None:
    for entry in ("id", "hour(at)", "bucket(8, id)"):
        assert parse_partition(entry).describe() == entry
