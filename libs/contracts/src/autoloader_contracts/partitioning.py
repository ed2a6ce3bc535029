"""The syntax of ``destination.partitioning.columns`` entries, shared by the API and the loader.

An entry is a column name (identity partitioning) or a transform of one column:
``year(col)``, ``month(col)``, ``day(col)``, ``hour(col)``, ``bucket(n, col)``, ``truncate(w, col)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TIME_TRANSFORMS = ("year", "month", "day", "hour")
WIDTH_TRANSFORMS = ("bucket", "truncate")
TRANSFORMS = ("identity", *TIME_TRANSFORMS, *WIDTH_TRANSFORMS)
_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
_COLUMN = re.compile(rf"^\s*({_NAME})\s*$")
_TIME = re.compile(rf"^\s*([A-Za-z]+)\s*\(\s*({_NAME})\s*\)\s*$")
_WIDTH = re.compile(rf"^\s*([A-Za-z]+)\s*\(\s*(\d+)\s*,\s*({_NAME})\s*\)\s*$")
SYNTAX_HELP = (
    "use a column name or one of year(col), month(col), day(col), hour(col), bucket(n, col), truncate(w, col)"
)


class PartitionSyntaxError(ValueError):
    """A partition entry is not a column name or a known transform; the message says what to send."""


@dataclass(frozen=True)
class PartitionField:
    """One parsed partition entry.

    Attributes:
        transform: ``identity``, ``year``, ``month``, ``day``, ``hour``, ``bucket`` or ``truncate``.
        column: The source column.
        width: The ``n`` of ``bucket`` / ``w`` of ``truncate`` (None otherwise).
    """

    transform: str
    column: str
    width: int | None = None

    @property
    def name(self) -> str:
        """The partition field's name in the table (Iceberg's conventional names)."""
        if self.transform == "identity":
            return self.column
        if self.transform == "truncate":
            return f"{self.column}_trunc"
        return f"{self.column}_{self.transform}"

    def describe(self) -> str:
        """The entry in the form users write it (``day(at)``, ``bucket(16, id)``, ``id``)."""
        if self.transform == "identity":
            return self.column
        if self.width is not None:
            return f"{self.transform}({self.width}, {self.column})"
        return f"{self.transform}({self.column})"


def parse_partition(entry: str) -> PartitionField:
    """Parse one ``partitioning.columns`` entry.

    Raises:
        PartitionSyntaxError: The entry is neither an identifier nor a known transform.
    """
    if match := _COLUMN.match(entry):
        return PartitionField("identity", match.group(1))
    if match := _TIME.match(entry):
        transform = match.group(1).lower()
        if transform in TIME_TRANSFORMS:
            return PartitionField(transform, match.group(2))
        if transform in WIDTH_TRANSFORMS:
            raise PartitionSyntaxError(f"{entry!r}: {transform} needs a width, e.g. {transform}(16, col)")
        raise PartitionSyntaxError(f"{entry!r}: unknown transform {transform!r}; {SYNTAX_HELP}")
    if match := _WIDTH.match(entry):
        transform, width = match.group(1).lower(), int(match.group(2))
        if transform not in WIDTH_TRANSFORMS:
            raise PartitionSyntaxError(f"{entry!r}: unknown transform {transform!r}; {SYNTAX_HELP}")
        if width < 1:
            raise PartitionSyntaxError(f"{entry!r}: the width of {transform} must be 1 or more")
        return PartitionField(transform, match.group(3), width)
    raise PartitionSyntaxError(f"{entry!r} is not a partition field; {SYNTAX_HELP}")
