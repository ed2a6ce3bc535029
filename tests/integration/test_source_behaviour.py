"""One behaviour suite, parametrised over every connector, each against its real server."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from autoloader_sources.base import (
    ListedFile,
    Source,
    SourceAuthError,
    SourceNotFound,
    check_connection,
)
from autoloader_sources.registry import SOURCE_TYPES, open_source
from tests.source_envs.base import SourcePlace

pytestmark = pytest.mark.integration


@pytest.fixture(params=SOURCE_TYPES)
def place(request: pytest.FixtureRequest) -> SourcePlace:
    """A fresh folder in each kind of store."""
    found: SourcePlace = request.getfixturevalue(f"{request.param}_place")
    return found


WITH_CREDENTIALS = [t for t in SOURCE_TYPES if t != "local"]


@pytest.fixture(params=WITH_CREDENTIALS)
def secured_place(request: pytest.FixtureRequest) -> SourcePlace:
    """A fresh folder in each kind of store that checks credentials."""
    found: SourcePlace = request.getfixturevalue(f"{request.param}_place")
    return found


def connect(place: SourcePlace, *, credentials: Any = "valid", **spec_args: Any) -> Source:
    creds = place.credentials if credentials == "valid" else credentials
    return open_source(place.spec(**spec_args), credentials=creds,
                       allowed_roots=getattr(place, "allowed_roots", ()))


async def listing(source: Source, **kwargs: Any) -> list[ListedFile]:
    async with source:
        return [f async for f in source.list_files(**kwargs)]


async def test_listing_pages_through_everything_in_order(place: SourcePlace) -> None:
    names = [f"part-{i:02d}.csv" for i in range(7)]
    for name in reversed(names):
        await place.put(name, b"id\n1\n")
    files = await listing(connect(place, options={"page_size": 2}))
    assert [f.path for f in files] == names
    assert all(f.size == 5 for f in files)


async def test_glob_include_exclude_and_nested_folders(place: SourcePlace) -> None:
    for path in ["a.csv", "b.json", "2024/01/c.csv", "2024/02/d.csv", "2024/02/tmp/e.csv", "other/f.csv"]:
        await place.put(path, b"x")
    everything = await listing(connect(place, pattern="**/*.csv", exclude="**/tmp/**"))
    assert [f.path for f in everything] == ["2024/01/c.csv", "2024/02/d.csv", "a.csv", "other/f.csv"]
    top = await listing(connect(place, pattern="*.csv"))
    assert [f.path for f in top] == ["a.csv"]
    pruned = await listing(connect(place, pattern="2024/*/*.csv"))
    assert [f.path for f in pruned] == ["2024/01/c.csv", "2024/02/d.csv"]


async def test_unicode_and_spaces_in_names(place: SourcePlace) -> None:
    await place.put("März daten/ümlaut file €.csv", b"id\n1\n")
    [listed] = await listing(connect(place))
    assert listed.path == "März daten/ümlaut file €.csv"
    async with connect(place) as source:
        assert b"".join([c async for c in source.read(listed.path)]) == b"id\n1\n"


async def test_streams_a_multi_mib_file_with_its_checksum_and_ranges(place: SourcePlace) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    await place.put("big/blob.bin", data)
    async with connect(place) as source:
        digest = hashlib.sha256()
        chunks = 0
        async for chunk in source.read("big/blob.bin"):
            digest.update(chunk)
            chunks += 1
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert chunks > 1, "the file must be streamed, not read in one piece"
        middle = b"".join([c async for c in source.read("big/blob.bin", start=1000, end=3000)])
        assert middle == data[1000:3000]
        stat = await source.stat("big/blob.bin")
        assert stat.size == len(data)


async def test_missing_path_is_a_clear_terminal_error(place: SourcePlace) -> None:
    source = open_source(place.missing_spec(), credentials=place.credentials,
                         allowed_roots=getattr(place, "allowed_roots", ()))
    with pytest.raises(SourceNotFound) as raised:
        await listing(source)
    assert raised.value.message
    async with connect(place) as present:
        with pytest.raises(SourceNotFound):
            await present.stat("no/such/file.csv")


async def test_wrong_credentials_are_a_clear_terminal_error(secured_place: SourcePlace) -> None:
    await secured_place.put("a.csv", b"x")
    with pytest.raises(SourceAuthError) as raised:
        await listing(connect(secured_place, credentials=secured_place.bad_credentials))
    for secret in (secured_place.bad_credentials or {}).values():
        if len(secret) >= 6:
            assert secret not in raised.value.message


async def test_a_rewritten_file_changes_identity(place: SourcePlace) -> None:
    await place.put("data.csv", b"id\n1\n")
    [before] = await listing(connect(place))
    await place.put("data.csv", b"id\n1\n2\n")
    [after] = await listing(connect(place))
    identity = (before.etag or f"{before.size}:{before.modified_at}", after.etag or f"{after.size}:{after.modified_at}")
    assert identity[0] != identity[1]


async def test_start_after_skips_what_was_seen(place: SourcePlace) -> None:
    for name in ["a.csv", "b.csv", "c.csv", "d.csv"]:
        await place.put(name, b"x")
    files = await listing(connect(place, options={"page_size": 2}), start_after="b.csv")
    assert [f.path for f in files] == ["c.csv", "d.csv"]


async def test_connection_check_reports_count_and_size(place: SourcePlace) -> None:
    for n in range(3):
        await place.put(f"f{n}.csv", b"12345")
    report = await check_connection(connect(place))
    assert (report.reachable, report.authorised, report.file_count, report.total_bytes) == (True, True, 3, 15)
    capped = await check_connection(connect(place), cap=2)
    assert capped.capped
    assert capped.file_count == 2
    missing = await check_connection(open_source(place.missing_spec(), credentials=place.credentials,
                                                 allowed_roots=getattr(place, "allowed_roots", ())))
    assert missing.file_count == 0
    assert missing.message


async def test_pages_hold_the_listing_in_order_and_resume_after_a_path(place: SourcePlace) -> None:
    names = [f"p-{i:02d}.csv" for i in range(5)]
    for name in reversed(names):
        await place.put(name, b"x")
    async with connect(place, options={"page_size": 2}) as source:
        pages = [page async for page in source.list_pages(size=2)]
        assert all(pages), "no page is empty"
        assert [f.path for page in pages for f in page] == names
        resumed = [f.path async for page in source.list_pages(start_after="p-01.csv", size=2) for f in page]
        assert resumed == names[2:]
