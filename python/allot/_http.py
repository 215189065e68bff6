"""HTTP/1.1 transports of the allot client: one keep-alive socket for the synchronous Client, and an
asyncio protocol with a pool of keep-alive connections (pipelined on request) for ResourceManager (AsyncTransport).

Both send JSON bodies with Content-Length and read answers delimited by Content-Length (what
``allot serve`` sends; an answer without one ends with the connection), parsed by one small reader
(_Answer) rather than http.client and asyncio streams, whose generality costs more than the exchange
itself on a loopback server. Given several server URLs (``ALLOT_SERVER=http://a:7070,http://b:7070``: the
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
import collections
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .errors import AllotConnectionError, AllotError

Answer = Tuple[int, Any, Dict[str, str]]

# asyncio.timeout (Python 3.11) costs less than wait_for, which wraps the coroutine in a task.
_timeout = getattr(asyncio, "timeout", None)


def _running_loop(bound: Optional[asyncio.AbstractEventLoop]) -> asyncio.AbstractEventLoop:
    """The running event loop, ``bound`` when it is the one. Before Python 3.12, asyncio.get_running_loop()
    makes a getpid() system call on every call (its check against fork); a loop that runs in this thread
    is the running one (a thread runs one loop at a time), which comparing thread ids says without one."""
    if bound is not None and getattr(bound, "_thread_id", None) == threading.get_ident():
        return bound
    return asyncio.get_running_loop()

MAX_HEAD = 64 * 1024  # an answer's status line and headers


def _head(buf: bytearray, end: int) -> Tuple[int, Dict[str, str], bool]:
    """Status, lower-case headers and keep-alive of the head ``buf[:end]``; ValueError when it is not HTTP/1.x."""
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0][:100]!r}")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    keep = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return int(parts[1]), headers, keep


class _Answer:
    """Reads one answer out of the bytes a connection receives: feed() them as they come (True once the
    answer is whole), then take() gives (status, body, headers, keep). Bytes past the answer stay in ``buf``."""

    __slots__ = ("buf", "status", "headers", "keep", "start", "length", "body")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: Dict[str, str] = {}
        self.keep = False
        self.start = -1     # where the body starts; -1 until the head is whole
        self.length = -1    # the body's length; -1: until the connection ends
        self.body: Optional[bytes] = None

    def feed(self, data: bytes) -> bool:
        """Adds received bytes; True once the answer is whole. ValueError for a malformed answer."""
        self.buf += data
        return self.parse()

    def parse(self) -> bool:
        buf = self.buf
        if self.start < 0:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                if len(buf) > MAX_HEAD:
                    raise ValueError(f"the answer's head is over {MAX_HEAD} bytes")
                return False
            self.status, self.headers, self.keep = _head(buf, i)
            self.start = i + 4
            cl = self.headers.get("content-length")
            if cl is not None:
                if not cl.isdigit():
                    raise ValueError(f"bad Content-Length {cl[:40]!r}")
                self.length = int(cl)
            elif "transfer-encoding" in self.headers:
                raise ValueError("chunked answers are not supported")
            else:
                self.keep = False
        if self.length < 0:
            return False
        end = self.start + self.length
        if len(buf) < end:
            return False
        self.body = bytes(buf[self.start:end])
        del buf[:end]
        return True

    def eof(self) -> bool:
        """The connection ended: True when that completes an answer delimited by the connection's end."""
        if self.start >= 0 and self.length < 0:
            self.body = bytes(self.buf[self.start:])
            self.buf.clear()
            return True
        return False

    def take(self) -> Tuple[int, bytes, Dict[str, str], bool]:
        out = (self.status, self.body or b"", self.headers, self.keep)
        self.reset()
        return out


def _request_bytes(method: str, target: str, head: str, data: Optional[bytes]) -> bytes:
    n = len(data) if data else 0
    wire = f"{method} {target} HTTP/1.1\r\n{head}Content-Length: {n}\r\n\r\n".encode()
    return wire + data if data else wire


