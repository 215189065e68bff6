"""Processes for the replicated-server tests and benchmarks: a 3-member etcd (Debian's etcd-server) and
`allot serve --store etcd` replicas, all on free loopback ports, started and stopped by their PIDs.

Nothing here is specific to one test: tests/fault/run.py (the fault test) and scripts/bench-replicas.py
(failover time, throughput) use it. The allot binary is $ALLOT_BINARY, else build/allot.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def allot_binary() -> str:
    return os.environ.get("ALLOT_BINARY") or os.path.join(REPO, "build", "allot")


def etcd_binary() -> Optional[str]:
    return shutil.which("etcd")


def free_ports(n: int) -> List[int]:
    """n distinct free loopback ports (held open together while chosen)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def http_json(url: str, method: str = "GET", path: str = "/", body: Any = None, timeout: float = 2.0,
              headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any, Dict[str, str]]:
    """One request on a fresh connection: (status, JSON or text, lower-case headers). Raises OSError."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        c.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        raw = r.read()
        try:
            decoded: Any = json.loads(raw) if raw else {}
        except ValueError:
            decoded = raw.decode("utf-8", "replace")
        return r.status, decoded, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


class Process:
    """A child process with its log file, stopped by PID."""

    def __init__(self, argv: List[str], log_path: str) -> None:
        self.argv = argv
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None
        self.frozen = False

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.frozen = False

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)  # type: ignore[union-attr]

    def kill9(self) -> None:
        if self.proc is None:
            return
        if self.alive():
            if self.frozen:
                os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.frozen = False

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)
        self.frozen = False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.proc is None:
            return
        if self.alive():
            if self.frozen:
                self.thaw()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class EtcdCluster:
    """`members` etcd members on free loopback ports, data under `dir`."""

    def __init__(self, dir: str, members: int = 3, extra: Optional[List[str]] = None) -> None:
        self.dir = dir
        ports = free_ports(2 * members)
        self.client_urls = [f"http://127.0.0.1:{p}" for p in ports[:members]]
        self.peer_urls = [f"http://127.0.0.1:{p}" for p in ports[members:]]
        initial = ",".join(f"e{i}={u}" for i, u in enumerate(self.peer_urls))
        self.members: List[Process] = []
        for i in range(members):
            d = os.path.join(dir, f"etcd{i}")
            os.makedirs(d, exist_ok=True)
            argv = [etcd_binary() or "etcd", "--name", f"e{i}", "--data-dir", os.path.join(d, "data"),
                    "--listen-client-urls", self.client_urls[i], "--advertise-client-urls", self.client_urls[i],
                    "--listen-peer-urls", self.peer_urls[i], "--initial-advertise-peer-urls", self.peer_urls[i],
                    "--initial-cluster", initial, "--initial-cluster-state", "new",
                    "--initial-cluster-token", "allot-test", "--logger", "zap", "--log-outputs", os.path.join(d, "etcd.log")]
            argv += extra or []
            self.members.append(Process(argv, os.path.join(d, "stderr.log")))

    @property
    def endpoints(self) -> str:
        return ",".join(self.client_urls)

    def start(self, timeout: float = 30.0) -> None:
        for m in self.members:
            m.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(u) for u in self.client_urls):
                return
            time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy:\n" + "\n".join(m.log()[-2000:] for m in self.members))

    @staticmethod
    def healthy(url: str) -> bool:
        try:
            status, body, _ = http_json(url, "GET", "/health", timeout=1.0)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true"
        except OSError:
            return False

    def call(self, path: str, body: Dict[str, Any], timeout: float = 5.0) -> Dict[str, Any]:
        """A v3 gateway call on the first member that answers."""
        last: Optional[Exception] = None
        for u in self.client_urls:
            try:
                status, ans, _ = http_json(u, "POST", path, body, timeout=timeout)
                if status == 200:
                    return ans
                last = RuntimeError(f"{u}{path}: HTTP {status}: {ans}")
            except OSError as e:
                last = e
        raise RuntimeError(f"etcd {path}: {last}")

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        ans = self.call("/v3/kv/range", {"key": b64(key)})
        kvs = ans.get("kvs") or []
        return kvs[0] if kvs else None

    def stop(self) -> None:
        for m in self.members:
            m.stop()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str) -> str:
    return base64.b64decode(s).decode("utf-8", "replace")


class Replica:
    """One `allot serve --store etcd` replica on a fixed free port."""

    def __init__(self, dir: str, name: str, etcd: str, prefix: str = "/allot", ttl: int = 2,
                 extra: Optional[List[str]] = None, port: Optional[int] = None) -> None:
        self.name = name
        self.port = port or free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [allot_binary(), "serve", "--dev", "--quiet", "--listen", f"127.0.0.1:{self.port}", "--store", "etcd",
                "--etcd-endpoints", etcd, "--etcd-prefix", prefix, "--etcd-lease-ttl", str(ttl)] + (extra or [])
        self.process = Process(argv, os.path.join(dir, f"{name}.log"))

    def start(self) -> None:
        self.process.start()

    def ready(self, timeout: float = 1.0) -> Optional[str]:
        """The role it answers /readyz with (leader | standby), or None when it does not answer."""
        try:
            status, body, _ = http_json(self.url, "GET", "/readyz", timeout=timeout)
        except OSError:
            return None
        if status != 200 or not isinstance(body, dict):
            return None
        return body.get("role")

    def wait_role(self, roles: Tuple[str, ...] = ("leader", "standby"), timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.ready()
            if r in roles:
                return r
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} ({self.url}) is not {'/'.join(roles)} after {timeout} s:\n" + self.process.log()[-3000:])


def leader_of(replicas: List[Replica]) -> Optional[Replica]:
    for r in replicas:
        if r.process.alive() and not r.process.frozen and r.ready(0.5) == "leader":
            return r
    return None


def wait_leader(replicas: List[Replica], timeout: float = 30.0, exclude: Optional[Replica] = None) -> Replica:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in replicas:
            if r is exclude or not r.process.alive() or r.process.frozen:
                continue
            if r.ready(0.5) == "leader":
                return r
        time.sleep(0.02)
    raise RuntimeError("no leader after %.0f s:\n%s" % (timeout, "\n".join(r.process.log()[-1500:] for r in replicas)))
