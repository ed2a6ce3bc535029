"""The S3 place for the connector behaviour suite: a moto server that checks credentials.

moto accepts any key by default. We turn on its IAM access control (``/moto-api/reset-auth``
with 0 unauthenticated actions) after creating one IAM user with an S3 policy and an access key,
so the server refuses unknown keys (``InvalidAccessKeyId``) and bad secrets
(``SignatureDoesNotMatch``) like AWS does. Never call ``/moto-api/reset`` on this server: it would
drop that user.

``MotoS3Server`` also serves the end-to-end tests: it runs in its own thread (werkzeug), so it keeps
answering the stack's processes while the test's event loop is idle::

    server = MotoS3Server().start()
    place = server.new_place()      # a fresh bucket with s3://bucket/data/
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from autoloader_cli.servers import free_port
from autoloader_contracts.ingestion import SourceSpec

REGION = "us-east-1"
_S3_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


class MotoS3Server:
    """An in-process moto server on 127.0.0.1 with IAM checks on and one valid access key."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.credentials: dict[str, str] = {}
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._client: Any = None

    def start(self) -> MotoS3Server:
        """Start serving, create the IAM user and its key, then make moto check every request."""
        self._server.start()
        # moto's auth switch and backends are per process: another server started in this process
        # may have turned checks on already, so turn them off while creating our user.
        self._post("/moto-api/reset-auth", b"inf")
        self.credentials = self._create_user()
        self._post("/moto-api/reset-auth", b"0")
        self._client = self.client(self.credentials)
        return self

    def stop(self) -> None:
        """Close the helper client and stop the server thread."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._server.stop()

    def client(self, credentials: dict[str, str]) -> Any:
        """A synchronous botocore S3 client for this server (the caller closes it)."""
        return botocore.session.get_session().create_client(
            "s3", region_name=REGION, endpoint_url=self.endpoint_url,
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket with a unique name (or ``name``) and return its name."""
        bucket = name or f"b-{uuid.uuid4().hex[:20]}"
        self._client.create_bucket(Bucket=bucket)
        return bucket

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write one object with the valid key."""
        self._client.put_object(Bucket=bucket, Key=key, Body=data)

    def new_place(self) -> S3Place:
        """A fresh bucket, as a place for the behaviour suite or an end-to-end test."""
        return S3Place(self, self.create_bucket())

    def _create_user(self) -> dict[str, str]:
        # While auth is still off (moto's default), any key may call IAM.
        bootstrap = {"access_key_id": "bootstrap", "secret_access_key": "bootstrap"}
        iam = botocore.session.get_session().create_client(
            "iam", region_name=REGION, endpoint_url=self.endpoint_url,
            aws_access_key_id=bootstrap["access_key_id"], aws_secret_access_key=bootstrap["secret_access_key"],
        )
        try:
            user = f"autoloader-{uuid.uuid4().hex[:8]}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="s3-all", PolicyDocument=json.dumps(_S3_POLICY))
            key = iam.create_access_key(UserName=user)["AccessKey"]
        finally:
            iam.close()
        return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    def _post(self, path: str, body: bytes) -> None:
        # text/plain: werkzeug would parse a form body away from request.data
        request = urllib.request.Request(self.endpoint_url + path, data=body, method="POST",  # noqa: S310
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our local server
            response.read()


class S3Place:
    """A bucket of the moto server; the folder is ``s3://bucket/data/``."""

    source_type = "s3"

    def __init__(self, server: MotoS3Server, bucket: str) -> None:
        self.server = server
        self.bucket = bucket
        self.credentials: dict[str, str] | None = dict(server.credentials)
        self.bad_credentials: dict[str, str] | None = {
            "access_key_id": "AKIA" + secrets.token_hex(8).upper(),
            "secret_access_key": secrets.token_urlsafe(30),
        }

    def options(self) -> dict[str, object]:
        """Connector options that point at this server."""
        return {"endpoint_url": self.server.endpoint_url, "region": REGION, "path_style": True}

    def spec(self, *, pattern: str = "**/*", exclude: str | None = None,
             options: dict[str, object] | None = None) -> SourceSpec:
        return SourceSpec(type="s3", path=f"s3://{self.bucket}/data/", file_pattern=pattern,
                          exclude_pattern=exclude, options={**self.options(), **(options or {})})

    def missing_spec(self) -> SourceSpec:
        return SourceSpec(type="s3", path=f"s3://missing-{uuid.uuid4().hex[:16]}/data/", options=self.options())

    async def put(self, relative: str, data: bytes) -> None:
        await asyncio.to_thread(self.server.put, self.bucket, f"data/{relative}", data)


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[MotoS3Server]:
    """One moto server for the session (each test gets its own bucket)."""
    server = MotoS3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_place(moto_s3_server: MotoS3Server) -> S3Place:
    """A fresh bucket in the session's moto server."""
    return moto_s3_server.new_place()
