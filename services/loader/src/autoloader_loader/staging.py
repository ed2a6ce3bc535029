"""Bring a batch's remote files to local disk, streaming, before the engine reads them.

PyArrow readers want seekable local files (Parquet footers, compressed streams); copying each
object to a temporary file in chunks keeps memory constant whatever the file size, and the copy
is deleted as soon as the batch is committed or failed. Local sources are read in place.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from autoloader_contracts.events import BatchPlanned
from autoloader_core.errors import TerminalError, TransientError
from autoloader_loader.engine import FileLoadError, LoadError
from autoloader_sources.base import SourceAuthError, SourceNotFound
from autoloader_sources.registry import open_source

log = logging.getLogger(__name__)

CredentialsFor = Callable[[str, str | None], Awaitable[Mapping[str, str] | None]]
"""(tenant id, credential ref) -> decrypted credentials, None for ambient identity."""


class Stager:
    """Downloads remote batch files into a scratch folder under the data dir."""

    def __init__(self, *, scratch_root: Path, credentials: CredentialsFor, allowed_roots: Sequence[Path]) -> None:
        self._scratch_root = scratch_root
        self._credentials = credentials
        self._roots = tuple(allowed_roots)

    @contextlib.asynccontextmanager
    async def stage(self, planned: BatchPlanned) -> AsyncIterator[dict[str, Path]]:
        """Yield relative path -> local copy for every file of ``planned``; delete the copies after.

        Raises:
            FileLoadError: A file vanished from the source.
            LoadError: The source refused the credentials (terminal).
            TransientError: The source is unreachable; retry later.
        """
        self._scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{planned.aggregate_id}-", dir=self._scratch_root))
        try:
            yield await self._download_all(planned, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _download_all(self, planned: BatchPlanned, scratch: Path) -> dict[str, Path]:
        credentials = await self._credentials(planned.tenant_id, planned.source.credential_ref)
        staged: dict[str, Path] = {}
        try:
            async with open_source(planned.source, credentials=credentials, allowed_roots=self._roots) as source:
                for number, ref in enumerate(planned.files):
                    # Keep the file name: its extension tells the reader the compression.
                    target = scratch / str(number) / Path(ref.path).name
                    target.parent.mkdir()
                    with target.open("wb") as out:
                        async for chunk in source.read(ref.path):
                            out.write(chunk)
                    staged[ref.path] = target
        except SourceNotFound as exc:
            raise FileLoadError(exc.message, file=_current(planned, staged)) from exc
        except SourceAuthError as exc:
            raise LoadError(exc.message) from exc
        except (TerminalError, TransientError):
            raise
        except OSError as exc:
            raise TransientError(f"could not stage files locally: {exc}") from exc
        log.info("batch staged", extra={"batch_id": planned.aggregate_id, "files": len(staged)})
        return staged


def _current(planned: BatchPlanned, staged: Mapping[str, Path]) -> str | None:
    """The file being downloaded when an error struck (the first one not staged yet)."""
    return next((ref.path for ref in planned.files if ref.path not in staged), None)
