"""Push queries at scale, against a real uvicorn server with raw asyncio HTTP clients.

A push query over a table that a persistent query writes subscribes to that query's output in
process: a thousand clients cost no consumer each, every one gets every change in order, and one
client that stops reading delays nobody. A client that falls too far behind is cut off; a client
that goes away releases its query at once.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ksql.topics.base import Record
from tests.rest.conftest import LiveServer, eventually

STREAM = "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
TABLE = "CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS V, COUNT(*) AS C FROM S GROUP BY ID;"
# every change of the table reaches its readers (no record cache coalescing updates of a key)
PROPS = {"ksql.streams.cache.max.bytes.buffering": 0, "ksql.max.push.queries": 2000}
KEYS = 37


class PushClient:
    """One ``POST /query`` over a raw socket, reading the chunked body line by line."""

    def __init__(self, server: LiveServer, sql: str, rcvbuf: int | None = None) -> None:
        self.server = server
        self.sql = sql
        self.rcvbuf = rcvbuf
        self.header: dict[str, Any] | None = None
        self.rows: list[list[Any]] = []
        self.tail: list[dict[str, Any]] = []  # what came after the rows (final message, error)
        self._pending = b""

    async def open(self) -> None:
        sock = socket.socket()
        if self.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.server.host, self.server.port))
        # a client that stops reading must stop the socket too: asyncio reads ahead up to 2 x limit
        limit = 1 << 20 if self.rcvbuf is None else 4096
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=limit)
        body = orjson.dumps({"ksql": self.sql})
        self.writer.write(b"POST /query HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % (self.server.host.encode(), self.server.port, len(body))
                          + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower()
        first = await self.next_line()
        assert first is not None
        self.header = orjson.loads(first.strip().lstrip(b"[").rstrip(b","))["header"]

    async def next_line(self) -> bytes | None:
        while b"\n" not in self._pending:
            size_line = await self.reader.readline()
            if not size_line:
                return None
            size = int(size_line.strip(), 16)
            try:
                data = await self.reader.readexactly(size + 2)
            except asyncio.IncompleteReadError:
                return None  # the server dropped the connection
            if size == 0:
                return None
            self._pending += data[:-2]
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    async def read_rows(self, n: int) -> None:
        while len(self.rows) < n:
            line = await self.next_line()
            if line is None:
                return
            element = orjson.loads(line.rstrip(b"],").rstrip(b",") if line.endswith(b",") else line.rstrip(b"]"))
            if "row" in element:
                self.rows.append(element["row"]["columns"])
            else:
                self.tail.append(element)
                return

    def close(self) -> None:
        self.writer.transport.abort()  # the client just goes away


def _produce(server: LiveServer, start: int, n: int, pad: str = "") -> None:
    records = [Record(struct.pack(">i", i % KEYS), orjson.dumps({"V": f"v{i}{pad}"}), 1_000 + i)
               for i in range(start, start + n)]
    # the embedded log is thread-safe: append from the test thread while the server runs
    asyncio.run(server.engine.backend.produce("s", records))


def _expected(n: int, pad: str = "") -> list[list[Any]]:
    return [[i % KEYS, f"v{i}{pad}", i // KEYS + 1] for i in range(n)]


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


@pytest.mark.slow
def test_thousand_push_clients_each_get_every_change_in_order_despite_a_stalled_one(
        live_server: Callable[..., LiveServer]) -> None:
    server = live_server(PROPS)
    server.ok(STREAM)
    server.ok(TABLE)
    (writer,) = server.engine.queries.values()
    clients_n, changes = 1000, 400
    sql = "SELECT * FROM T EMIT CHANGES;"

    async def connect(clients: list[PushClient]) -> None:
        for i in range(0, len(clients), 100):  # not all at once: the listen backlog is finite
            await asyncio.gather(*(c.open() for c in clients[i:i + 100]))

    async def go() -> dict[str, float]:
        rss0 = _rss_kb()
        clients = [PushClient(server, sql) for _ in range(clients_n)]
        t0 = time.monotonic()
        await connect(clients)
        connected_s = time.monotonic() - t0
        # a client that reads its header and then nothing more, with a tiny socket buffer
        stalled = PushClient(server, sql, rcvbuf=2048)
        await stalled.open()
        eventually(lambda: len(server.state.transient.active) == clients_n + 1)
        rss_per_client_kb = (_rss_kb() - rss0) / (clients_n + 1)
        assert all(c.header == {"queryId": c.header["queryId"], "schema": "`ID` INTEGER, `V` STRING, `C` BIGINT"}
                   for c in clients if c.header is not None)
        # one subscription on the writer's sink, however many clients
        assert len(writer.sink.taps) == 1 if writer.sink else False
        (subs,) = server.state.transient.subscriptions.values()
        assert len(subs.subscribers) == clients_n + 1

        t1 = time.monotonic()
        readers = asyncio.gather(*(c.read_rows(changes) for c in clients))
        for start in range(0, changes, 100):
            await asyncio.to_thread(_produce, server, start, 100)
        await asyncio.wait_for(readers, 60)
        fanout_s = time.monotonic() - t1
        expected = _expected(changes)
        for c in clients:
            assert c.rows == expected and c.tail == []
        # the stalled client holds a bounded backlog on the server and slowed nobody down
        stalled_stream = server.state.transient.active[stalled.header["queryId"]] if stalled.header else None
        assert stalled_stream is not None and stalled_stream.buffered <= stalled_stream.max_buffered

        for c in [*clients, stalled]:
            c.close()
        return {"connect_s": connected_s, "fanout_s": fanout_s, "rss_per_client_kb": rss_per_client_kb}

    figures = asyncio.run(go())
    # every query released: no stream, no subscriber, no tap left on the writer
    eventually(lambda: server.state.transient.active == {}, timeout=10)
    assert server.state.transient.subscriptions == {}
    assert writer.sink is not None and writer.sink.taps == []
    print(f"\n{clients_n} push clients x {changes} changes: connect {figures['connect_s']:.1f}s, "
          f"fan-out {figures['fanout_s']:.1f}s ({clients_n * changes / figures['fanout_s']:,.0f} rows/s), "
          f"~{figures['rss_per_client_kb']:.0f} KiB per client (server and client)")


def test_a_client_that_stops_reading_is_cut_off_and_released(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(PROPS)
    server.ok(STREAM)
    server.ok(TABLE)
    server.state.transient.max_buffered_rows = 200
    (writer,) = server.engine.queries.values()
    changes = 3000
    pad = "x" * 1500  # rows big enough that socket buffers cannot hide the stall

    async def go() -> None:
        stalled = PushClient(server, "SELECT * FROM T EMIT CHANGES;", rcvbuf=2048)
        fast = PushClient(server, "SELECT * FROM T EMIT CHANGES;")
        await stalled.open()
        await fast.open()
        reading = asyncio.ensure_future(fast.read_rows(changes))
        for start in range(0, changes, 50):
            await asyncio.to_thread(_produce, server, start, 50, pad)
            await asyncio.sleep(0.01)  # let the fast client keep up: it is only the stalled one that lags
        await asyncio.wait_for(reading, 30)
        assert fast.rows == _expected(changes, pad)
        # cut off: its stream failed, released and gone (after the grace to take its error)
        stalled_id = stalled.header["queryId"] if stalled.header else ""
        await asyncio.to_thread(eventually, lambda: list(server.state.transient.active) == [fast.header["queryId"]
                                                                                            if fast.header else ""])
        assert stalled_id not in server.state.transient.active
        (subs,) = server.state.transient.subscriptions.values()
        assert len(subs.subscribers) == 1 and len(writer.sink.taps if writer.sink else []) == 1
        # the writer went on regardless
        assert (await server.engine.backend.end_offsets([("T", 0)]))[("T", 0)] == changes
        # what the stalled client can still read ends short: the server dropped it
        await asyncio.wait_for(stalled.read_rows(changes), 10)
        assert len(stalled.rows) < changes
        fast.close()
        stalled.close()

    asyncio.run(go())


def test_disconnect_releases_the_query_at_once(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(PROPS)
    server.ok(STREAM)
    server.ok(TABLE)
    (writer,) = server.engine.queries.values()

    async def go() -> None:
        # one push query with its own task (a stream: its own consumer), one tapping the table
        own = PushClient(server, "SELECT * FROM S EMIT CHANGES;")
        tap = PushClient(server, "SELECT ID, C FROM T WHERE C > 0 EMIT CHANGES;")
        await own.open()
        await tap.open()
        assert own.header and tap.header
        names = server.task_names()
        assert f"transient-{own.header['queryId']}" in names
        assert writer.sink is not None and len(writer.sink.taps) == 1
        await asyncio.to_thread(_produce, server, 0, 3)
        await own.read_rows(3)
        await tap.read_rows(3)
        assert own.rows == [[i, f"v{i}"] for i in range(3)] and tap.rows == [[i, 1] for i in range(3)]
        own.close()
        tap.close()
        await asyncio.sleep(0)  # the sockets close on the next turn of this loop
        t0 = time.monotonic()
        await asyncio.to_thread(eventually, lambda: server.state.transient.active == {}, 5, 0.005)
        released_s = time.monotonic() - t0
        assert released_s < 1.0
        assert not [n for n in server.task_names() if n.startswith("transient-")]
        assert writer.sink.taps == [] and server.state.transient.subscriptions == {}

    asyncio.run(go())
