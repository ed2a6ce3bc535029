"""A real FTP server (pyftpdlib, one thread per connection) and the ``ftp_place`` fixture.

:class:`FtpServer` serves a temp home folder on 127.0.0.1 from its own thread, so it keeps
answering while a test's event loop is idle and while the e2e stack's processes connect.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

with warnings.catch_warnings():
    # pyftpdlib imports asyncore/asynchat, deprecated on Python 3.11 (pyftpdlib vendors them on 3.12+).
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec
from tests.source_envs.remote_files import write_file

USER = "loader"
PASSWORD = "ftp-secret-pw"


class FtpServer:
    """A pyftpdlib server on 127.0.0.1 with one user whose home is ``home``.

    Args:
        home: The user's home folder (the server's ``/``).
        user: Login name.
        password: Login password.
        tls: Require explicit FTPS (AUTH TLS) on control and data connections.
    """

    def __init__(self, home: Path, *, user: str = USER, password: str = PASSWORD, tls: bool = False) -> None:
        self.home = home
        self.user = user
        self.password = password
        self.tls = tls
        self.ca_cert = ""
        """PEM of the (self-signed) server certificate when ``tls``: the ``ca_cert`` option to trust it."""
        self.host = "127.0.0.1"
        self.port = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: ThreadedFTPServer | None = None

    @property
    def url(self) -> str:
        """``ftp://127.0.0.1:port``, without a trailing slash."""
        return f"ftp://{self.host}:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        """Valid source credentials."""
        return {"username": self.user, "password": self.password}

    def start(self) -> FtpServer:
        """Bind a free port and serve from a background thread."""
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.home), perm="elradfmwMT")
        attributes: dict[str, object] = {
            "authorizer": authorizer,
            "auth_failed_timeout": 0.05,  # pyftpdlib waits 3 s after a bad password by default
            "banner": "autoloader test FTP server",
        }
        base: type[FTPHandler] = FTPHandler
        if self.tls:
            base = TLS_FTPHandler
            attributes.update(certfile=str(self._write_certificate()), tls_control_required=True,
                              tls_data_required=True)
        handler = type("TestFtpHandler", (base,), attributes)
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        self.port = free_port()
        self._server = ThreadedFTPServer((self.host, self.port), handler)
        self._thread = threading.Thread(target=self._serve, name=f"ftp-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _write_certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1, written beside the home folder (key + cert PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autoloader test FTPS")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(self.host))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.ca_cert = certificate.public_bytes(serialization.Encoding.PEM).decode()
        path = self.home.parent / f"{self.home.name}-ftps.pem"
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path.write_bytes(key_pem + self.ca_cert.encode())
        return path

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        try:
            while not self._stopping.is_set():
                server.serve_forever(timeout=0.1, blocking=False, handle_exit=False)
        finally:
            server.close_all()  # from the serving thread: pyftpdlib's loop is not thread-safe

    def stop(self) -> None:
        """Stop serving and wait for the thread (closing every connection)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def __enter__(self) -> FtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FtpPlace:
    """A fresh folder in the FTP user's home (FTPS when the server requires TLS)."""

    source_type = "ftp"

    def __init__(self, server: FtpServer) -> None:
        self.server = server
        self.name = f"place-{uuid.uuid4().hex[:10]}"
        self.folder = server.home / self.name
        self.folder.mkdir()
        self.credentials: dict[str, str] | None = server.credentials
        self.bad_credentials: dict[str, str] | None = {"username": server.user, "password": "wrong-password"}

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return SourceSpec(type="ftp", path=f"{self.server.url}/{self.name}/", file_pattern=pattern,
                          exclude_pattern=exclude, options={**self.tls_options, **(options or {})})

    @property
    def tls_options(self) -> dict[str, object]:
        """``tls`` and ``ca_cert`` options when the server requires FTPS."""
        return {"tls": True, "ca_cert": self.server.ca_cert} if self.server.tls else {}

    def missing_spec(self) -> SourceSpec:
        return SourceSpec(type="ftp", path=f"{self.server.url}/missing-{uuid.uuid4().hex[:8]}/",
                          options=self.tls_options)

    async def put(self, relative: str, data: bytes) -> None:
        write_file(self.folder / relative, data)


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpServer]:
    """An FTP server shared by the session."""
    with FtpServer(tmp_path_factory.mktemp("ftp-home")) as server:
        yield server


@pytest.fixture
def ftp_place(ftp_server: FtpServer) -> FtpPlace:
    """A fresh, empty folder on the session's FTP server."""
    return FtpPlace(ftp_server)


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpServer]:
    """An FTP server requiring explicit TLS, with a self-signed certificate for 127.0.0.1."""
    with FtpServer(tmp_path_factory.mktemp("ftps-home"), tls=True) as server:
        yield server


@pytest.fixture
def ftps_place(ftps_server: FtpServer) -> FtpPlace:
    """A fresh, empty folder on the session's FTPS server (its specs carry tls and ca_cert)."""
    return FtpPlace(ftps_server)
