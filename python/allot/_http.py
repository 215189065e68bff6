"""HTTP/1.1 transports of the allot client: one keep-alive connection (http.client) for the synchronous
Client, and a small asyncio-streams client with a connection pool for ResourceManager.

Both send JSON bodies with Content-Length and read answers delimited by Content-Length (what
``allot serve`` sends). Given several server URLs (``ALLOT_SERVER=http://a:7070,http://b:7070``), a new
connection goes to the first that accepts one, starting from the one that answered last. A request that fails on a reused keep-alive connection before any answer arrived
is sent once more on a fresh connection when it is safe to repeat (``retry=True``: GET, PUT, DELETE and
POSTs carrying an idempotency key); every other transport failure raises AllotConnectionError.
Thread-safety: a SyncTransport is for one thread at a time (Client locks it); an AsyncTransport is for one
event loop.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import ssl
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from .errors import AllotConnectionError, AllotError

Answer = Tuple[int, Any, Dict[str, str]]

# asyncio.timeout (Python 3.11) costs less than wait_for, which wraps the coroutine in a task.
_timeout = getattr(asyncio, "timeout", None)


def split_url(url: str) -> Tuple[str, str, int, str]:
    """(scheme, host, port, base path) of a server URL; ValueError when it is not http(s)://HOST[:PORT]."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"server: expected a URL such as http://127.0.0.1:7070, got {url!r}")
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"server: expected a URL such as http://127.0.0.1:7070, got {url!r}")
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"server: bad port in {url!r}") from None
    return u.scheme, u.hostname, port, u.path.rstrip("/")


def split_urls(urls: str) -> List[Tuple[str, str, int, str]]:
    """split_url of each URL of a comma-separated list; ValueError for an empty list or a bad URL."""
    parts = [u.strip() for u in str(urls).split(",") if u.strip()]
    if not parts:
        raise ValueError(f"server: expected a URL such as http://127.0.0.1:7070, got {urls!r}")
    return [split_url(u) for u in parts]


