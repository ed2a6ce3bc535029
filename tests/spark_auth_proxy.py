"""An authenticating TLS gRPC proxy in front of the local Spark Connect server (fixture ``spark_auth_proxy``).

The local Spark Connect server has no authentication, so refused tokens cannot be tested against
it directly. This proxy listens with TLS on 127.0.0.1, requires ``authorization: Bearer <token>``
on every call (UNAUTHENTICATED otherwise) and forwards every ``spark.connect.SparkConnectService``
method, unary or streaming, as raw bytes to the real server (no proto knowledge needed).

The Spark Connect client sends a token only over TLS (a token forces ``use_ssl``), so the proxy
serves a self-signed certificate. gRPC reads its default trusted roots once per process, from
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` if set; that has to happen before the process's first TLS
channel, so the certificate is made and the variable set when this module is imported (at test
collection), not when the fixture starts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE = "spark.connect.SparkConnectService"
UNARY = (
    "AnalyzePlan",
    "Config",
    "Interrupt",
    "ArtifactStatus",
    "ReleaseExecute",
    "ReleaseSession",
    "FetchErrorDetails",
)
SERVER_STREAMING = ("ExecutePlan", "ReattachExecute")
CLIENT_STREAMING = ("AddArtifacts",)
ROOTS_ENV = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1, PEM encoded."""

    cert: bytes
    key: bytes
    cert_path: Path


def make_tls(folder: Path) -> TlsFiles:
    """Create a self-signed certificate valid for ``localhost`` and ``127.0.0.1`` in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = folder / "proxy-ca.pem"
    path.write_bytes(cert_pem)
    return TlsFiles(cert=cert_pem, key=key_pem, cert_path=path)


def _trust_proxy_certificate() -> TlsFiles:
    # Must run before this process creates its first TLS channel (see the module docstring).
    tls = make_tls(Path(tempfile.mkdtemp(prefix="autoloader-auth-proxy-")))
    os.environ[ROOTS_ENV] = str(tls.cert_path)
    return tls


TLS = _trust_proxy_certificate()


def _identity(payload: bytes) -> bytes:
    return payload


class _AuthProxy(grpc.GenericRpcHandler):
    """Checks the bearer token and forwards the call to ``upstream`` unchanged."""

    def __init__(self, upstream: grpc.Channel, token: str) -> None:
        self._upstream = upstream
        self._expected = f"Bearer {token}"
        self.refused = 0

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        service, _, name = method.lstrip("/").partition("/")
        if service != SERVICE:
            return None
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorized = metadata.get("authorization") == self._expected
        if name in SERVER_STREAMING:
            return grpc.unary_stream_rpc_method_handler(self._server_streaming(method, authorized))
        if name in CLIENT_STREAMING:
            return grpc.stream_unary_rpc_method_handler(self._client_streaming(method, authorized))
        return grpc.unary_unary_rpc_method_handler(self._unary(method, authorized))

    def _refuse(self, context: grpc.ServicerContext) -> None:
        self.refused += 1
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token")

    def _forwarded(self, context: grpc.ServicerContext) -> list[tuple[str, Any]]:
        # The proxy consumed the token; the upstream has no auth and must not see it.
        return [(k, v) for k, v in context.invocation_metadata() if k != "authorization"]

    def _unary(self, method: str, authorized: bool) -> Any:
        call = self._upstream.unary_unary(method, request_serializer=_identity, response_deserializer=_identity)

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            if not authorized:
                self._refuse(context)
            try:
                return call(request, metadata=self._forwarded(context))
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details())  # type: ignore[attr-defined]
                raise

        return handle

    def _server_streaming(self, method: str, authorized: bool) -> Any:
        call = self._upstream.unary_stream(method, request_serializer=_identity, response_deserializer=_identity)

        def handle(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            if not authorized:
                self._refuse(context)
            try:
                yield from call(request, metadata=self._forwarded(context))
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details())  # type: ignore[attr-defined]

        return handle

    def _client_streaming(self, method: str, authorized: bool) -> Any:
        call = self._upstream.stream_unary(method, request_serializer=_identity, response_deserializer=_identity)

        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
            if not authorized:
                self._refuse(context)
            try:
                return call(requests, metadata=self._forwarded(context))
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details())  # type: ignore[attr-defined]
                raise

        return handle


@dataclass
class AuthProxy:
    """A running proxy: ``url`` (``sc://127.0.0.1:port``, no token) and the ``token`` it accepts."""

    url: str
    token: str
    handler: _AuthProxy
    server: grpc.Server
    upstream: grpc.Channel

    def stop(self) -> None:
        """Stop serving (in-flight calls get a second) and close the upstream channel."""
        self.server.stop(grace=1.0).wait()
        self.upstream.close()


def start_proxy(upstream_url: str, token: str) -> AuthProxy:
    """Start a TLS proxy on a free 127.0.0.1 port in front of the plaintext ``sc://`` server ``upstream_url``."""
    target = upstream_url.removeprefix("sc://").split("/", 1)[0]
    upstream = grpc.insecure_channel(
        target, options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    )
    handler = _AuthProxy(upstream, token)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        handlers=[handler],
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    credentials = grpc.ssl_server_credentials([(TLS.key, TLS.cert)])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return AuthProxy(url=f"sc://127.0.0.1:{port}", token=token, handler=handler, server=server, upstream=upstream)


@pytest.fixture(scope="session")
def spark_auth_proxy(spark_connect_url: str) -> Iterator[tuple[str, str]]:
    """``(url, token)`` of a TLS proxy that requires ``token`` in front of the session's Spark Connect server."""
    proxy = start_proxy(spark_connect_url, token="proxy-secret-token")
    try:
        yield proxy.url, proxy.token
    finally:
        proxy.stop()
