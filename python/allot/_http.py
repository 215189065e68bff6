"""HTTP/1.1 transports of the allot client: one keep-alive connection (http.client) for the synchronous
Client, and a small asyncio-streams client with a connection pool for ResourceManager.

Both send JSON bodies with Content-Length and read answers delimited by Content-Length (what
``allot serve`` sends). Given several server URLs (``ALLOT_SERVER=http://a:7070,http://b:7070``: the
replicas of one server), a new connection goes to the first that accepts one, starting from the one that
answered last. A request that fails on a reused keep-alive connection before any answer arrived is sent
once more on a fresh connection when it is safe to repeat (``retry=True``: GET, PUT, DELETE and POSTs
carrying an idempotency key).

Replicas (``allot serve --store etcd``): a 307/308 answer (a standby sending a write to the leader) is
followed to its Location with the same method and body, at most MAX_REDIRECTS times. A request that is
safe to repeat also goes to the next replica after a connection that failed or timed out, or a 503 whose
error code is ``unavailable`` (a replica that is not ready); once every replica failed in a row it pauses
(50 ms, doubling to 1 s) and goes round again, for at most ``failover_timeout`` seconds, or until no
replica accepted a connection in three rounds. ``answered_by`` names the replica that gave the last answer,
``revision`` its X-Allot-Revision, and ``trail`` what the last request went through. Every other transport failure raises
AllotConnectionError.
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
import time
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


MAX_REDIRECTS = 5


def _unavailable(status: int, body: Any) -> bool:
    """A 503 from a replica that cannot serve now (not a deliberate refusal such as ``degraded``)."""
    err = body.get("error") if isinstance(body, dict) else None
    return status == 503 and isinstance(err, dict) and err.get("code") == "unavailable"


def _redirect(location: str, current: Tuple[str, str, int, str]) -> Tuple[Tuple[str, str, int, str], str]:
    """(server, target) of a Location header: an absolute URL, or a path on the current server."""
    if location.startswith("/"):
        return (current[0], current[1], current[2], ""), location
    u = urllib.parse.urlsplit(location)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"redirect to {location!r}, which is not a URL")
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return (u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80), ""), target


def _revision(headers: Dict[str, str]) -> Optional[int]:
    """X-Allot-Revision: the store revision the answering replica's state is as of."""
    try:
        return int(headers["x-allot-revision"])
    except (KeyError, ValueError):
        return None


def _url_of(server: Tuple[str, str, int, str]) -> str:
    scheme, host, port, _ = server
    return f"{scheme}://{host}:{port}"


class _Retry:
    """The pace of fail-over: the next replica at once; a pause (50 ms, doubling to 1 s) once every replica
    failed in a row; no more tries after ``budget`` seconds, or after three rounds in which no replica
    accepted a connection (none runs)."""

    def __init__(self, servers: int, budget: float) -> None:
        self.servers = servers
        self.deadline = time.monotonic() + budget
        self.pause = 0.05
        self.failed = 0
        self.refused_rounds = 0

    def next_pause(self, whole_round_refused: bool) -> Optional[float]:
        """Seconds to wait before the next try, or None to give up. ``whole_round_refused``: no replica
        accepted a connection (a whole round)."""
        if whole_round_refused:
            self.refused_rounds += 1
            self.failed += self.servers
        else:
            self.failed += 1
        left = self.deadline - time.monotonic()
        if self.refused_rounds >= 3 or left <= 0:
            return None
        if self.failed < self.servers:
            return 0.0
        self.failed = 0
        pause, self.pause = min(self.pause, left), min(self.pause * 2, 1.0)
        return pause


