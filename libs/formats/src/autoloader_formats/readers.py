"""Read source files (CSV, TSV, JSON lines / multi-line JSON, Parquet, Avro, ORC) as Arrow record batches.

:func:`iter_batches` streams a file with bounded memory (CSV block by block, JSON lines chunk by
chunk, Parquet by row group, ORC by stripe, Avro by block); :func:`read_table` collects it into a
table. Every failure caused by the file itself (empty, corrupt, wrong format, bad encoding, a
malformed row) is a :class:`TerminalError` whose message starts with the file's path: a bad file
must fail its batch, never crash the loader. Network-looking failures of a caller's stream are
:class:`TransientError`.

When the caller passes ``on_bad_row``, a malformed row (a ragged CSV row, a JSON line that is not
an object, a row with invalid UTF-8) is reported as a :class:`BadRow` and skipped; without it the
first malformed row fails the file with ``"<path>: line N: <reason>"``.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.orc as paorc
import pyarrow.parquet as pq

from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import TerminalError, TransientError

Source = BinaryIO | str | os.PathLike[str]


@dataclass(frozen=True)
class BadRow:
    """A malformed row that was skipped.

    Attributes:
        line: The 1-based line (text formats) or record number (Avro) when known.
        reason: What is wrong with the row.
    """

    line: int | None
    reason: str


BadRowHandler = Callable[[BadRow], None]

_EXTENSION_CODECS = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".bz2": "bz2",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".lz4": "lz4",
}
_CODEC_NAMES = {
    "gzip": "gzip",
    "gz": "gzip",
    "bz2": "bz2",
    "bzip2": "bz2",
    "zstd": "zstd",
    "zst": "zstd",
    "lz4": "lz4",
}
_TEXT_FORMATS = frozenset({"csv", "tsv", "json", "jsonl"})
_RANDOM_ACCESS_FORMATS = frozenset({"parquet", "orc"})
# CSV blocks and JSON-lines chunks: big enough for fast parsing and sane type inference, small
# enough to bound memory. pyarrow's JSON reader needs a whole row inside one block.
_CSV_BLOCK_SIZE = 4 * 1024 * 1024
_JSON_CHUNK_BYTES = 4 * 1024 * 1024
_JSON_BLOCK_SIZE = 16 * 1024 * 1024


class _MalformedRow(ValueError):
    """A malformed row while no ``on_bad_row`` handler was given."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


class _EmptyFile(ValueError):
    """The file holds no bytes (or only whitespace)."""


@dataclass
class _Context:
    path: str
    options: dict[str, Any]
    on_bad_row: BadRowHandler | None
    batch_rows: int
    limit_bytes: int | None
    skipped: int = 0
    refused: BadRow | None = None

    def bad_row(self, line: int | None, reason: str) -> None:
        if self.on_bad_row is None:
            raise _MalformedRow(line, reason)
        self.skipped += 1
        self.on_bad_row(BadRow(line=line, reason=reason))


_BatchReader = Callable[[Any, _Context], Iterator[pa.RecordBatch]]


def compression_of(path: str, option: str | None = "auto") -> str | None:
    """Return the pyarrow codec for ``path`` (``None`` = uncompressed).

    Args:
        path: File name; with ``auto`` its extension (``.gz``, ``.bz2``, ``.zst``, ``.lz4``) decides.
        option: ``auto`` (default), ``none``, or a codec name (``gzip``, ``bz2``, ``zstd``, ``lz4``).

    Raises:
        TerminalError: ``option`` names no supported codec.
    """
    choice = (option or "auto").lower()
    if choice == "auto":
        if os.path.splitext(path)[1].lower() == ".snappy":
            raise TerminalError(_snappy_message(path))
        return _EXTENSION_CODECS.get(os.path.splitext(path)[1].lower())
    if choice in {"none", "uncompressed"}:
        return None
    if choice == "snappy":
        raise TerminalError(_snappy_message(path))
    if choice not in _CODEC_NAMES:
        raise TerminalError(f"{path}: compression {option!r} is not supported; use auto, none, gzip, bz2, zstd or lz4")
    return _CODEC_NAMES[choice]


def _snappy_message(path: str) -> str:
    return (
        f"{path}: snappy compression of a whole file is not supported; snappy works inside parquet, "
        "orc and avro files (their own codec) — set format option compression to none for those"
    )


