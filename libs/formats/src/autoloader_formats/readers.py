"""Read one source file (CSV, TSV, JSON lines / multi-line JSON, Parquet) into an Arrow table.

Every failure caused by the file itself (empty, corrupt, wrong format, bad encoding) is a
:class:`TerminalError` whose message starts with the file's path: a bad file must fail its batch,
never crash the loader. Network-looking failures of a caller's stream are :class:`TransientError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from autoloader_contracts.ingestion import FormatSpec
from autoloader_core.errors import TerminalError, TransientError

Source = BinaryIO | str | os.PathLike[str]
Reader = Callable[[Any, dict[str, Any]], pa.Table]

_EXTENSION_CODECS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
_CODEC_NAMES = {"gzip": "gzip", "gz": "gzip", "bz2": "bz2", "bzip2": "bz2", "zstd": "zstd", "zst": "zstd"}
# pyarrow's JSON reader needs a whole row inside one block; 1 MiB (its default) is too small for wide rows.
_JSON_BLOCK_SIZE = 16 * 1024 * 1024


def compression_of(path: str, option: str | None = "auto") -> str | None:
    """Return the pyarrow codec for ``path`` (``None`` = uncompressed).

    Args:
        path: File name; with ``auto`` its extension (``.gz``, ``.bz2``, ``.zst``) decides.
        option: ``auto`` (default), ``none``, or a codec name (``gzip``, ``bz2``, ``zstd``).

    Raises:
        TerminalError: ``option`` names no supported codec.
    """
    choice = (option or "auto").lower()
    if choice == "auto":
        return _EXTENSION_CODECS.get(os.path.splitext(path)[1].lower())
    if choice in {"none", "uncompressed"}:
        return None
    if choice not in _CODEC_NAMES:
        raise TerminalError(
            f"{path}: compression {option!r} is not supported; use auto, none, gzip, bz2 or zstd"
        )
    return _CODEC_NAMES[choice]


def read_table(source: Source, fmt: FormatSpec, *, path_for_errors: str) -> pa.Table:
    """Read one file into a ``pyarrow.Table``.

    Args:
        source: An open binary file object or a local path.
        fmt: The ingestion's format (``csv``, ``tsv``, ``json``, ``parquet``) and its options.
        path_for_errors: The path to name in error messages (and whose extension tells compression).

    Raises:
        TerminalError: The file is missing, empty, corrupt or not in the declared format; the
            message starts with ``path_for_errors``.
        TransientError: Reading the caller's stream failed in a way a retry may fix (connection lost).
    """
    reader = _READERS.get(fmt.type.lower())
    if reader is None:
        supported = ", ".join(SUPPORTED_FORMATS)
        raise TerminalError(f"{path_for_errors}: format {fmt.type!r} is not supported; use {supported}")
    options = dict(fmt.options)
    if fmt.type.lower() == "tsv":
        options.setdefault("delimiter", "\t")
    codec = compression_of(path_for_errors, options.get("compression", "auto"))
    _reject_empty_path(source, path_for_errors, fmt.type)
    try:
        with _opened(source, codec=codec, random_access=fmt.type.lower() == "parquet") as stream:
            table = reader(stream, options)
    except TerminalError:
        raise
    except (ConnectionError, TimeoutError) as exc:
        raise TransientError(f"{path_for_errors}: reading was interrupted ({exc}); retrying") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise TerminalError(f"{path_for_errors}: cannot read the file ({exc.strerror or exc})") from exc
    except (pa.ArrowException, ValueError, OSError, EOFError, TypeError) as exc:
        # UnicodeDecodeError is a ValueError; decompression errors surface as plain OSError.
        raise TerminalError(f"{path_for_errors}: {_describe(exc, fmt.type)}") from exc
    if table.num_columns == 0:
        # A blank JSON file parses to a table without columns: there is nothing to load.
        raise TerminalError(f"{path_for_errors}: cannot read as {fmt.type}: the file is empty")
    return table


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
    if text.startswith(("Empty CSV file", "Empty JSON file")) or "file size is 0 bytes" in text:
        text = "the file is empty; remove it or write data into it"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"the file is not valid {exc.encoding} text ({exc.reason}); set format option 'encoding'"
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
        # Parquet needs random access, which a decompressing stream cannot give.
        yield pa.BufferReader(stream.read_buffer()) if random_access else stream


def _seekable(source: BinaryIO) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError):
        return False


def _read_csv(stream: Any, options: dict[str, Any]) -> pa.Table:
    header = _as_bool(options.get("header", True))
    quote = options.get("quote", '"')
    escape = options.get("escape")
    null_value = options.get("null_value")
    convert = pacsv.ConvertOptions()
    if null_value is not None:
        convert = pacsv.ConvertOptions(
            null_values=[null_value] if isinstance(null_value, str) else list(null_value),
            strings_can_be_null=True,
        )
    return pacsv.read_csv(
        stream,
        read_options=pacsv.ReadOptions(
            autogenerate_column_names=not header, encoding=options.get("encoding") or "utf8"
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=options.get("delimiter") or ",",
            quote_char=quote if quote else False,
            escape_char=escape if escape else False,
            newlines_in_values=_as_bool(options.get("multiline", False)),
        ),
        convert_options=convert,
    )


def _read_json(stream: Any, options: dict[str, Any]) -> pa.Table:
    if _as_bool(options.get("multiline", False)):
        return _read_json_document(stream, options)
    # Read file by file with read_json: pyarrow.dataset's JsonFileFormat deadlocks on 2 cores (FACTS.md).
    return pajson.read_json(stream, read_options=pajson.ReadOptions(block_size=_JSON_BLOCK_SIZE))


def _read_json_document(stream: Any, options: dict[str, Any]) -> pa.Table:
    """A whole JSON document: an array of objects or one object (multi-line JSON)."""
    if isinstance(stream, str):
        with open(stream, "rb") as handle:
            data = handle.read()
    else:
        data = stream.read()
    if isinstance(data, pa.Buffer):
        data = data.to_pybytes()
    document = json.loads(data.decode(options.get("encoding") or "utf-8"))
    rows = document if isinstance(document, list) else [document]
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError("a multi-line JSON file must hold an object or an array of objects")
    if not rows:
        raise ValueError("Empty JSON file")
    return pa.Table.from_pylist(rows)


def _read_parquet(stream: Any, options: dict[str, Any]) -> pa.Table:
    return pq.read_table(stream)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


_READERS: dict[str, Reader] = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "json": _read_json,
    "jsonl": _read_json,
    "parquet": _read_parquet,
}
SUPPORTED_FORMATS = tuple(_READERS)
"""Format type names ``read_table`` accepts."""
