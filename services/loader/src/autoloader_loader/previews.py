"""Request/reply: a sample of files read as the next run would write them (nothing is written).

The API asks discovery which files the next run takes, then asks here for the first few of them.
Reading is bounded: at most ``sample_bytes`` over all files. Text files (CSV, TSV, JSON lines,
uncompressed) are read up to the budget, cut at the last whole line; other files are read whole
when they fit (one up to :data:`WHOLE_FILE_CAP` even past the budget, so a large Parquet file can
still be previewed). Remote files are copied to a scratch folder and deleted afterwards; local
files are read in place, inside the allowed roots.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from autoloader_contracts.events import BatchPlanned, FileRef
from autoloader_contracts.rpc import MalformedRecord, PreviewSampleReply, PreviewSampleRequest
from autoloader_core.clock import Clock
from autoloader_core.errors import TerminalError
from autoloader_formats import compression_of
from autoloader_loader.engine import LoaderEngine
from autoloader_loader.sampling import SampleFile
from autoloader_sources.base import Source, SourceNotFound
from autoloader_sources.local import LocalSource
from autoloader_sources.registry import open_source

WHOLE_FILE_CAP = 64 * 1024 * 1024
"""A non-text file is read whole only up to this size."""
TEXT_FORMATS = frozenset({"csv", "tsv", "json"})
MAX_SAMPLE_ROWS = 100

CredentialsFor = Callable[[str, str | None], Awaitable[Mapping[str, str] | None]]
OpenSealed = Callable[[str, str], Mapping[str, str]]


@dataclass
class _Budget:
    remaining: int
    sampled_any: bool = False
    warnings: list[str] = field(default_factory=list)
    vanished: list[MalformedRecord] = field(default_factory=list)


class Previews:
    """Answers :data:`autoloader_contracts.rpc.PREVIEW_SAMPLE`."""

    def __init__(
        self,
        *,
        engine: LoaderEngine,
        credentials: CredentialsFor,
        open_sealed: OpenSealed,
        scratch_root: Path,
        allowed_roots: Sequence[Path],
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._credentials = credentials
        self._open_sealed = open_sealed
        self._scratch_root = scratch_root
        self._roots = tuple(allowed_roots)
        self._clock = clock

    async def preview_sample(self, request: PreviewSampleRequest) -> PreviewSampleReply:
        """Read the request's files as their run would write them.

        Raises:
            TerminalError: The credentials are refused, or the sealed ones cannot be opened.
            TransientError: The source or the catalog is unavailable.
        """
        planned = _planned(request, now=self._clock)
        credentials = await self._credentials_of(request)
        budget = _Budget(remaining=max(0, request.sample_bytes))
        async with self._sampled(planned, credentials, budget) as files:
            reply = await self._engine.preview(
                planned, files, sample_rows=min(max(1, request.sample_rows), MAX_SAMPLE_ROWS), now=self._clock.now()
            )
        return msgspec.structs.replace(
            reply,
            warnings=[*budget.warnings, *reply.warnings],
            malformed=[*budget.vanished, *reply.malformed],
            malformed_count=reply.malformed_count + len(budget.vanished),
        )

    async def _credentials_of(self, request: PreviewSampleRequest) -> Mapping[str, str] | None:
        if request.sealed_credentials is not None:
            return self._open_sealed(request.tenant_id, request.sealed_credentials)
        return await self._credentials(request.tenant_id, request.config.source.credential_ref)

    @contextlib.asynccontextmanager
    async def _sampled(
        self, planned: BatchPlanned, credentials: Mapping[str, str] | None, budget: _Budget
    ) -> AsyncIterator[dict[str, SampleFile]]:
        if planned.source.type == "local":
            yield self._local(planned, budget)
            return
        self._scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="preview-", dir=self._scratch_root))
        try:
            async with open_source(planned.source, credentials=credentials, allowed_roots=self._roots) as source:
                yield await _download(source, planned, scratch, budget)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _local(self, planned: BatchPlanned, budget: _Budget) -> dict[str, SampleFile]:
        try:
            folder = LocalSource(planned.source.path, allowed_roots=self._roots)
        except TerminalError as exc:
            budget.warnings.append(exc.message)
            return {}
        files: dict[str, SampleFile] = {}
        for ref in planned.files:
            take = _take(planned, ref, budget)
            if take is None:
                continue
            try:
                path = folder.resolve(ref.path)
            except TerminalError as exc:
                budget.vanished.append(MalformedRecord(file=ref.path, message=exc.message))
                continue
            files[ref.path] = SampleFile(
                path=path, limit_bytes=None if take >= ref.size else take, complete=take >= ref.size
            )
        return files


async def _download(source: Source, planned: BatchPlanned, scratch: Path, budget: _Budget) -> dict[str, SampleFile]:
    files: dict[str, SampleFile] = {}
    for number, ref in enumerate(planned.files):
        take = _take(planned, ref, budget)
        if take is None:
            continue
        target = scratch / str(number) / Path(ref.path).name  # the name keeps the extension (compression)
        target.parent.mkdir()
        try:
            with target.open("wb") as out:
                async for chunk in source.read(ref.path, start=0, end=take):
                    out.write(chunk)
        except SourceNotFound as exc:
            budget.vanished.append(MalformedRecord(file=ref.path, message=exc.message))
            continue
        whole = take >= ref.size
        # A prefix: read one byte less than copied, so the reader cuts at the last whole line.
        files[ref.path] = SampleFile(path=target, limit_bytes=None if whole else max(0, take - 1), complete=whole)
    return files


def _take(planned: BatchPlanned, ref: FileRef, budget: _Budget) -> int | None:
    """How many bytes of ``ref`` to read (None: skip it), charged to ``budget``."""
    if budget.remaining <= 0:
        return None
    if _is_text(planned, ref):
        take = min(ref.size, budget.remaining)
    elif ref.size <= budget.remaining or (not budget.sampled_any and ref.size <= WHOLE_FILE_CAP):
        take = ref.size
    else:
        budget.warnings.append(
            f"{ref.path} ({ref.size} bytes) is too large to sample; the estimate of its rows uses the other files"
        )
        return None
    budget.remaining -= take
    budget.sampled_any = True
    return take


def _is_text(planned: BatchPlanned, ref: FileRef) -> bool:
    fmt = planned.format
    if fmt.type not in TEXT_FORMATS or (fmt.type == "json" and fmt.options.get("multiline")):
        return False
    return compression_of(ref.path, fmt.options.get("compression", "auto")) is None


def _planned(request: PreviewSampleRequest, *, now: Clock) -> BatchPlanned:
    """The batch a run would plan for these files (ids say "preview"; nothing refers to them)."""
    config = request.config
    return BatchPlanned(
        event_id="evt_preview",
        occurred_at=now.now(),
        tenant_id=request.tenant_id,
        aggregate_id="bat_preview",
        actor="service:loader",
        correlation_id="preview",
        ingestion_id="preview",
        run_id="preview",
        batch_number=1,
        files=request.files,
        source=config.source,
        format=config.format,
        destination=config.destination,
        errors=config.errors,
        accepted_columns=request.accepted_columns,
        ignored_columns=request.ignored_columns,
        cluster_id=config.cluster_id,
        read_files="connector",
    )
