"""Bad-data policies (``errors.on_error``): what an unreadable file or a malformed row does to a batch.

- ``fail_run``: the first unreadable file fails the whole batch (:class:`FileLoadError`).
- ``skip_file`` (default): an unreadable file is left out and recorded with its reason; the
  other files of the batch are committed.
- ``skip_row``: malformed rows (ragged CSV rows, invalid UTF-8 lines, broken JSON lines) are
  dropped, counted and recorded with file and line; a file that is unreadable as a whole
  (corrupt, truncated, empty) is left out as under ``skip_file``.

Malformed rows come from ``autoloader_formats``' ``on_bad_row`` callback, with their line numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from autoloader_contracts.events import RunError
from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import TerminalError
from autoloader_formats import iter_batches, normalise_for_iceberg, read_json_lines_together, read_table
from autoloader_formats.inference import apply_hints, conform, parse_hints, schema_from_json
from autoloader_formats.readers import BadRow
from autoloader_loader.engine import BatchResult, FileLoadError, LoadError

FAIL_RUN = "fail_run"
SKIP_FILE = "skip_file"
SKIP_ROW = "skip_row"
POLICIES = (FAIL_RUN, SKIP_FILE, SKIP_ROW)
ROW_ERRORS_CAP = 100
"""At most this many dropped rows are recorded per batch; all of them are counted."""



@dataclass
class BadDataLog:
    """What the policy left out of one batch: failed files and dropped rows.

    Attributes:
        policy: ``fail_run``, ``skip_file`` or ``skip_row``.
        failed_files: One error per file left out (``error_type`` ``file_error``).
        rejected_rows: Every dropped row, counted.
        row_errors: The first :data:`ROW_ERRORS_CAP` dropped rows with file, line and reason.
    """

    policy: str
    failed_files: list[RunError] = field(default_factory=list)
    rejected_rows: int = 0
    row_errors: list[RunError] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise LoadError(f"errors.on_error {self.policy!r} is not supported; use {', '.join(POLICIES)}")

    def reject_row(self, file: str, line: int | None, reason: str) -> None:
        """Count a dropped row and record it while under the cap."""
        self.rejected_rows += 1
        if len(self.row_errors) < ROW_ERRORS_CAP:
            self.row_errors.append(RunError(error_type="row_error", message=reason, file=file, line=line))

    def applied_to(self, result: BatchResult) -> BatchResult:
        """``result`` with this log's failed files and dropped rows."""
        return replace(
            result,
            failed_files=list(self.failed_files),
            rejected_rows=self.rejected_rows,
            row_errors=list(self.row_errors),
        )

    def leave_out(self, file: str, message: str, *, line: int | None) -> None:
        """Record ``file`` as left out of the batch.

        Raises:
            FileLoadError: The policy is ``fail_run``.
        """
        _leave_out(self, file, message, line=line)

    def merge_rows(self, other: BadDataLog) -> None:
        """Take over ``other``'s dropped rows (one file's, once that file loaded)."""
        self.rejected_rows += other.rejected_rows
        room = ROW_ERRORS_CAP - len(self.row_errors)
        self.row_errors.extend(other.row_errors[: max(0, room)])


def read_file(path: Path, fmt: FormatSpec, *, file: str, log: BadDataLog) -> pa.Table | None:
    """Read one file under the batch's policy.

    Args:
        path: The local file (in place or staged).
        fmt: The ingestion's format.
        file: The file's path as listed, named in errors.
        log: The batch's bad-data log; failed files and dropped rows are added to it.

    Returns:
        The file's rows, normalised for Iceberg; None when the file is left out.

    Raises:
        FileLoadError: The file is unreadable and the policy is ``fail_run``.
    """
    rows = BadDataLog(log.policy)
    try:
        table = pin_types(normalise_for_iceberg(_read(path, fmt, file=file, rows=rows)), fmt, file=file)
    except TerminalError as exc:
        _leave_out(log, file, exc.message, line=getattr(exc, "line", None))
        return None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        _leave_out(log, file, f"{file}: {exc}", line=None)
        return None
    log.merge_rows(rows)
    return table


def iter_file(
    path: Path, fmt: FormatSpec, *, file: str, rows: BadDataLog, batch_rows: int, limit_bytes: int | None = None
) -> Iterator[pa.Table]:
    """Stream one file's rows, normalised for Iceberg and with pinned types, chunk by chunk.

    Malformed rows are dropped into ``rows`` under ``skip_row``; under the other policies the
    first one makes the file unreadable (the rest of the file is scanned only to count them).

    Args:
        path: The local file (in place or staged).
        fmt: The ingestion's format.
        file: The file's path as listed, named in errors.
        rows: This file's own log of dropped rows (merge it into the batch's once the file is read).
        batch_rows: The largest chunk to yield.
        limit_bytes: Read only about this many (decompressed) bytes (a preview's sample).

    Raises:
        UnreadableFile: The file is corrupt, truncated, empty or (policy other than ``skip_row``)
            holds a malformed row; the caller applies the policy with :meth:`BadDataLog.leave_out`.
    """
    bad_rows: list[BadRow] = []
    has_columns = False
    try:
        batches = iter_batches(
            str(path),
            fmt,
            path_for_errors=file,
            on_bad_row=bad_rows.append,
            batch_rows=batch_rows,
            limit_bytes=limit_bytes,
        )
        for batch in batches:
            if bad_rows and rows.policy != SKIP_ROW:
                raise _malformed(file, bad_rows, batches)
            for bad in bad_rows:
                rows.reject_row(file, bad.line, bad.reason)
            bad_rows.clear()
            has_columns = has_columns or batch.num_columns > 0
            yield pin_types(normalise_for_iceberg(pa.Table.from_batches([batch])), fmt, file=file)
    except TerminalError as exc:
        raise UnreadableFile(exc.message, line=getattr(exc, "line", None)) from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UnreadableFile(f"{file}: {exc}", line=None) from exc
    if not has_columns and not rows.rejected_rows:
        raise UnreadableFile(f"{file}: cannot read as {fmt.type}: the file is empty; remove it or fill it", line=None)