def _host_header(host: str, port: int) -> str:
    h = f"[{host}]" if ":" in host else host
    return h if port in (80, 443) else f"{h}:{port}"


class _SyncConn:
    """One keep-alive socket (TLS-wrapped for https) and the reader of its answers."""

    __slots__ = ("sock", "answer", "timeout")

    def __init__(self, scheme: str, host: str, port: int, timeout: float, ctx: Optional[ssl.SSLContext]) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = (ctx or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.answer = _Answer()
        self.timeout = timeout

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def exchange(self, wire: bytes, timeout: float) -> Tuple[int, bytes, Dict[str, str], bool]:
        sock = self.sock
        if timeout != self.timeout:  # settimeout is a system call or two: only when it changes
            sock.settimeout(timeout)
            self.timeout = timeout
        sock.sendall(wire)
        a = self.answer
        if a.buf or a.start >= 0:
            raise ValueError("the server sent bytes no request asked for")
        while True:
            data = sock.recv(65536)
            if not data:
                if a.eof():
                    return a.take()
                raise ConnectionResetError("the server closed the connection before its answer was whole")
            if a.feed(data):
                return a.take()


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
        self._conn: Optional[_SyncConn] = None
        self._fixed = "Content-Type: application/json\r\nAccept: application/json\r\n"
        if token:
            self._fixed += f"Authorization: Bearer {token}\r\n"
        # Per server: the request headers (Host first).
        self._heads = [f"Host: {_host_header(s[1], s[2])}\r\n{self._fixed}" for s in self._servers]

    def _open(self, timeout: float, only: bool = False) -> _SyncConn:
        """A connection to the first server that accepts one, from the current one on (``only``: the
        current one)."""
        err: Optional[OSError] = None
        for i in range(1 if only else len(self._servers)):
            k = (self._cur + i) % len(self._servers)
            scheme, host, port, base = self._servers[k]
            try:
                c = _SyncConn(scheme, host, port, timeout, self._ctx)
            except OSError as e:
                err = e
                continue
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
        c: Optional[_SyncConn] = None
        try:
            c = _SyncConn(scheme, host, port, t, self._ctx)
            head = f"Host: {_host_header(host, port)}\r\n{self._fixed}"
            status, raw, headers, _ = c.exchange(_request_bytes(method, target, head, data), t)
            return status, _decode(status, raw), headers
        except (OSError, ValueError) as e:
            raise AllotConnectionError(f"{method} {_url_of(server)}{target}: {type(e).__name__}: {e}") from e
        finally:
            if c is not None:
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
                status, raw, headers, keep = self._conn.exchange(
                    _request_bytes(method, target, self._heads[self._cur], data), t)
                if not keep:
                    self.close()
                return status, _decode(status, raw), headers
            except (OSError, ValueError) as e:
                self.close()
                # A reused connection the server had closed: repeat once when that is safe.
                if attempt == 0 and reused and retry and not isinstance(e, socket.timeout):
                    continue
                raise AllotConnectionError(f"{method} {_url_of(self._servers[self._cur])}{target}: "
                                           f"{type(e).__name__}: {e}") from e
        raise AssertionError("unreachable")


class _NotProcessed(ConnectionResetError):
    """A pipelined request behind an answer that closed the connection: the server never read it (RFC 9112
    9.3.2), so it may be sent again whatever its method."""


class _Proto(asyncio.BufferedProtocol):
    """One keep-alive connection of the asyncio pool, pipelined: requests are written in order and their
    answers, read as their bytes arrive (without a stream's buffering), go to the waiting futures in the
    same order. The requests of one event-loop turn leave in one write.

    The transport reads into this connection's own buffer (a BufferedProtocol): a plain Protocol gets a
    new bytes object per read, which asyncio allocates at 256 KiB and shrinks; above glibc's mmap
    threshold that is an mmap, an mremap and a munmap system call for every answer."""

    READ_SIZE = 64 * 1024

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.answer = _Answer()
        self.rbuf = memoryview(bytearray(self.READ_SIZE))
        self.waiters: Deque[asyncio.Future] = collections.deque()
        self.out: List[bytes] = []
        self.closed = False
        self.closing = False  # no new requests: an answer said Connection: close, or one timed out
        self.told_close = False  # an answer said Connection: close: the server reads no request after it
        self.on_idle: Optional[Callable[[], None]] = None  # called when the last answer asked for is in

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, wire: bytes, fut: asyncio.Future) -> None:
        assert self.transport is not None
        self.waiters.append(fut)
        if len(self.waiters) == 1 and not self.out:
            self.transport.write(wire)  # nothing else in flight: at once
            return
        if not self.out:
            fut.get_loop().call_soon(self._flush)
        self.out.append(wire)

    def _flush(self) -> None:
        out, self.out = self.out, []
        if out and not self.closed and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.rbuf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.rbuf[:nbytes])

    def data_received(self, data: Any) -> None:
        a = self.answer
        a.buf += data
        while True:
            try:
                whole = a.parse()
            except ValueError as e:
                self._fail(e)
                return
            if not whole:
                return
            if not self.waiters:
                self._fail(ValueError("the server sent bytes no request asked for"))
                return
            w = self.waiters.popleft()
            got = a.take()
            if not got[3]:
                self.closing = self.told_close = True  # the server reads no request after this answer
            if not w.done():  # done: timed out or cancelled; its late answer is dropped here
                w.set_result(got)
            if self.closing and not self.waiters:
                self.close()
            elif not self.waiters and self.on_idle is not None:
                self.on_idle()

    def _fail(self, e: Exception) -> None:
        """A malformed answer: every request in flight fails with it and the connection closes."""
        ws, self.waiters = self.waiters, collections.deque()
        for w in ws:
            if not w.done():
                w.set_exception(e)
        self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        ws, self.waiters = self.waiters, collections.deque()
        first = True
        for w in ws:
            if self.told_close:  # (a reset too: a server closing with requests unread may send one)
                got: Any = _NotProcessed("the server closed the connection after an earlier answer and did not read this request")
            elif first and exc is None and self.answer.eof():
                got = self.answer.take()  # an answer delimited by the connection's end
            else:
                got = exc if isinstance(exc, OSError) else ConnectionResetError(
                    "the server closed the connection before its answer was whole")
            first = False
            if w.done():
                continue
            if isinstance(got, BaseException):
                w.set_exception(got)
            else:
                w.set_result(got)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            try:
                self.transport.close()
            except RuntimeError:  # its event loop is closed (an earlier asyncio.run): the socket goes with it
                pass


