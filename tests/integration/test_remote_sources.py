"""FTP and SFTP specifics beyond the shared behaviour suite: walk order, containment, host keys, key auth."""

from __future__ import annotations

from typing import Any

import asyncssh
import pytest

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec
from autoloader_core.errors import TerminalError
from autoloader_sources.base import Source, SourceAuthError, SourceUnavailable
from autoloader_sources.registry import open_source
from tests.source_envs.ftp import FtpPlace
from tests.source_envs.sftp import SftpPlace

pytestmark = pytest.mark.integration

RemotePlace = FtpPlace | SftpPlace


@pytest.fixture(params=["ftp", "sftp"])
def remote_place(request: pytest.FixtureRequest) -> RemotePlace:
    """A fresh folder on the FTP or the SFTP test server."""
    found: RemotePlace = request.getfixturevalue(f"{request.param}_place")
    return found


def connect(place: RemotePlace, *, credentials: Any = "valid", **spec_args: Any) -> Source:
    creds = place.credentials if credentials == "valid" else credentials
    return open_source(place.spec(**spec_args), credentials=creds)


def a_host_key() -> str:
    """A fresh public host key no server has."""
    return " ".join(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2])


async def listing(source: Source, **kwargs: Any) -> list[str]:
    async with source:
        return [f.path async for f in source.list_files(**kwargs)]


async def test_paths_come_out_in_lexical_order_across_folders(remote_place: RemotePlace) -> None:
    names = ["a-b.csv", "a.csv", "a/x.csv", "a/y/z.csv", "b.csv"]
    for name in reversed(names):
        await remote_place.put(name, b"x")
    assert await listing(connect(remote_place)) == sorted(names) == names


async def test_start_after_inside_and_past_folders(remote_place: RemotePlace) -> None:
    for name in ["a.csv", "a/x.csv", "a/y.csv", "b/z.csv", "c.csv"]:
        await remote_place.put(name, b"x")
    assert await listing(connect(remote_place), start_after="a/x.csv") == ["a/y.csv", "b/z.csv", "c.csv"]
    assert await listing(connect(remote_place), start_after="a0") == ["b/z.csv", "c.csv"]
    assert await listing(connect(remote_place), start_after="c.csv") == []


async def test_missing_prefix_folder_lists_nothing(remote_place: RemotePlace) -> None:
    await remote_place.put("a.csv", b"x")
    assert await listing(connect(remote_place, pattern="2030/*/*.csv")) == []


async def test_paths_may_not_escape_the_folder(remote_place: RemotePlace) -> None:
    await remote_place.put("a.csv", b"x")
    async with connect(remote_place) as source:
        for bad in ["../a.csv", "/etc/passwd", "x/../../a.csv", "a.csv\r\nDELE a.csv"]:
            with pytest.raises(TerminalError, match="outside the source folder"):
                await source.stat(bad)
            with pytest.raises(TerminalError, match="outside the source folder"):
                [c async for c in source.read(bad)]
    spec = remote_place.spec()
    with pytest.raises(TerminalError, match=r"\.\."):
        open_source(SourceSpec(type=spec.type, path=spec.path + "../other/", options=spec.options))


async def test_reads_interleave_with_a_listing_and_ranges_clip_at_the_end(remote_place: RemotePlace) -> None:
    for name, data in [("a.csv", b"0123456789"), ("b.csv", b"abcdef")]:
        await remote_place.put(name, data)
    seen: dict[str, bytes] = {}
    async with connect(remote_place) as source:
        async for listed in source.list_files():
            assert (await source.stat(listed.path)).size == listed.size
            seen[listed.path] = b"".join([c async for c in source.read(listed.path, start=2, end=100)])
        assert b"".join([c async for c in source.read("a.csv", start=3, end=3)]) == b""
        assert b"".join([c async for c in source.read("a.csv", start=4)]) == b"456789"
    assert seen == {"a.csv": b"23456789", "b.csv": b"cdef"}


async def test_an_abandoned_read_leaves_the_connection_usable(remote_place: RemotePlace) -> None:
    await remote_place.put("big.bin", b"x" * (3 * 1024 * 1024))
    async with connect(remote_place) as source:
        stream = source.read("big.bin")
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        assert [f.path for f in [await source.stat("big.bin")]] == ["big.bin"]


@pytest.mark.parametrize("source_type", ["ftp", "sftp"])
async def test_an_unreachable_server_is_transient(source_type: str) -> None:
    spec = SourceSpec(type=source_type, path=f"{source_type}://127.0.0.1:{free_port()}/data/",
                      options={"host_key": a_host_key()})
    with pytest.raises(SourceUnavailable, match="could not be reached"):
        await listing(open_source(spec, credentials={"username": "u", "password": "p"}))


async def test_sftp_logs_in_with_a_private_key(sftp_place: SftpPlace) -> None:
    await sftp_place.put("a.csv", b"x")
    assert await listing(connect(sftp_place, credentials=sftp_place.server.key_credentials)) == ["a.csv"]


async def test_sftp_refuses_to_connect_without_a_pinned_host_key(sftp_place: SftpPlace) -> None:
    spec = sftp_place.spec()
    unpinned = SourceSpec(type="sftp", path=spec.path, options={})
    with pytest.raises(TerminalError, match=r"options\.host_key is required"):
        open_source(unpinned, credentials=sftp_place.credentials)


async def test_sftp_rejects_a_server_with_another_host_key(sftp_place: SftpPlace) -> None:
    with pytest.raises(SourceAuthError, match="host key"):
        await listing(connect(sftp_place, options={"host_key": a_host_key()}))


async def test_ftp_without_credentials_tries_anonymous(ftp_place: FtpPlace) -> None:
    with pytest.raises(SourceAuthError, match="refused the login"):
        await listing(connect(ftp_place, credentials=None))


async def test_ftps_lists_and_reads_over_explicit_tls(ftps_place: FtpPlace) -> None:
    await ftps_place.put("sub/a.csv", b"0123456789")
    assert await listing(connect(ftps_place)) == ["sub/a.csv"]
    async with connect(ftps_place) as source:
        assert b"".join([c async for c in source.read("sub/a.csv", start=2, end=5)]) == b"234"
        assert (await source.stat("sub/a.csv")).size == 10


async def test_ftps_refuses_an_untrusted_certificate(ftps_place: FtpPlace) -> None:
    with pytest.raises(TerminalError, match="TLS") as raised:
        await listing(connect(ftps_place, options={"ca_cert": ""}))
    assert "ca_cert" in raised.value.message


async def test_plain_ftp_to_a_server_requiring_tls_names_the_cause(ftps_place: FtpPlace) -> None:
    with pytest.raises(TerminalError, match="TLS"):
        await listing(connect(ftps_place, options={"tls": False}))