class SyncTransport:
    """One keep-alive connection, reopened when the server closed it."""

    def __init__(self, url: str, token: Optional[str], timeout: float, ca_cert: Optional[str] = None,
                 failover_timeout: float = 30.0, client_cert: Optional[str] = None,
                 client_key: Optional[str] = None) -> None:
        self._servers = split_urls(url)
        self._cur = 0
        self.scheme, self.host, self.port, self.base = self._servers[0]
        self.url = url
        self.timeout = timeout
        self.failover_timeout = failover_timeout
        self.answered_by: Optional[str] = None
        self.revision: Optional[int] = None
        self.trail: List[str] = []
        https = any(s[0] == "https" for s in self._servers)
        self._ctx = tls_context(ca_cert, client_cert, client_key) if https else None
        self._conn: Optional[http.client.HTTPConnection] = None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = "Bearer " + token

    def _open(self, timeout: float, only: bool = False) -> http.client.HTTPConnection:
        """A connection to the first server that accepts one, from the current one on (``only``: the
        current one)."""
        err: Optional[OSError] = None
        for i in range(1 if only else len(self._servers)):
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
        self.trail = []
        pace = _Retry(len(self._servers), self.failover_timeout)
        while True:
            try:
                answer = self._follow(method, self.base + path, data, retry, t)
            except AllotConnectionError as e:
                if not (retry or not e.sent):
                    raise
                self.trail.append(str(e))
                pause = pace.next_pause(not e.sent and e.everywhere)
                if pause is None:
                    raise
                if e.sent:
                    self._next_server()
                time.sleep(pause)
                continue
            if retry and _unavailable(answer[0], answer[1]):
                self.trail.append(f"{self.answered_by}: HTTP 503 (not ready)")
                pause = pace.next_pause(False)
                if pause is not None:
                    self._next_server()
                    time.sleep(pause)
                    continue
            return answer

    def _next_server(self) -> None:
        self.close()
        self._cur = (self._cur + 1) % len(self._servers)
        self.scheme, self.host, self.port, self.base = self._servers[self._cur]

    def _follow(self, method: str, target: str, data: Optional[bytes], retry: bool, t: float) -> Answer:
        """One exchange with the current server, then its redirects."""
        answer = self._once(method, target, data, retry, t)
        where = self._servers[self._cur]
        for hop in range(MAX_REDIRECTS + 1):
            status, _, headers = answer
            location = headers.get("location")
            if status not in (307, 308) or not location:
                self.answered_by = _url_of(where)
                self.revision = _revision(headers)
                return answer
            if hop == MAX_REDIRECTS:
                break
            try:
                dest, target = _redirect(location, where)
            except ValueError as e:
                raise AllotConnectionError(f"{method} {_url_of(where)}{target}: {e}") from None
            self.trail.append(f"{_url_of(where)}: HTTP {status} to {location}")
            listed = [k for k, s in enumerate(self._servers) if s[:3] == dest[:3]]
            if listed:
                if listed[0] != self._cur:
                    self.close()
                    self._cur = listed[0]
                    self.scheme, self.host, self.port, self.base = self._servers[self._cur]
                where = self._servers[self._cur]
                answer = self._once(method, target, data, retry, t, only=True)
            else:
                where = dest
                answer = self._elsewhere(dest, method, target, data, t)
        raise AllotConnectionError(f"{method} {self.url}{target}: more than {MAX_REDIRECTS} redirects")

    def _elsewhere(self, server: Tuple[str, str, int, str], method: str, target: str, data: Optional[bytes],
                   t: float) -> Answer:
        """One exchange on a connection of its own with a server the list does not name (a redirect's)."""
        scheme, host, port, _ = server
        c: http.client.HTTPConnection
        if scheme == "https":
            c = http.client.HTTPSConnection(host, port, timeout=t, context=self._ctx or ssl.create_default_context())
        else:
            c = http.client.HTTPConnection(host, port, timeout=t)
        try:
            c.request(method, target, body=data, headers=self._headers)
            resp = c.getresponse()
            raw = resp.read()
            return resp.status, _decode(resp.status, raw), {k.lower(): v for k, v in resp.getheaders()}
        except (OSError, http.client.HTTPException) as e:
            raise AllotConnectionError(f"{method} {_url_of(server)}{target}: {type(e).__name__}: {e}") from e
        finally:
            c.close()

    def _once(self, method: str, target: str, data: Optional[bytes], retry: bool, t: float,
              only: bool = False) -> Answer:
        """One exchange with the current server (a new connection goes to the first that accepts one, or
        with ``only`` to the current server alone)."""
        for attempt in (0, 1):
            reused = self._conn is not None
            if self._conn is None:
                try:
                    self._conn = self._open(t, only)
                except OSError as e:
                    raise AllotConnectionError(f"{method} {self.url}{target}: {type(e).__name__}: {e}",
                                               sent=False, everywhere=not only) from e
            try:
                if reused and self._conn.sock is not None:
                    self._conn.sock.settimeout(t)
                self._conn.request(method, target, body=data, headers=self._headers)
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
                raise AllotConnectionError(f"{method} {_url_of(self._servers[self._cur])}{target}: "
                                           f"{type(e).__name__}: {e}") from e
        raise AssertionError("unreachable")