class _Conn:
    __slots__ = ("proto", "server", "base", "head", "held")

    def __init__(self, proto: _Proto, server: int, base: str, head: str) -> None:
        self.proto = proto
        self.server = server  # index in the server list; -1 for a redirect's server the list does not name
        self.base = base      # the server's path prefix
        self.head = head      # the fixed request headers
        self.held = False     # a long poll is on it: nothing goes behind it

    @property
    def load(self) -> int:
        return len(self.proto.waiters)

    def retire(self) -> None:
        """No new requests; closed once the answers already asked for are in (or given up)."""
        p = self.proto
        p.closing = True
        if all(w.done() for w in p.waiters):
            p.close()

    def close(self) -> None:
        self.proto.close()


class AsyncTransport:
    """HTTP/1.1 over asyncio protocols (_Proto): at most ``max_connections`` keep-alive connections, each
    carrying up to ``pipeline`` requests in flight (1, the default: one at a time; more is HTTP/1.1
    pipelining: the writes of one event-loop turn leave in one send, the answers come back in order).

    A request goes to the open connection with the fewest in flight; a new connection opens only once
    every open one carries ``pipeline`` requests (one opening at a time per server, the others wait for
    it). With pipelining, 50 tasks share about 50 / pipeline connections and the client makes far fewer
    system calls; `allot serve` spends more CPU on a pipelined request than on one per connection, which is
    why it is not the default. A long poll (a request with its own timeout, such as ``wait``) never shares
    a connection: it would hold up every answer behind it. When every connection is full, requests wait
    for room. Timeouts are kept by one timer for the whole pool rather than one per request; a request
    that times out leaves its connection to the requests already on it and closes it after them."""

    def __init__(self, url: str, token: Optional[str], timeout: float, max_connections: int = 64,
                 ca_cert: Optional[str] = None, failover_timeout: float = 30.0,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None, pipeline: int = 1) -> None:
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
        self._conns: List[_Conn] = []  # the pool: connections to listed servers
        # Connections that became idle, most recent last: a request takes one without scanning the pool
        # (entries gone stale meanwhile are skipped; _pick's scan still finds every connection).
        self._idle: List[_Conn] = []
        self._max = max_connections
        self._pipeline = pipeline
        self._room: Deque[asyncio.Future] = collections.deque()  # requests waiting for room in a full pool
        self._opening: Dict[int, asyncio.Future] = {}  # server index -> a connection being opened to it
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        # The pool's timer: requests in flight -> (deadline, connection); one TimerHandle at the earliest.
        self._deadlines: Dict[asyncio.Future, Tuple[float, _Proto]] = {}
        self._watch: Optional[asyncio.TimerHandle] = None
        self._watch_at = 0.0
        self._auth = f"Authorization: Bearer {token}\r\n" if token else ""
        # Per server: (path prefix, the fixed headers).
        self._heads: List[Tuple[str, str]] = [(s[3], self._head(s)) for s in self._servers]

    def _head(self, server: Tuple[str, str, int, str]) -> str:
        _, host, port, _ = server
        return f"Host: {_host_header(host, port)}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{self._auth}"

    @property
    def connections(self) -> int:
        """The pool's connections that take new requests (open, not closing)."""
        return sum(1 for c in self._conns if not (c.proto.closed or c.proto.closing))

    async def close(self) -> None:
        conns, self._conns = self._conns, []
        self._idle = []
        for c in conns:
            c.close()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._loop is asyncio.get_running_loop():
            await asyncio.sleep(0)  # lets the transports finish closing

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        # Connections belong to the loop that opened them; a new loop (another asyncio.run) starts afresh.
        for c in self._conns:
            c.close()
        self._conns = []
        self._idle = []
        self._opening = {}
        self._deadlines = {}
        self._watch = None
        self._room = collections.deque()
        self._loop = loop

    async def _open(self, server: Tuple[str, str, int, str], k: int) -> _Conn:
        scheme, host, port, base = server
        ctx = (self._ssl or ssl.create_default_context()) if scheme == "https" else None
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Proto, host, port, ssl=ctx)  # asyncio sets TCP_NODELAY
        conn = _Conn(proto, k, base, self._heads[k][1] if k >= 0 else self._head(server))
        if k >= 0:  # a listed server's: back in the pool when idle (a redirect's own connection is retired)
            proto.on_idle = lambda: self._became_idle(conn)
        return conn

    def _became_idle(self, conn: _Conn) -> None:
        if len(self._idle) > 2 * self._max + 8:  # stale entries piled up: the scan finds them all anyway
            self._idle.clear()
        self._idle.append(conn)

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
        loop = _running_loop(self._loop)
        if loop is not self._loop:
            self._bind(loop)
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        # A request with a timeout of its own is a long poll: a connection of its own, not pipelined.
        alone = timeout is not None
        t = self.timeout if timeout is None else timeout
        trail: List[str] = []
        pace: Optional[_Retry] = None
        while True:
            try:
                answer, where = await self._follow(method, path, data, retry, t, trail, alone)
            except AllotConnectionError as e:
                if not (retry or not e.sent):
                    raise
                trail.append(str(e))
                pace = pace or _Retry(len(self._servers), self.failover_timeout)
                pause = pace.next_pause(not e.sent and e.everywhere)
                if pause is None:
                    raise
                if e.sent:
                    self._cur = (self._cur + 1) % len(self._servers)
                await asyncio.sleep(pause)
                continue
            if retry and _unavailable(answer[0], answer[1]):
                trail.append(f"{where}: HTTP 503 (not ready)")
                pace = pace or _Retry(len(self._servers), self.failover_timeout)
                pause = pace.next_pause(False)
                if pause is not None:
                    self._cur = (self._cur + 1) % len(self._servers)
                    await asyncio.sleep(pause)
                    continue
            self.answered_by, self.trail, self.revision = where, trail, _revision(answer[2])
            return answer

    async def _follow(self, method: str, path: str, data: bytes, retry: bool, t: float,
                      trail: List[str], alone: bool) -> Tuple[Answer, str]:
        """One exchange with the current server, then its redirects; the answer and who gave it."""
        answer, conn_server = await self._once(method, path, data, retry, t, None, alone)
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
                answer, _ = await self._once(method, target, data, retry, t, listed[0], alone)
            else:
                where = dest
                answer, _ = await self._once(method, target, data, retry, t, dest, alone)
        raise AllotConnectionError(f"{method} {self.url}{path}: more than {MAX_REDIRECTS} redirects")

    def _pick(self, want: int, alone: bool) -> Tuple[Optional[_Conn], bool]:
        """The pooled connection to server ``want`` a request should go on (None: open one), and whether
        the pool is full (wait for room)."""
        idle = self._idle
        while idle:  # the connection that became idle last, if it still is one (an idle one: none is better)
            c = idle.pop()
            p = c.proto
            if c.server == want and not (p.closed or p.closing or c.held or p.waiters):
                return c, False
        best: Optional[_Conn] = None
        least = 0
        live = 0
        for c in self._conns:
            p = c.proto
            if p.closed:
                continue
            live += 1
            if c.server != want or p.closing or c.held:
                continue
            n = len(p.waiters)
            if n == 0:  # an idle one: none is better (and the pool's size does not matter)
                return c, False
            if best is None or n < least:
                best, least = c, n
        if best is not None and (least == 0 or (not alone and (least < self._pipeline or live >= self._max))):
            return best, not alone and least >= self._pipeline
        if live < self._max:
            return None, False
        for c in self._conns:  # the pool is full: an idle connection to another server makes room
            if not c.proto.closed and c.server != want and c.load == 0 and not c.held:
                c.close()
                return None, False
        return None, True

    async def _slot(self, want: int, only: bool, alone: bool) -> Tuple[_Conn, bool]:
        """A connection for one request to server ``want`` (``only``: that server, no other), and whether
        it was opened for this request."""
        loop = asyncio.get_running_loop()
        while True:
            if len(self._conns) > 2 * self._max:
                self._conns = [c for c in self._conns if not c.proto.closed]
            conn, full = self._pick(want, alone)
            if conn is not None and not full:
                return conn, False
            if full:  # every connection carries `pipeline` requests: wait until one of them ends
                room = loop.create_future()
                self._room.append(room)
                try:
                    await room
                finally:
                    if not room.done():
                        room.cancel()
                continue
            opening = self._opening.get(want)
            if opening is not None and not alone:
                await asyncio.shield(opening)  # another request is opening one: look again once it is open
                continue
            mine = loop.create_future()
            if not alone:
                self._opening[want] = mine
            try:
                conn = await self._connect(only)
                self._conns.append(conn)
                return conn, True
            finally:
                if self._opening.get(want) is mine:
                    del self._opening[want]
                mine.set_result(None)  # those waiting look again (and open their own if this failed)

    def _expire(self) -> None:
        """The pool's timer: fails the requests past their deadline and retires their connections (closed
        once the requests ahead of them are answered); then waits for the next deadline."""
        self._watch = None
        assert self._loop is not None
        now = self._loop.time()
        nxt = None
        for fut, (deadline, conn) in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[fut]
                if not fut.done():
                    fut.set_exception(asyncio.TimeoutError())
                conn.retire()
            elif nxt is None or deadline < nxt:
                nxt = deadline
        if nxt is not None:
            self._watch_at = nxt
            self._watch = self._loop.call_at(nxt, self._expire)

    async def _exchange(self, conn: _Conn, method: str, target: str, data: bytes, t: float) -> Tuple[int, bytes, Dict[str, str], bool]:
        p = conn.proto
        if p.closed or p.transport is None:
            raise ConnectionResetError("the connection is closed")
        loop = self._loop
        assert loop is not None
        fut = loop.create_future()
        deadline = loop.time() + t
        self._deadlines[fut] = (deadline, conn)
        if self._watch is None or deadline < self._watch_at:
            if self._watch is not None:
                self._watch.cancel()
            self._watch_at = deadline
            self._watch = loop.call_at(deadline, self._expire)
        p.send(_request_bytes(method, target, conn.head, data), fut)
        try:
            return await fut
        finally:
            self._deadlines.pop(fut, None)

    async def _once(self, method: str, path: str, data: bytes, retry: bool, t: float,
                    to: Any, alone: bool) -> Tuple[Answer, Tuple[str, str, int, str]]:
        """One exchange: ``to`` None: with the current server (a new connection to the first that accepts
        one), ``path`` under its base; an index: with that listed server only; a server tuple: on a
        connection of its own to that unlisted server; for both, ``path`` as given."""
        for attempt in (0, 1, 2):
            want = self._cur if to is None else to if isinstance(to, int) else -1
            conn: Optional[_Conn] = None
            opened = False
            opening = True
            try:
                if not isinstance(to, tuple):
                    conn, full = self._pick(want, alone)
                    if full:
                        conn = None
                if conn is None:  # none to go on at once: open one, or wait for room, within the timeout
                    opener = self._open(to, -1) if isinstance(to, tuple) else self._slot(want, to is not None, alone)
                    if _timeout is not None:
                        async with _timeout(t):
                            got = await opener
                    else:
                        got = await asyncio.wait_for(opener, t)
                    conn, opened = (got, True) if isinstance(got, _Conn) else got
                opening = False
                target = conn.base + path if to is None else path
                if alone:
                    conn.held = True
                try:
                    status, raw, headers, keep = await self._exchange(conn, method, target, data, t)
                finally:
                    conn.held = False
                    while self._room:  # wakes one request waiting for room (one that gave up is skipped)
                        waiting = self._room.popleft()
                        if not waiting.done():
                            waiting.set_result(None)
                            break
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                unread = isinstance(e, _NotProcessed)
                if conn is not None and not isinstance(e, asyncio.TimeoutError):
                    conn.retire() if unread else conn.close()
                if (unread and attempt < 2) or (attempt == 0 and not opened and retry and
                                                 not isinstance(e, asyncio.TimeoutError)):
                    continue
                what = "timed out" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}"
                server = to if isinstance(to, tuple) else self._servers[want]
                err = AllotConnectionError(f"{method} {_url_of(server)}{path}: {what}", sent=not opening and not unread)
                err.everywhere = to is None
                raise err from e
            except BaseException:  # cancelled: its answer, if one comes, is dropped; no new requests on it
                if conn is not None:
                    conn.retire()
                raise
            server = self._servers[conn.server] if conn.server >= 0 else to
            if not keep or conn.server < 0:
                conn.retire()
            return (status, _decode(status, raw), headers), server
        raise AssertionError("unreachable")
