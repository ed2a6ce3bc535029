"""Quoting of names inside Spark expressions and SQL: column names come from files, so anything goes."""

from __future__ import annotations


def quoted(name: str) -> str:
    """Return ``name`` as one Spark identifier: in backticks, a backtick in it doubled.

    A CSV header ``a; DROP TABLE x`` or ``we`ird`` stays one column name, never SQL or a nested field.
    """
    return "`" + name.replace("`", "``") + "`"
