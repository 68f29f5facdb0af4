"""Mutual TLS on the central link: the client presents its certificate and checks central's.

Certificates are made by the test with the openssl command (skipped when it is absent); the
bundled stub is served by uvicorn with TLS that requires a client certificate.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from gateway.upstream.client import CentralUnavailable, HttpCentralClient
from gateway.upstream.stub.app import create_stub_app
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(ca: str, name: str, cn: str, cwd: Path, *, server: bool) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)
    ext = cwd / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server
                   else "extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name,
             cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "rogue"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN=FieldCheck test {ca}", cwd=d)
    _issue("ca", "central", "central", d, server=True)
    _issue("ca", "gateway", "gateway MU-01", d, server=False)
    _issue("rogue", "intruder", "intruder", d, server=False)
    return d


@pytest.fixture(scope="module")
def central_tls(pki: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    app = create_stub_app(tmp_path_factory.mktemp("stub"), subjects=20, documents=20)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        ssl_certfile=str(pki / "central.crt"), ssl_keyfile=str(pki / "central.key"),
        ssl_ca_certs=str(pki / "ca.crt"), ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_client_certificate_and_central_ca_are_used(pki: Path, central_tls: str) -> None:
    client = HttpCentralClient(central_tls, cert=(str(pki / "gateway.crt"), str(pki / "gateway.key")),
                               verify=str(pki / "ca.crt"), retries=0)
    try:
        assert client.health() is True
        assert "changes" in client.changes(since=0, limit=5)
    finally:
        client.close()


@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
def test_central_refuses_gateways_without_a_trusted_certificate(pki: Path, central_tls: str,
                                                                who: str) -> None:
    cert = None if who == "no certificate" else (str(pki / "intruder.crt"), str(pki / "intruder.key"))
    client = HttpCentralClient(central_tls, cert=cert, verify=str(pki / "ca.crt"), retries=0)
    try:
        assert client.health() is False
        with pytest.raises(CentralUnavailable):
            client.changes(since=0, limit=5)
    finally:
        client.close()


def test_gateway_refuses_a_central_it_cannot_verify(pki: Path, central_tls: str) -> None:
    client = HttpCentralClient(central_tls, cert=(str(pki / "gateway.crt"), str(pki / "gateway.key")),
                               verify=str(pki / "rogue.crt"), retries=0)
    try:
        with pytest.raises(CentralUnavailable):
            client.changes(since=0, limit=5)
    finally:
        client.close()
