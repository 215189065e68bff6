"""Fixtures of the Python package's tests: a real `allot serve` on a free loopback port, stopped by its PID.

The binary is $ALLOT_BINARY (CTest sets it to the build's `allot`), else build/allot. The package is
imported from PYTHONPATH (CTest sets it to <build>/python).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEMO_CONFIG = os.path.join(REPO, "examples", "server", "demo.yaml")

ADMIN_TOKEN = "admin-secret-1"
WRITER_TOKEN = "writer-secret-1"
READER_TOKEN = "reader-secret-1"

AUTH_CONFIG = f"""
auth:
  tokens:
    - {{name: root, role: admin, token: {ADMIN_TOKEN}}}
    - {{name: agents, role: writer, tenant: org/agents, token: {WRITER_TOKEN}}}
    - {{name: viewer, role: reader, token: {READER_TOKEN}}}
nodes:
  - {{name: n1, capacity: {{cpu: "16", memory: 64Gi, ephemeral-storage: 500Gi}}}}
  - {{name: n2, capacity: {{cpu: "16", memory: 64Gi, gpu: "2"}}}}
"""


def allot_binary() -> str:
    b = os.environ.get("ALLOT_BINARY") or os.path.join(REPO, "build", "allot")
    if not os.access(b, os.X_OK):
        pytest.skip(f"no allot binary at {b} (set ALLOT_BINARY)")
    return b


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `allot serve` process."""

    def __init__(self, args: List[str], config_text: Optional[str] = None, ca_cert: Optional[str] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="allot-py-")
        self.port = free_port()
        # With ca_cert the server is started with --tls-cert in `args`: its URL is https://, trusted through it.
        self.ca_cert = ca_cert
        self.url = f"{'https' if ca_cert else 'http'}://127.0.0.1:{self.port}"
        argv = [allot_binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data", os.path.join(self.dir, "data"),
                "--quiet", "--no-fsync"]
        if config_text is not None:
            path = os.path.join(self.dir, "config.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(config_text)
            argv += ["--config", path]
        self.argv = argv + args
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self._wait_ready()

    def restart(self) -> None:
        """Stops the server (SIGTERM) and starts it again on the same port and data directory."""
        self.stop()
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"allot serve exited {self.proc.returncode}: {self.stderr()}")
            try:
                if self.ca_cert:
                    ctx = ssl.create_default_context(cafile=self.ca_cert)
                    c: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1,
                                                                                context=ctx)
                else:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    c.close()
                    return
                c.close()
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("allot serve did not become ready: " + self.stderr())

    def stderr(self) -> str:
        self.log.flush()
        with open(os.path.join(self.dir, "serve.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-2000:]

    def raw(self, method: str, path: str, body: object = None, token: Optional[str] = None) -> tuple:
        """A request with plain http.client, to check what the server holds independently of the client."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers: Dict[str, str] = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (json.loads(data) if data else {})

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def remove(self) -> None:
        """Stops the server and removes its directory (data and log)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def demo_server() -> Iterator[Server]:
    """The `make run` demo: --dev with examples/server/demo.yaml."""
    s = Server(["--dev", "--config", DEMO_CONFIG])
    yield s
    s.remove()


@pytest.fixture
def auth_server() -> Iterator[Server]:
    """Tokens: admin, a writer of org/agents, a reader; two nodes."""
    s = Server([], AUTH_CONFIG)
    yield s
    s.remove()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("ALLOT_SERVER", "ALLOT_TOKEN", "ALLOT_TENANT_ROOT", "ALLOT_API_QUOTA_CAPACITY"):
        monkeypatch.delenv(k, raising=False)