def iter_batches(
    path: Source,
    fmt: FormatSpec,
    *,
    path_for_errors: str,
    on_bad_row: BadRowHandler | None = None,
    batch_rows: int = 65_536,
    limit_bytes: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream one file as record batches of at most ``batch_rows`` rows, with bounded memory.

    At least one batch is yielded (a header-only CSV yields one empty batch carrying its columns).
    Batches of a JSON file are inferred chunk by chunk, so their schemas may differ (a column may
    appear later, or widen from long to double); unify them with
    ``pa.unify_schemas(..., promote_options="permissive")`` as :func:`read_table` does.

    Args:
        path: A local path or an open binary file object.
        fmt: The format (``csv``, ``tsv``, ``json``, ``parquet``, ``avro``, ``orc``) and its options.
        path_for_errors: The path named in error messages (its extension also tells compression).
        on_bad_row: Called with each malformed row, which is then skipped; ``None`` fails the file.
        batch_rows: The largest batch to yield.
        limit_bytes: Read only about this many (decompressed) bytes: text formats stop at the last
            whole line within the limit, binary formats after the batch that crosses it (sampling).

    Raises:
        TerminalError: The file is missing, empty, corrupt, not in the declared format, or holds a
            malformed row while ``on_bad_row`` is ``None``; the message starts with ``path_for_errors``.
        TransientError: Reading the caller's stream failed in a way a retry may fix (connection lost).
    """
    name = fmt.type.lower()
    reader = _READERS.get(name)
    if reader is None:
        supported = ", ".join(SUPPORTED_FORMATS)
        raise TerminalError(f"{path_for_errors}: format {fmt.type!r} is not supported; use {supported}")
    options = dict(fmt.options)
    if name == "tsv":
        options.setdefault("delimiter", "\t")
    codec = compression_of(path_for_errors, options.get("compression", "auto"))
    _reject_empty_path(path, path_for_errors, fmt.type)
    context = _Context(path_for_errors, options, on_bad_row, max(1, batch_rows), limit_bytes)
    try:
        with _opened(path, codec=codec, random_access=name in _RANDOM_ACCESS_FORMATS) as stream:
            source = _limited(stream, limit_bytes) if limit_bytes is not None and name in _TEXT_FORMATS else stream
            yield from reader(source, context)
    except TerminalError:
        raise
    except _MalformedRow as exc:
        raise TerminalError(f"{path_for_errors}: {exc}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise TransientError(f"{path_for_errors}: reading was interrupted ({exc}); retrying") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise TerminalError(f"{path_for_errors}: cannot read the file ({exc.strerror or exc})") from exc
    except (pa.ArrowException, ValueError, OSError, EOFError, TypeError, KeyError, IndexError) as exc:
        # UnicodeDecodeError is a ValueError; decompression errors surface as plain OSError.
        raise TerminalError(f"{path_for_errors}: {_describe(exc, fmt.type)}") from exc


def read_table(
    source: Source, fmt: FormatSpec, *, path_for_errors: str, on_bad_row: BadRowHandler | None = None
) -> pa.Table:
    """Read one file into a ``pyarrow.Table`` (all of :func:`iter_batches`, schemas unified).

    Args:
        source: An open binary file object or a local path.
        fmt: The ingestion's format and its options.
        path_for_errors: The path to name in error messages (and whose extension tells compression).
        on_bad_row: Called with each malformed row, which is then skipped; ``None`` fails the file.

    Raises:
        TerminalError: As :func:`iter_batches`; also when the file holds no columns at all.
        TransientError: Reading the caller's stream failed in a way a retry may fix (connection lost).
    """
    batches = list(iter_batches(source, fmt, path_for_errors=path_for_errors, on_bad_row=on_bad_row))
    table = _combine(batches, path_for_errors)
    if table.num_columns == 0 and on_bad_row is None:
        raise TerminalError(f"{path_for_errors}: cannot read as {fmt.type}: the file is empty")
    return table


def _combine(batches: list[pa.RecordBatch], path: str) -> pa.Table:
    if not batches:
        return pa.table({})
    first = batches[0].schema
    if all(batch.schema.equals(first) for batch in batches):
        return pa.Table.from_batches(batches, schema=first)
    try:
        return pa.concat_tables([pa.Table.from_batches([batch]) for batch in batches], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TerminalError(f"{path}: a column changes type within the file ({exc})") from exc


SMALL_FILE_BYTES = 1024 * 1024
"""Files up to this size may be parsed together (:func:`read_json_lines_together`)."""


def reads_together(fmt: FormatSpec, path: str, size: int) -> bool:
    """Whether a file of ``fmt`` named ``path`` may be parsed together with others (see below).

    Only small, uncompressed JSON-lines files with no reader options qualify: for them one parse of
    many files gives the same rows as one parse per file, at a fraction of the fixed cost.
    """
    options = {k: v for k, v in fmt.options.items() if not (k == "multiline" and not _as_bool(v))}
    return (
        fmt.type.lower() in {"json", "jsonl"}
        and not options
        and 0 < size <= SMALL_FILE_BYTES
        and compression_of(path) is None
    )


def read_json_lines_together(contents: Sequence[bytes]) -> tuple[pa.Table, list[int]] | None:
    """Parse several small JSON-lines files in one pass; return the rows and each file's row count.

    The rows of file ``i`` are the ``counts[i]`` rows after those of the files before it. Types are
    inferred over all the files at once, as a permissive concatenation of per-file reads would
    (``long`` and ``double`` give ``double``).

    Returns:
        None when the files must be read one by one instead: a file without rows or not valid
        UTF-8, a malformed line, a type that differs between rows, or a line holding more than one
        object. The per-file reader then reports what is wrong, and with which line.
    """
    counts = []
    for content in contents:
        rows = sum(1 for line in content.split(b"\n") if line.strip())
        if rows == 0:
            return None
        counts.append(rows)
    joined = b"\n".join(contents) + b"\n"
    try:
        joined.decode("utf-8")
        table = pajson.read_json(
            pa.BufferReader(joined),
            # One block, so that types are inferred over every row at once (as for one file's chunk).
            read_options=pajson.ReadOptions(block_size=max(_JSON_BLOCK_SIZE, len(joined) + 1)),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != sum(counts) or table.num_columns == 0:
        return None  # a line held several objects: the line counts do not place the rows
    return table, counts


def _reject_empty_path(source: Source, path: str, fmt_name: str) -> None:
    if isinstance(source, str | os.PathLike):
        try:
            empty = os.path.getsize(source) == 0
        except OSError as exc:
            raise TerminalError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
        if empty:
            raise TerminalError(f"{path}: cannot read as {fmt_name}: the file is empty; remove it or fill it")


def _describe(exc: BaseException, fmt: str) -> str:
    text = str(exc).strip() or type(exc).__name__
    if (
        isinstance(exc, _EmptyFile)
        or text.startswith(("Empty CSV file", "Empty JSON file"))
        or ("file size is 0 bytes" in text)
    ):
        text = "the file is empty; remove it or write data into it"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"the file is not valid {exc.encoding} text ({exc.reason}); set format option 'encoding'"
    elif isinstance(exc, EOFError) or "truncated" in text.lower() or "unexpected end" in text.lower():
        text = f"the file is truncated or corrupt ({text})"
    return f"cannot read as {fmt}: {text}"


@contextmanager
def _opened(source: Source, *, codec: str | None, random_access: bool) -> Iterator[Any]:
    """Yield something the pyarrow readers accept: a path, a file object or a buffer reader."""
    if codec is None:
        if isinstance(source, str | os.PathLike):
            yield os.fspath(source)
        elif random_access and not _seekable(source):
            yield pa.BufferReader(source.read())
        else:
            yield source
        return
    # compression=None: input_stream would otherwise detect the codec itself and we would decompress twice.
    raw = (
        pa.input_stream(os.fspath(source), compression=None)
        if isinstance(source, str | os.PathLike)
        else pa.PythonFile(source, mode="r")
    )
    with pa.CompressedInputStream(raw, codec) as stream:
        # Parquet and ORC need random access, which a decompressing stream cannot give.
        yield pa.BufferReader(stream.read_buffer()) if random_access else stream


def _limited(stream: Any, limit: int) -> pa.BufferReader:
    """The first ``limit`` bytes of ``stream``, cut after the last whole line when there is more."""
    if isinstance(stream, str):
        with open(stream, "rb") as handle:
            data = handle.read(limit + 1)
    else:
        data = stream.read(limit + 1)
    if isinstance(data, pa.Buffer):
        data = data.to_pybytes()
    if len(data) > limit:
        data = data[:limit]
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else data
    return pa.BufferReader(data)


def _seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError):
        return False


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], field.type) for field in schema], schema=schema)


def _sliced(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    if batch.num_rows <= rows:
        yield batch
        return
    for offset in range(0, batch.num_rows, rows):
        yield batch.slice(offset, rows)


# --- CSV -------------------------------------------------------------------------------------


def _read_csv(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    try:
        yield from _read_csv_blocks(stream, context)
    except pa.ArrowInvalid:
        if context.refused is not None:
            # The invalid-row handler refused a row: name its line rather than pyarrow's message.
            raise _MalformedRow(context.refused.line, context.refused.reason) from None
        raise


def _read_csv_blocks(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    options = context.options
    header = _as_bool(options.get("header", True))
    encoding = options.get("encoding") or "utf8"
    utf8 = encoding.lower().replace("-", "") in {"utf8", "utf_8"}
    with _Throttled.over(stream, _CSV_BLOCK_SIZE) as throttled:
        yield from _parse_csv(throttled, context, header=header, encoding=encoding, utf8=utf8)


def _parse_csv(
    stream: _Throttled, context: _Context, *, header: bool, encoding: str, utf8: bool
) -> Iterator[pa.RecordBatch]:
    options = context.options
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            autogenerate_column_names=not header,
            encoding=encoding,
            block_size=_CSV_BLOCK_SIZE,
            use_threads=False,  # serial parsing is what gives bad rows their line numbers
        ),
        parse_options=_csv_parse_options(options, context),
        convert_options=_csv_convert_options(options, check_utf8=not utf8),
    )
    rows_seen = 0
    yielded = False
    for block in reader:
        # Line numbers are exact only while no row spanned lines and no row was skipped before.
        exact = not _as_bool(options.get("multiline", False)) and context.skipped == 0
        first_line = rows_seen + (2 if header else 1) if exact else None
        rows_seen += block.num_rows
        stream.consumed()
        batch = _drop_invalid_utf8(block, context, first_line=first_line) if utf8 else block
        for part in _sliced(batch, context.batch_rows):
            yielded = True
            yield part
    if not yielded:
        yield _empty_batch(reader.schema)


class _Throttled:
    """A read-only file object that keeps pyarrow's CSV read-ahead within a few blocks.

    ``pyarrow.csv.open_csv`` reads ahead on its I/O threads as fast as the disk allows, which
    buffers most of a large file in memory when parsing is slower. Reads here wait until the
    consumer has taken enough batches (:meth:`consumed`), so at most ``window`` blocks are ahead.
    """

    _WAIT_SECONDS = 60.0  # a safety valve: never block a reader forever

    def __init__(self, raw: Any, block_size: int, window: int = 4) -> None:
        self._raw = raw
        self._block_size = block_size
        self._window = window
        self._read = 0
        self._consumed = 0
        self._ready = threading.Condition()
        self.closed = False

    @classmethod
    @contextmanager
    def over(cls, source: Any, block_size: int) -> Iterator[_Throttled]:
        """Wrap a path (opened and closed here) or a readable stream."""
        raw = open(source, "rb") if isinstance(source, str) else source  # noqa: SIM115
        throttled = cls(raw, block_size)
        try:
            yield throttled
        finally:
            throttled.release()
            if isinstance(source, str):
                raw.close()

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes once the consumer is close enough behind."""
        with self._ready:
            self._ready.wait_for(self._may_read, timeout=self._WAIT_SECONDS)
        data = self._raw.read(size)
        if isinstance(data, pa.Buffer):
            data = data.to_pybytes()
        with self._ready:
            self._read += len(data)
        return bytes(data)

    def _may_read(self) -> bool:
        return self.closed or self._read < (self._consumed + self._window) * self._block_size

    def consumed(self) -> None:
        """Record that the consumer took one more block's batch."""
        with self._ready:
            self._consumed += 1
            self._ready.notify_all()

    def release(self) -> None:
        """Stop throttling (the consumer is done or gone)."""
        with self._ready:
            self.closed = True
            self._ready.notify_all()

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Never seekable: read-ahead order only."""
        return False

    def close(self) -> None:
        """Release waiting readers; the underlying stream is closed by its owner."""
        self.release()


def _csv_parse_options(options: dict[str, Any], context: _Context) -> pacsv.ParseOptions:
    quote = options.get("quote", '"')
    escape = options.get("escape")
    multiline = _as_bool(options.get("multiline", False))

    def on_invalid(row: Any) -> str:
        reason = f"expected {row.expected_columns} columns, found {row.actual_columns}: {row.text[:200]!r}"
        if context.on_bad_row is None:
            # An exception raised here would be swallowed by pyarrow: refuse the row instead.
            context.refused = BadRow(line=row.number, reason=reason)
            return "error"
        context.bad_row(row.number, reason)
        return "skip"

    return pacsv.ParseOptions(
        delimiter=options.get("delimiter") or ",",
        quote_char=quote if quote else False,
        escape_char=escape if escape else False,
        newlines_in_values=multiline,
        invalid_row_handler=on_invalid,
    )


def _csv_convert_options(options: dict[str, Any], *, check_utf8: bool) -> pacsv.ConvertOptions:
    null_value = options.get("null_value")
    if null_value is None:
        return pacsv.ConvertOptions(check_utf8=check_utf8)
    return pacsv.ConvertOptions(
        null_values=[null_value] if isinstance(null_value, str) else list(null_value),
        strings_can_be_null=True,
        check_utf8=check_utf8,
    )


def _drop_invalid_utf8(batch: pa.RecordBatch, context: _Context, *, first_line: int | None) -> pa.RecordBatch:
    """Report and drop the rows whose text is not valid UTF-8 (parsed with ``check_utf8=False``)."""
    try:
        batch.validate(full=True)
        return batch
    except pa.ArrowInvalid:
        pass
    keep = [True] * batch.num_rows
    for index, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        values = batch.column(index).cast(pa.binary()).to_pylist()
        for row, value in enumerate(values):
            if value is not None and keep[row] and not _is_utf8(value):
                keep[row] = False
                line = None if first_line is None else first_line + row
                context.bad_row(line, f"column {field.name!r} is not valid UTF-8 text")
    return batch.filter(pa.array(keep))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- JSON ------------------------------------------------------------------------------------


def _read_json(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    if _as_bool(context.options.get("multiline", False)):
        yield from _read_json_document(stream, context)
        return
    # Read chunk by chunk with read_json: pyarrow.dataset's JsonFileFormat deadlocks on 2 cores (FACTS.md).
    seen_content = False
    yielded = False
    for first_line, chunk in _line_chunks(stream, _JSON_CHUNK_BYTES):
        if not chunk.strip():
            continue
        seen_content = True
        table = _parse_json_chunk(chunk, first_line, context)
        for batch in table.to_batches(max_chunksize=context.batch_rows):
            yielded = True
            yield batch
    if not seen_content:
        raise _EmptyFile("Empty JSON file")
    if not yielded:
        yield pa.record_batch({})


def _line_chunks(stream: Any, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first line number, bytes)`` chunks of whole lines of about ``chunk_bytes``."""
    handle = open(stream, "rb") if isinstance(stream, str) else stream  # noqa: SIM115
    try:
        line = 1
        rest = b""
        while True:
            block = handle.read(chunk_bytes)
            if isinstance(block, pa.Buffer):
                block = block.to_pybytes()
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            chunk, rest = data[: cut + 1], data[cut + 1 :]
            yield line, chunk
            line += chunk.count(b"\n")
        if rest:
            yield line, rest
    finally:
        if isinstance(stream, str):
            handle.close()


def _parse_json_chunk(chunk: bytes, first_line: int, context: _Context) -> pa.Table:
    try:
        return _json_table(chunk)
    except pa.ArrowInvalid as exc:
        good, any_bad = _good_json_lines(chunk, first_line, context)
        if not any_bad:
            raise  # no malformed line: a type conflict between rows, reported as is
        if not good.strip():
            return pa.table({})
        try:
            return _json_table(good)
        except pa.ArrowInvalid:
            raise exc from None


def _json_table(data: bytes) -> pa.Table:
    return pajson.read_json(
        pa.BufferReader(data),
        # One block for the whole chunk: a row must never straddle two blocks, however long it is.
        read_options=pajson.ReadOptions(block_size=max(_JSON_BLOCK_SIZE, len(data) + 1), use_threads=False),
    )


def _good_json_lines(chunk: bytes, first_line: int, context: _Context) -> tuple[bytes, bool]:
    """Report every malformed line of ``chunk``; return the others and whether any was bad (slow path)."""
    good: list[bytes] = []
    any_bad = False
    for number, raw in enumerate(chunk.split(b"\n"), start=first_line):
        if not raw.strip():
            continue
        reason = _json_line_problem(raw)
        if reason is None:
            good.append(raw)
        else:
            any_bad = True
            context.bad_row(number, reason)
    return b"\n".join(good) + b"\n", any_bad


def _json_line_problem(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 text ({exc.reason} at byte {exc.start})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return f"not a JSON object (found {type(value).__name__})"
    return None


def _read_json_document(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    """A whole JSON document: an array of objects or one object (multi-line JSON; read whole)."""
    if isinstance(stream, str):
        with open(stream, "rb") as handle:
            data = handle.read()
    else:
        data = stream.read()
    if isinstance(data, pa.Buffer):
        data = data.to_pybytes()
    if not data.strip():
        raise _EmptyFile("Empty JSON file")
    document = json.loads(data.decode(context.options.get("encoding") or "utf-8"))
    rows = document if isinstance(document, list) else [document]
    objects = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            objects.append(row)
        else:
            context.bad_row(number, f"element {number} is not a JSON object (found {type(row).__name__})")
    if not objects and not rows:
        raise _EmptyFile("Empty JSON file")
    table = pa.Table.from_pylist(objects)
    yield from table.to_batches(max_chunksize=context.batch_rows) or [pa.record_batch({})]


# --- Parquet, ORC ----------------------------------------------------------------------------


def _reject_empty_stream(stream: Any) -> None:
    """Random-access sources: a zero-length stream is an empty file, not a corrupt one."""
    if isinstance(stream, pa.NativeFile):
        size = stream.size()
    elif hasattr(stream, "seek") and hasattr(stream, "tell"):
        position = stream.tell()
        size = stream.seek(0, os.SEEK_END) - position
        stream.seek(position)
    else:
        return
    if size == 0:
        raise _EmptyFile("the file is empty")


def _read_parquet(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    _reject_empty_stream(stream)
    parquet = pq.ParquetFile(stream)
    yield from _limited_batches(parquet.iter_batches(batch_size=context.batch_rows), parquet.schema_arrow, context)


def _read_orc(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    _reject_empty_stream(stream)
    orc = paorc.ORCFile(stream)
    stripes = (part for index in range(orc.nstripes) for part in _sliced(orc.read_stripe(index), context.batch_rows))
    yield from _limited_batches(stripes, orc.schema, context)


def _limited_batches(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, context: _Context
) -> Iterator[pa.RecordBatch]:
    read = 0
    yielded = False
    for batch in batches:
        yielded = True
        yield batch
        read += batch.nbytes
        if context.limit_bytes is not None and read >= context.limit_bytes:
            return
    if not yielded:
        yield _empty_batch(schema)


# --- Avro ------------------------------------------------------------------------------------


def _read_avro(stream: Any, context: _Context) -> Iterator[pa.RecordBatch]:
    from autoloader_formats.avro import avro_batches

    handle = open(stream, "rb") if isinstance(stream, str) else stream  # noqa: SIM115
    try:
        head = handle.read(4)
        if not head:
            raise _EmptyFile("the file is empty")
        source = io.BufferedReader(_Prefixed(bytes(head), handle))
        yield from _limited_batches_avro(avro_batches(source, context.batch_rows), context)
    finally:
        if isinstance(stream, str):
            handle.close()


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (to tell an empty file from a corrupt one)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the remembered head first, then from the stream."""
        view = memoryview(buffer)
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(view))
        data = data.to_pybytes() if isinstance(data, pa.Buffer) else data
        view[: len(data)] = data
        return len(data)


def _limited_batches_avro(batches: Iterator[pa.RecordBatch], context: _Context) -> Iterator[pa.RecordBatch]:
    read = 0
    for batch in batches:
        yield batch
        read += batch.nbytes
        if context.limit_bytes is not None and read >= context.limit_bytes:
            return


_READERS: dict[str, _BatchReader] = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "json": _read_json,
    "jsonl": _read_json,
    "parquet": _read_parquet,
    "avro": _read_avro,
    "orc": _read_orc,
}
SUPPORTED_FORMATS = tuple(_READERS)
"""Format type names ``read_table`` and ``iter_batches`` accept."""

_TEXT_OPTIONS = frozenset({"encoding", "multiline", "compression"})
FORMAT_OPTIONS: dict[str, frozenset[str]] = {
    "csv": _TEXT_OPTIONS | {"header", "delimiter", "quote", "escape", "null_value"},
    "tsv": _TEXT_OPTIONS | {"header", "delimiter", "quote", "escape", "null_value"},
    "json": _TEXT_OPTIONS,
    "jsonl": _TEXT_OPTIONS,
    "parquet": frozenset({"compression"}),
    "avro": frozenset({"compression"}),
    "orc": frozenset({"compression"}),
}
"""The ``format.options`` each reader understands (any other name is a typo the API refuses)."""
