"""FTP/SFTP source URLs and relative paths: parsed strictly, never allowed out of the folder."""

from __future__ import annotations

import pytest

from autoloader_core.errors import TerminalError
from autoloader_sources.remote import PathOutsideSource, RemoteLocation, check_relative, parse_location

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("url", "expected"), [
    ("ftp://files.example.com/in/", RemoteLocation("files.example.com", 21, "/in")),
    ("ftp://127.0.0.1:2121/a/b", RemoteLocation("127.0.0.1", 2121, "/a/b")),
    ("ftp://host", RemoteLocation("host", 21, "/")),
    ("ftp://host/M%C3%A4rz%20daten/", RemoteLocation("host", 21, "/März daten")),
])
def test_locations_parse_host_port_and_folder(url: str, expected: RemoteLocation) -> None:
    assert parse_location(url, scheme="ftp", default_port=21) == expected


@pytest.mark.parametrize("url", ["sftp://host/in/", "/local/dir", "ftp:///no-host/", "ftp://host/a/../b",
                                 "ftp://host:99999/in/", "ftp://host/a%0d%0aDELE%20x"])
def test_malformed_or_escaping_locations_are_terminal(url: str) -> None:
    with pytest.raises(TerminalError):
        parse_location(url, scheme="ftp", default_port=21)


def test_join_keeps_paths_under_the_root() -> None:
    assert RemoteLocation("h", 21, "/in").join("a/b.csv") == "/in/a/b.csv"
    assert RemoteLocation("h", 21, "/").join("b.csv") == "/b.csv"


@pytest.mark.parametrize("path", ["", "/abs.csv", "../x.csv", "a/../../x.csv", "a/..", "a\nb", "a\rb"])
def test_relative_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(PathOutsideSource):
        check_relative(path)


@pytest.mark.parametrize("path", ["a.csv", "März daten/ümlaut file €.csv", "a/..b/c..csv", "x/ y .csv"])
def test_plain_relative_paths_pass(path: str) -> None:
    assert check_relative(path) == path