class _Conn:
    __slots__ = ("reader", "writer", "server", "base", "head")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: int, base: str,
                 head: str) -> None:
        self.reader = reader
        self.writer = writer
        self.server = server  # index in the server list; -1 for a redirect's server the list does not name
        self.base = base      # the server's path prefix
        self.head = head      # the fixed request headers

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass


class AsyncTransport:
    """HTTP/1.1 over asyncio streams with a pool of at most `max_connections` keep-alive connections."""

    def __init__(self, url: str, token: Optional[str], timeout: float, max_connections: int = 64,
                 ca_cert: Optional[str] = None, failover_timeout: float = 30.0,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None) -> None:
        self._servers = split_urls(url)
        self._cur = 0
        self.url = url
        self.timeout = timeout
        self.failover_timeout = failover_timeout
        self.answered_by: Optional[str] = None
        self.revision: Optional[int] = None
        self.trail: List[str] = []
        https = any(s[0] == "https" for s in self._servers)
        self._ssl = tls_context(ca_cert, client_cert, client_key) if https else None
        self._idle: List[_Conn] = []
        self._max = max_connections
        self._sem: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._auth = f"Authorization: Bearer {token}\r\n" if token else ""
        # Per server: (path prefix, the fixed headers).
        self._heads: List[Tuple[str, str]] = [(s[3], self._head(s)) for s in self._servers]

    def _head(self, server: Tuple[str, str, int, str]) -> str:
        _, host, port, _ = server
        hostport = host if port in (80, 443) else f"{host}:{port}"
        return f"Host: {hostport}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{self._auth}"

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

    async def _open(self, server: Tuple[str, str, int, str], k: int) -> _Conn:
        scheme, host, port, base = server
        ctx = (self._ssl or ssl.create_default_context()) if scheme == "https" else None
        r, w = await asyncio.open_connection(host, port, ssl=ctx)
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(r, w, k, base, self._heads[k][1] if k >= 0 else self._head(server))

    async def _connect(self, only: bool = False) -> _Conn:
        """A connection to the first server that accepts one, from the current one on (``only``: the
        current one)."""
        err: Optional[OSError] = None
        for i in range(1 if only else len(self._servers)):
            k = (self._cur + i) % len(self._servers)
            try:
                conn = await self._open(self._servers[k], k)
            except OSError as e:
                err = e
                continue
            self._cur = k
            return conn
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
            trail: List[str] = []
            pace = _Retry(len(self._servers), self.failover_timeout)
            while True:
                try:
                    answer, where = await self._follow(method, path, data, retry, t, trail)
                except AllotConnectionError as e:
                    if not (retry or not e.sent):
                        raise
                    trail.append(str(e))
                    pause = pace.next_pause(not e.sent and e.everywhere)
                    if pause is None:
                        raise
                    if e.sent:
                        self._cur = (self._cur + 1) % len(self._servers)
                    await asyncio.sleep(pause)
                    continue
                if retry and _unavailable(answer[0], answer[1]):
                    trail.append(f"{where}: HTTP 503 (not ready)")
                    pause = pace.next_pause(False)
                    if pause is not None:
                        self._cur = (self._cur + 1) % len(self._servers)
                        await asyncio.sleep(pause)
                        continue
                self.answered_by, self.trail, self.revision = where, trail, _revision(answer[2])
                return answer

    async def _follow(self, method: str, path: str, data: bytes, retry: bool, t: float,
                      trail: List[str]) -> Tuple[Answer, str]:
        """One exchange with the current server, then its redirects; the answer and who gave it."""
        answer, conn_server = await self._once(method, path, data, retry, t, None)
        where = conn_server
        for hop in range(MAX_REDIRECTS + 1):
            status, _, headers = answer
            location = headers.get("location")
            if status not in (307, 308) or not location:
                return answer, _url_of(where)
            if hop == MAX_REDIRECTS:
                break
            try:
                dest, target = _redirect(location, where)
            except ValueError as e:
                raise AllotConnectionError(f"{method} {_url_of(where)}{path}: {e}") from None
            trail.append(f"{_url_of(where)}: HTTP {status} to {location}")
            listed = [k for k, s in enumerate(self._servers) if s[:3] == dest[:3]]
            if listed:
                self._cur = listed[0]
                where = self._servers[listed[0]]
                answer, _ = await self._once(method, target, data, retry, t, listed[0])
            else:
                where = dest
                answer, _ = await self._once(method, target, data, retry, t, dest)
        raise AllotConnectionError(f"{method} {self.url}{path}: more than {MAX_REDIRECTS} redirects")

    async def _once(self, method: str, path: str, data: bytes, retry: bool, t: float,
                    to: Any) -> Tuple[Answer, Tuple[str, str, int, str]]:
        """One exchange: ``to`` None: with the current server (a new connection to the first that accepts
        one), ``path`` under its base; an index: with that listed server only; a server tuple: on a
        connection of its own to that unlisted server; for both, ``path`` as given."""
        for attempt in (0, 1):
            want = self._cur if to is None else to if isinstance(to, int) else -1
            conn = None
            if want >= 0:
                for i in range(len(self._idle) - 1, -1, -1):
                    if self._idle[i].server == want:
                        conn = self._idle.pop(i)
                        break
            reused = conn is not None
            opening = conn is None
            try:
                if _timeout is not None:
                    async with _timeout(t):
                        if conn is None:
                            conn = await (self._open(to, -1) if isinstance(to, tuple) else self._connect(to is not None))
                        opening = False
                        target = conn.base + path if to is None else path
                        status, raw, headers, keep = await self._exchange(conn, method, target, data)
                else:
                    if conn is None:
                        conn = await asyncio.wait_for(
                            self._open(to, -1) if isinstance(to, tuple) else self._connect(to is not None), t)
                    opening = False
                    target = conn.base + path if to is None else path
                    status, raw, headers, keep = await asyncio.wait_for(self._exchange(conn, method, target, data), t)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ValueError) as e:
                if conn is not None:
                    conn.close()
                if attempt == 0 and reused and retry and not isinstance(e, asyncio.TimeoutError):
                    continue
                what = "timed out" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}"
                server = to if isinstance(to, tuple) else self._servers[want]
                err = AllotConnectionError(f"{method} {_url_of(server)}{path}: {what}", sent=not opening)
                err.everywhere = to is None
                raise err from e
            server = self._servers[conn.server] if conn.server >= 0 else to
            if keep and conn.server >= 0:
                self._idle.append(conn)
            else:
                conn.close()
            return (status, _decode(status, raw), headers), server
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Conn, method: str, target: str, data: bytes) -> Tuple[int, bytes, Dict[str, str], bool]:
        conn.writer.write(f"{method} {target} HTTP/1.1\r\n{conn.head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
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