def tls_context(ca_cert: Optional[str] = None, client_cert: Optional[str] = None,
                client_key: Optional[str] = None) -> ssl.SSLContext:
    """The SSL context of https:// servers: TLS 1.2+, the server verified against ``ca_cert`` (default
    ``ALLOT_CA_CERT``, else the system's CAs) and its name, and a client certificate when one is given
    (``client_cert``/``client_key``, default ``ALLOT_CLIENT_CERT``/``ALLOT_CLIENT_KEY``)."""
    ctx = ssl.create_default_context(cafile=ca_cert or os.environ.get("ALLOT_CA_CERT") or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert = client_cert or os.environ.get("ALLOT_CLIENT_CERT") or None
    key = client_key or os.environ.get("ALLOT_CLIENT_KEY") or None
    if cert:
        ctx.load_cert_chain(cert, key)
    elif key:
        raise ValueError("client_key: no client_cert is given")
    return ctx


def _decode(status: int, raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        if status >= 400:
            return {"error": {"code": "unknown", "message": raw[:200].decode("utf-8", "replace")}}
        raise AllotError(status, "bad_answer", "the server's answer is not JSON: " + raw[:200].decode("utf-8", "replace"))


class SyncTransport:
    """One keep-alive connection, reopened when the server closed it."""

    def __init__(self, url: str, token: Optional[str], timeout: float, ca_cert: Optional[str] = None,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None) -> None:
        self._servers = split_urls(url)
        self._cur = 0
        self.scheme, self.host, self.port, self.base = self._servers[0]
        self.url = url
        self.timeout = timeout
        https = any(s[0] == "https" for s in self._servers)
        self._ctx = tls_context(ca_cert, client_cert, client_key) if https else None
        self._conn: Optional[http.client.HTTPConnection] = None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = "Bearer " + token

    def _open(self, timeout: float) -> http.client.HTTPConnection:
        """A connection to the first server that accepts one, from the current one on."""
        err: Optional[OSError] = None
        for i in range(len(self._servers)):
            k = (self._cur + i) % len(self._servers)
            scheme, host, port, base = self._servers[k]
            if scheme == "https":
                c: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ctx)
            else:
                c = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                c.connect()
            except OSError as e:
                err = e
                continue
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._cur = k
            self.scheme, self.host, self.port, self.base = scheme, host, port, base
            return c
        assert err is not None
        raise err

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, retry: bool = False,
                timeout: Optional[float] = None) -> Answer:
        """(status, decoded JSON, lower-case headers). Raises AllotConnectionError on transport failure."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        t = self.timeout if timeout is None else timeout
        for attempt in (0, 1):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._open(t)
                elif self._conn.sock is not None:
                    self._conn.sock.settimeout(t)
                self._conn.request(method, self.base + path, body=data, headers=self._headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                headers = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
                return resp.status, _decode(resp.status, raw), headers
            except (OSError, http.client.HTTPException) as e:
                self.close()
                # A reused connection the server had closed: repeat once when that is safe.
                if attempt == 0 and reused and retry and not isinstance(e, socket.timeout):
                    continue
                raise AllotConnectionError(f"{method} {self.url}{path}: {type(e).__name__}: {e}") from e
        raise AssertionError("unreachable")


class _Conn:
    __slots__ = ("reader", "writer", "server")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: int) -> None:
        self.reader = reader
        self.writer = writer
        self.server = server

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass


class AsyncTransport:
    """HTTP/1.1 over asyncio streams with a pool of at most `max_connections` keep-alive connections."""

    def __init__(self, url: str, token: Optional[str], timeout: float, max_connections: int = 64,
                 ca_cert: Optional[str] = None, client_cert: Optional[str] = None,
                 client_key: Optional[str] = None) -> None:
        self._servers = split_urls(url)
        self._cur = 0
        self.url = url
        self.timeout = timeout
        https = any(s[0] == "https" for s in self._servers)
        self._ssl = tls_context(ca_cert, client_cert, client_key) if https else None
        self._idle: List[_Conn] = []
        self._max = max_connections
        self._sem: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        # Per server: (path prefix, the fixed headers).
        self._heads: List[Tuple[str, str]] = []
        for _, host, port, base in self._servers:
            hostport = host if port in (80, 443) else f"{host}:{port}"
            self._heads.append((base, f"Host: {hostport}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{auth}"))

    async def close(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            for c in self._idle:
                c.close()
            self._idle = []
            return
        while self._idle:
            c = self._idle.pop()
            c.close()
            try:
                await c.writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass

    async def _connect(self) -> _Conn:
        """A connection to the first server that accepts one, from the current one on."""
        err: Optional[OSError] = None
        for i in range(len(self._servers)):
            k = (self._cur + i) % len(self._servers)
            scheme, host, port, _ = self._servers[k]
            try:
                r, w = await asyncio.open_connection(host, port, ssl=self._ssl if scheme == "https" else None)
            except OSError as e:
                err = e
                continue
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._cur = k
            return _Conn(r, w, k)
        assert err is not None
        raise err

    async def request(self, method: str, path: str, body: Any = None, retry: bool = False,
                      timeout: Optional[float] = None) -> Answer:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Connections belong to the loop that opened them; a new loop (another asyncio.run) starts afresh.
            for c in self._idle:
                c.close()
            self._idle = []
            self._sem = asyncio.Semaphore(self._max)
            self._loop = loop
        assert self._sem is not None
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        t = self.timeout if timeout is None else timeout
        async with self._sem:
            for attempt in (0, 1):
                conn = self._idle.pop() if self._idle else None
                reused = conn is not None
                try:
                    if _timeout is not None:
                        async with _timeout(t):
                            if conn is None:
                                conn = await self._connect()
                            status, raw, headers, keep = await self._exchange(conn, method, path, data)
                    else:
                        if conn is None:
                            conn = await asyncio.wait_for(self._connect(), t)
                        status, raw, headers, keep = await asyncio.wait_for(self._exchange(conn, method, path, data), t)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                        ValueError) as e:
                    if conn is not None:
                        conn.close()
                    if attempt == 0 and reused and retry and not isinstance(e, asyncio.TimeoutError):
                        continue
                    what = "timed out" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}"
                    raise AllotConnectionError(f"{method} {self.url}{path}: {what}") from e
                if keep:
                    self._idle.append(conn)
                else:
                    conn.close()
                return status, _decode(status, raw), headers
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Conn, method: str, path: str, data: bytes) -> Tuple[int, bytes, Dict[str, str], bool]:
        base, head = self._heads[conn.server]
        conn.writer.write(f"{method} {base}{path} HTTP/1.1\r\n{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await conn.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if "content-length" in headers:
            n = int(headers["content-length"])
            raw = await conn.reader.readexactly(n) if n else b""
        elif "transfer-encoding" in headers:
            raise ValueError("chunked answers are not supported")
        else:
            raw = await conn.reader.read()
            keep = False
        return status, raw, headers, keep
