"""Subjects are built from safe tokens only."""

from __future__ import annotations

import pytest

from autoloader_contracts.events import BatchPlanned, RunCompleted
from autoloader_contracts.subjects import aggregate_filter, events_of

pytestmark = pytest.mark.unit


def test_subjects_follow_the_documented_shape() -> None:
    assert aggregate_filter("tnt_1", "ingestion", "ing_2") == "autoloader.tnt_1.ingestion.ing_2.*"
    assert events_of(RunCompleted) == "autoloader.*.run.*.completed"
    assert events_of(BatchPlanned, "tnt_1") == "autoloader.tnt_1.batch.*.planned"


@pytest.mark.parametrize("bad", ["a.b", "*", ">", "a b", "", "ing_1.>"])
def test_ids_that_would_change_a_subject_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="subject token"):
        aggregate_filter("tnt_1", "ingestion", bad)
    with pytest.raises(ValueError, match="subject token"):
        aggregate_filter(bad, "ingestion", "ing_1")