def read_together(paths: Sequence[Path], fmt: FormatSpec) -> list[pa.Table] | None:
    """Read several small files (:func:`autoloader_formats.reads_together`) in one parse.

    Returns:
        Each file's rows, normalised and with pinned types, in order; None when they must be read
        one by one (:func:`iter_file` then applies the policy to the file that is bad).
    """
    try:
        parsed = read_json_lines_together([path.read_bytes() for path in paths])
        if parsed is None:
            return None
        table, counts = parsed
        table = pin_types(normalise_for_iceberg(table), fmt, file="(files read together)")
    except (OSError, TerminalError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    pinned = _pinned_columns(fmt)
    parts, offset = [], 0
    for count in counts:
        part = _own_columns(table.slice(offset, count), keep=pinned)
        if part.num_columns == 0:
            return None
        parts.append(part)
        offset += count
    return parts


def _own_columns(part: pa.Table, *, keep: set[str]) -> pa.Table:
    """``part`` without the columns it holds no value of (but ``keep``).

    A column that only other files of the group have is all null in this file's slice. Left in,
    it would reach the table with this file's rows, possibly a write group before the file that
    brings it (a schema change attributed to the wrong file, a new column in ``fail`` mode).
    """
    empty = [
        name
        for name, column in zip(part.column_names, part.columns, strict=True)
        if column.null_count == part.num_rows and name not in keep
    ]
    return part.drop_columns(empty) if empty else part


def _pinned_columns(fmt: FormatSpec) -> set[str]:
    """The columns the user's schema or hints name (kept even when null: they are the user's)."""
    spec = fmt.schema
    if spec.schema_json is not None:
        return set(schema_from_json(spec.schema_json).names)
    return set(spec.hints)


def _malformed(file: str, bad_rows: list[BadRow], rest: Iterator[pa.RecordBatch]) -> _LineError:
    """The error of a file with malformed rows, counting those in the rest of the file too."""
    first = bad_rows[0]
    try:
        for _ in rest:
            pass
    except TerminalError:
        pass  # the count stays a lower bound; the first malformed row is what the message names
    where = f"line {first.line}: " if first.line is not None else ""
    return _LineError(
        f"{file}: {where}{first.reason} ({len(bad_rows)} malformed rows; on_error=skip_row would drop them)",
        line=first.line,
    )


class UnreadableFile(Exception):
    """A file the bad-data policy must leave out (or fail the batch for)."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def pin_types(table: pa.Table, fmt: FormatSpec, *, file: str) -> pa.Table:
    """Apply the user's schema (``format.schema.schema_json``) or type hints to a file's rows.

    A user schema fixes every named column's type (missing ones become null); hints pin only the
    named columns. Other columns pass through for the evolution mode to judge.

    Raises:
        TerminalError: A value does not fit the pinned type (the file is bad data).
    """
    spec = fmt.schema
    if spec.schema_json is not None:
        wanted = schema_from_json(spec.schema_json)
    elif spec.hints:
        wanted = apply_hints(table.schema, parse_hints(spec.hints))
    else:
        return table
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    return normalise_for_iceberg(
        pa.Table.from_batches([conform(b, wanted, path_for_errors=file, keep_extra=True) for b in batches])
    )


def _leave_out(log: BadDataLog, file: str, message: str, *, line: int | None) -> None:
    if log.policy == FAIL_RUN:
        raise FileLoadError(message, file=file, line=line)
    log.failed_files.append(RunError(error_type=FileLoadError.error_type, message=message, file=file, line=line))


def _read(path: Path, fmt: FormatSpec, *, file: str, rows: BadDataLog) -> pa.Table:
    # Always collect bad rows (never let the reader raise from inside pyarrow's row callback):
    # under fail_run / skip_file the first one then fails the file, with its line.
    bad_rows: list[BadRow] = []
    table = read_table(str(path), fmt, path_for_errors=file, on_bad_row=bad_rows.append)
    if bad_rows and rows.policy != SKIP_ROW:
        first = bad_rows[0]
        where = f"line {first.line}: " if first.line is not None else ""
        raise _LineError(
            f"{file}: {where}{first.reason} ({len(bad_rows)} malformed rows; on_error=skip_row would drop them)",
            line=first.line,
        )
    for bad in bad_rows:
        rows.reject_row(file, bad.line, bad.reason)
    if table.num_columns == 0 and not bad_rows:
        raise TerminalError(f"{file}: cannot read as {fmt.type}: the file is empty; remove it or fill it")
    return table


class _LineError(TerminalError):
    """A file-level read error that knows the line it happened on."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.line = line
