"""The client's own HTTP/1.1 reader (allot._http: _Answer, the sync socket and the asyncio protocol)
against a loopback server that answers with scripted bytes: answers split anywhere, delimited by
Content-Length or by the connection's end, and the malformed ones, which must fail as a connection error
with what was wrong and never hand back a half-read answer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Callable, Dict, List, Optional

import pytest

from allot import AllotConnectionError
from allot._http import MAX_HEAD, AsyncTransport, SyncTransport, _Answer


class Scripted:
    """A loopback server: each accepted connection reads one request head (and its Content-Length body) and
    then runs ``script(conn, n)`` (n: the request's number on that connection), which writes the answer."""

    def __init__(self, script: Callable[[socket.socket, int], None]) -> None:
        self.script = script
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: List[bytes] = []
        self.connections = 0
        self.local = threading.local()  # .request: the request the script is answering (its thread's)
        self.pipelined = 0  # requests read while the one before them on its connection was not yet answered
        self.accepted: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.accepted.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        buf = b""
        n = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                while len(buf) < length:
                    buf += c.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                self.local.request = self.requests[-1]
                buf = buf[length:]
                if b"\r\n\r\n" in buf:
                    self.pipelined += 1
                self.script(c, n)
                n += 1
        except OSError:
            pass
        finally:
            c.close()

    def close(self) -> None:
        self.sock.close()

    def close_all(self) -> None:
        """Ends every connection accepted so far (as a server that restarts does)."""
        for c in self.accepted:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def answer(status: int, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


@pytest.fixture
def scripted():
    made: List[Scripted] = []

    def make(script: Callable[[socket.socket, int], None]) -> Scripted:
        s = Scripted(script)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def both(url: str, method: str = "GET", path: str = "/x", body=None, retry: bool = False, timeout: float = 5.0):
    """The answer of the sync and of the async transport (one request each, fresh transports)."""
    sync = SyncTransport(url, None, timeout, failover_timeout=0.2)
    try:
        a = sync.request(method, path, body, retry=retry)
    finally:
        sync.close()

    async def run():
        t = AsyncTransport(url, None, timeout, failover_timeout=0.2)
        try:
            return await t.request(method, path, body, retry=retry)
        finally:
            await t.close()

    return a, asyncio.run(run())


def test_answers_split_at_every_byte_are_read_whole(scripted):
    wire = answer(201, b'{"id":"a1","state":"placed"}', "X-Allot-Revision: 7\r\n")

    def one_byte_at_a_time(c: socket.socket, n: int) -> None:
        for i in range(len(wire)):
            c.sendall(wire[i:i + 1])
            if i % 16 == 0:
                time.sleep(0.001)

    s = scripted(one_byte_at_a_time)
    for status, body, headers in both(s.url, "POST", "/v1/allocations", {"tenant": "t"}):
        assert status == 201 and body == {"id": "a1", "state": "placed"}
        assert headers["x-allot-revision"] == "7" and headers["content-type"] == "application/json"
    # The request went out whole: its line, Host, the JSON body with its length.
    first = s.requests[0]
    assert first.startswith(b"POST /v1/allocations HTTP/1.1\r\nHost: 127.0.0.1:")
    assert first.endswith(b'\r\nContent-Length: 14\r\n\r\n{"tenant":"t"}')


def test_keep_alive_reuses_one_connection_and_a_big_body_arrives_whole(scripted):
    big = b'{"v":"' + b"x" * 3_000_000 + b'"}'
    s = scripted(lambda c, n: c.sendall(answer(200, big if n % 2 else b"{}")))
    t = SyncTransport(s.url, None, 10.0)
    try:
        for i in range(6):
            status, body, _ = t.request("GET", f"/n{i}")
            assert status == 200
            assert body == ({"v": "x" * 3_000_000} if i % 2 else {})
    finally:
        t.close()
    assert s.connections == 1

    async def run():
        a = AsyncTransport(s.url, None, 10.0, max_connections=1)
        try:
            for i in range(6):
                status, body, _ = await a.request("GET", f"/n{i}")
                assert status == 200 and len(body.get("v", "")) == (3_000_000 if i % 2 else 0)
        finally:
            await a.close()

    asyncio.run(run())
    assert s.connections == 2


def test_an_answer_ended_by_the_connection_is_read_to_its_end(scripted):
    def no_length(c: socket.socket, n: int) -> None:
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"done":')
        time.sleep(0.01)
        c.sendall(b"true}")
        c.shutdown(socket.SHUT_WR)
        c.close()

    s = scripted(no_length)
    for status, body, _ in both(s.url):
        assert status == 200 and body == {"done": True}


@pytest.mark.parametrize("wire, what", [
    (b"HTTP/1.1 OK\r\n\r\n", "bad status line"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "chunked answers are not supported"),
    (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (MAX_HEAD + 10), "head is over"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"cut\":", "closed the connection before its answer was whole"),
])
def test_a_malformed_or_cut_answer_is_a_connection_error_naming_it(scripted, wire, what):
    def bad(c: socket.socket, n: int) -> None:
        c.sendall(wire)
        time.sleep(0.05)
        c.close()

    s = scripted(bad)
    sync = SyncTransport(s.url, None, 5.0, failover_timeout=0.1)
    with pytest.raises(AllotConnectionError) as e:
        sync.request("GET", "/x")
    assert what in str(e.value)
    sync.close()

    async def run():
        t = AsyncTransport(s.url, None, 5.0, failover_timeout=0.1)
        try:
            with pytest.raises(AllotConnectionError) as e:
                await t.request("GET", "/x")
            assert what in str(e.value)
            assert t.connections == 0  # the broken connection is not kept
        finally:
            await t.close()

    asyncio.run(run())


def test_a_silent_server_times_out_and_a_late_answer_is_never_taken_for_the_next(scripted):
    def late(c: socket.socket, n: int) -> None:
        if n == 0:
            time.sleep(0.6)
        c.sendall(answer(200, b'{"n":%d}' % n))

    s = scripted(late)
    sync = SyncTransport(s.url, None, 0.3, failover_timeout=0.1)
    with pytest.raises(AllotConnectionError) as e:
        sync.request("GET", "/first")
    assert "timed out" in str(e.value) or "TimeoutError" in str(e.value)
    # The next request goes on a new connection and gets its own answer, not the late one.
    assert sync.request("GET", "/second", timeout=5.0)[1] == {"n": 0}
    sync.close()

    async def run() -> Optional[dict]:
        t = AsyncTransport(s.url, None, 0.3, failover_timeout=0.1)
        try:
            with pytest.raises(AllotConnectionError) as e:
                await t.request("GET", "/first")
            assert "timed out" in str(e.value)
            return (await t.request("GET", "/second", timeout=5.0))[1]
        finally:
            await t.close()

    assert asyncio.run(run()) == {"n": 0}


def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool(scripted):
    s = scripted(lambda c, n: (time.sleep(0.5 if n == 0 else 0), c.sendall(answer(200, b'{"n":%d}' % n))))

    async def run():
        t = AsyncTransport(s.url, None, 5.0, max_connections=1)
        try:
            task = asyncio.ensure_future(t.request("GET", "/slow"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert t.connections == 0  # its answer may still come: the connection takes no more requests
            return (await t.request("GET", "/next"))[1]
        finally:
            await t.close()

    assert asyncio.run(run()) == {"n": 0}
    assert s.connections == 2


def test_the_reader_alone():
    a = _Answer()
    wire = answer(200, b'{"a":1}') + answer(404, b"{}")
    assert not a.feed(wire[:10])
    assert a.feed(wire[10:])  # the first answer is whole; the second's bytes wait in the buffer
    assert a.take() == (200, b'{"a":1}', {"content-type": "application/json", "content-length": "7"}, True)
    assert a.parse() and a.take()[0] == 404
    assert not a.buf
    closing = _Answer()
    assert closing.feed(answer(200, b"{}", "Connection: close\r\n"))
    assert closing.take()[3] is False
    http10 = _Answer()
    assert http10.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert http10.take()[3] is False


def path_of(s: Scripted) -> bytes:
    return s.local.request.split(b" ")[1]


def echo_path(s_ref: List[Scripted], delay: float = 0.0,
              slow: Optional[Dict[bytes, float]] = None) -> Callable[[socket.socket, int], None]:
    """A script answering each request with its path, after `delay` seconds (`slow`: per path)."""
    def echo(c: socket.socket, n: int) -> None:
        path = path_of(s_ref[0])
        pause = (slow or {}).get(path, delay)
        if pause:
            time.sleep(pause)
        c.sendall(answer(200, b'{"path":"%s"}' % path))
    return echo


def echoing(scripted, delay: float = 0.0, slow: Optional[Dict[bytes, float]] = None) -> Scripted:
    """A scripted server that answers each request with its path (echo_path)."""
    ref: List[Scripted] = []
    s = scripted(echo_path(ref, delay, slow))
    ref.append(s)
    return s


@pytest.mark.parametrize("pipeline", [8, 1])
def test_concurrent_requests_share_pipelined_connections_and_each_gets_its_own_answer(scripted, pipeline):
    s = echoing(scripted)

    async def run() -> int:
        t = AsyncTransport(s.url, None, 5.0, pipeline=pipeline)
        try:
            got = await asyncio.gather(*(t.request("POST", f"/r{i}", {"i": i}) for i in range(50)))
            assert [g[1] for g in got] == [{"path": f"/r{i}"} for i in range(50)]
            return t.connections
        finally:
            await t.close()

    pooled = asyncio.run(run())
    assert pooled == s.connections
    if pipeline == 8:
        # 50 requests in flight on at most ceil(50 / 8) connections, not one each, several behind another.
        assert s.connections <= 7 and s.pipelined > 0
    else:
        # One request at a time on each connection: never one sent before the last one's answer.
        assert s.connections > 1 and s.pipelined == 0
    assert sorted(r.split(b" ")[1] for r in s.requests) == sorted(b"/r%d" % i for i in range(50))


def test_an_idle_connection_is_reused_and_one_the_server_closed_is_not(scripted):
    """Requests one after another take the connection that became idle last (the pool's idle list), however
    large the pool; a connection the server closed while idle is skipped, and a new one opened."""
    s = echoing(scripted)

    async def run() -> None:
        t = AsyncTransport(s.url, None, 5.0, max_connections=16)
        try:
            for i in range(20):
                assert (await t.request("GET", f"/seq{i}"))[1] == {"path": f"/seq{i}"}
            assert s.connections == 1 and t.connections == 1
            # Six at once open more; afterwards each of them is idle and reused, none opened.
            await asyncio.gather(*(t.request("GET", f"/burst{i}") for i in range(6)))
            opened = s.connections
            assert opened > 1
            for i in range(20):
                await t.request("GET", f"/after{i}")
            assert s.connections == opened
            # The server closes every connection it holds: the idle ones are skipped, a new one opens.
            s.close_all()
            await asyncio.sleep(0.2)
            assert (await t.request("GET", "/fresh"))[1] == {"path": "/fresh"}
            assert s.connections == opened + 1
        finally:
            await t.close()

    asyncio.run(run())


def test_requests_behind_an_answer_that_closes_the_connection_are_sent_again(scripted):
    def close_after_the_second(c: socket.socket, n: int) -> None:
        if n == 1 and s.connections == 1:
            c.sendall(answer(200, b'{"path":"%s"}' % path_of(s), "Connection: close\r\n"))
            c.shutdown(socket.SHUT_WR)  # a lingering close: the requests behind stay unread
            while c.recv(65536):
                pass
            raise OSError("this server reads no more of this connection")
        c.sendall(answer(200, b'{"path":"%s"}' % path_of(s)))

    s = scripted(close_after_the_second)

    async def run() -> None:
        t = AsyncTransport(s.url, None, 5.0, pipeline=8)
        try:
            # POSTs without retry: resent all the same, since the server never read them (RFC 9112 9.3.2).
            got = await asyncio.gather(*(t.request("POST", f"/p{i}", {"i": i}) for i in range(5)))
            assert [g[1] for g in got] == [{"path": f"/p{i}"} for i in range(5)]
        finally:
            await t.close()

    asyncio.run(run())
    assert s.connections == 2
    # Each request was read once: two on the first connection, the three behind the close on the second.
    assert [r.split(b" ")[1] for r in s.requests] == [b"/p0", b"/p1", b"/p2", b"/p3", b"/p4"]


def test_a_long_poll_has_a_connection_of_its_own(scripted):
    s = echoing(scripted, slow={b"/poll": 1.5})

    async def run() -> float:
        t = AsyncTransport(s.url, None, 5.0, max_connections=2, pipeline=8)
        try:
            poll = asyncio.ensure_future(t.request("GET", "/poll", timeout=5.0))  # its own timeout: a long poll
            await asyncio.sleep(0.05)
            t0 = time.monotonic()
            got = await asyncio.gather(*(t.request("GET", f"/q{i}") for i in range(20)))
            quick = time.monotonic() - t0
            assert [g[1] for g in got] == [{"path": f"/q{i}"} for i in range(20)]
            assert (await poll)[1] == {"path": "/poll"}
            return quick
        finally:
            await t.close()

    # Behind the poll the 20 would have waited its 1.5 s; on the pool's other connection they do not.
    assert asyncio.run(run()) < 1.0
    assert s.connections == 2


def test_a_timed_out_request_leaves_the_one_before_it_its_answer_and_the_next_a_new_connection(scripted):
    s = echoing(scripted, slow={b"/late": 0.6})

    async def run() -> None:
        t = AsyncTransport(s.url, None, 0.3, failover_timeout=0.1, pipeline=8)
        try:
            a, b = await asyncio.gather(t.request("GET", "/a"), t.request("GET", "/late"), return_exceptions=True)
            assert a[1] == {"path": "/a"}
            assert isinstance(b, AllotConnectionError) and "timed out" in str(b)
            assert t.connections == 0  # the late answer may still come: nothing new goes on that connection
            assert (await t.request("GET", "/c"))[1] == {"path": "/c"}
            await asyncio.sleep(0.5)  # the late answer arrives and is dropped
            assert (await t.request("GET", "/d"))[1] == {"path": "/d"}
        finally:
            await t.close()

    asyncio.run(run())
    assert s.connections == 2


def test_a_full_pool_holds_requests_until_there_is_room(scripted):
    s = echoing(scripted, delay=0.01)

    async def run() -> None:
        t = AsyncTransport(s.url, None, 5.0, max_connections=1, pipeline=2)
        try:
            got = await asyncio.gather(*(t.request("GET", f"/w{i}") for i in range(12)))
            assert [g[1] for g in got] == [{"path": f"/w{i}"} for i in range(12)]
        finally:
            await t.close()

    asyncio.run(run())
    assert s.connections == 1


def test_a_request_that_gives_up_waiting_for_room_does_not_hold_up_the_next(scripted):
    s = echoing(scripted, slow={b"/slow": 0.4})

    async def run() -> None:
        t = AsyncTransport(s.url, None, 5.0, max_connections=1)
        try:
            slow = asyncio.ensure_future(t.request("GET", "/slow"))
            await asyncio.sleep(0.05)
            impatient = asyncio.ensure_future(t.request("GET", "/impatient"))  # waits for room, then gives up
            await asyncio.sleep(0.05)
            impatient.cancel()
            patient = asyncio.ensure_future(t.request("GET", "/patient"))
            assert (await slow)[1] == {"path": "/slow"}
            # The room the slow one leaves goes to the patient one, past the one that gave up.
            assert (await asyncio.wait_for(patient, 2.0))[1] == {"path": "/patient"}
            with pytest.raises(asyncio.CancelledError):
                await impatient
        finally:
            await t.close()

    asyncio.run(run())
    assert [r.split(b" ")[1] for r in s.requests] == [b"/slow", b"/patient"]
