"""The Python client over HTTPS: a real `allot serve --tls-cert ...` with certificates made by the openssl
command for the test; ca_cert= and ALLOT_CA_CERT, a refused untrusted server, and a client certificate that
acts as its mapped role (Client and ResourceManager)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Iterator, Tuple

import pytest

from allot import Client, ResourceManager
from allot.errors import AllotConnectionError
from conftest import Server

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: str, name: str) -> Tuple[str, str]:
    crt, key = os.path.join(d, f"{name}-ca.crt"), os.path.join(d, f"{name}-ca.key")
    _openssl("req", "-x509", *EC, "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def issue(d: str, ca: Tuple[str, str], name: str, subject: str, server: bool) -> Tuple[str, str]:
    crt, key, csr, ext = (os.path.join(d, name + s) for s in (".crt", ".key", ".csr", ".ext"))
    with open(ext, "w", encoding="utf-8") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" if server
                else "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-new", *EC, "-keyout", key, "-out", csr, "-subj", subject)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", crt,
             "-days", "2", "-extfile", ext)
    return crt, key


@pytest.fixture
def tls_server(tmp_path) -> Iterator[Tuple[Server, str, Tuple[str, str]]]:
    d = str(tmp_path)
    ca = make_ca(d, "test")
    cert, key = issue(d, ca, "server", "/CN=allot test server", True)
    client = issue(d, ca, "bot", "/CN=bot-1", False)
    config = """
auth:
  tokens: [{name: root, role: admin, token: admin-secret-1}]
  client_certs: [{cn: bot-1, role: writer, tenant: org/bots}]
nodes: [{name: n1, capacity: {cpu: "8", memory: 16Gi}}]
"""
    s = Server(["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca[0]], config, ca_cert=ca[0])
    yield s, ca[0], client
    s.remove()


def test_client_with_ca_cert_talks_https(tls_server) -> None:
    s, ca, _ = tls_server
    assert s.url.startswith("https://")
    with Client(s.url, "admin-secret-1", ca_cert=ca) as c:
        status, body, _ = c._t.request("GET", "/v1/nodes")
        assert status == 200 and [n["name"] for n in body["nodes"]] == ["n1"]
        assert c.list_allocations() == []


def test_allot_ca_cert_from_the_environment(tls_server, monkeypatch) -> None:
    s, ca, _ = tls_server
    monkeypatch.setenv("ALLOT_CA_CERT", ca)
    with Client(s.url, "admin-secret-1") as c:
        assert c._t.request("GET", "/v1/nodes")[0] == 200


def test_an_untrusted_server_is_refused(tls_server, tmp_path) -> None:
    s, _, _ = tls_server
    other, _ = make_ca(str(tmp_path), "other")
    with Client(s.url, "admin-secret-1", ca_cert=other) as c:
        with pytest.raises(AllotConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            c.list_allocations()


def test_a_client_certificate_acts_as_its_mapped_writer(tls_server) -> None:
    s, ca, (cert, key) = tls_server
    with Client(s.url, ca_cert=ca, client_cert=cert, client_key=key, tenant_root="org/bots") as c:
        assert c.list_allocations() == []
        # A writer may not register nodes.
        assert c._t.request("POST", "/v1/nodes", {"name": "n2", "capacity": {"cpu": "1"}})[0] == 403
    with Client(s.url, ca_cert=ca) as anonymous:
        assert anonymous._t.request("GET", "/v1/allocations")[0] == 401

    async def run() -> int:
        rm = ResourceManager(s.url, ca_cert=ca, client_cert=cert, client_key=key, tenant_root="org/bots")
        try:
            status, body, _ = await rm._t.request("GET", "/v1/allocations")
            return status
        finally:
            await rm.close()

    assert asyncio.run(run()) == 200
