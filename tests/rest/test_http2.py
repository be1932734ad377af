"""HTTP/2 (``ksql-server --http2``, hypercorn): ``/inserts-stream`` acknowledges each row as it is
written while the request is still open; ``/query-stream`` push queries work and close over it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.rest.conftest import LiveServer, eventually

pytest.importorskip("hypercorn")
pytest.importorskip("h2")

STREAM = "CREATE STREAM S (ID INT KEY, V STRING, N BIGINT) WITH (kafka_topic='s', value_format='JSON', partitions=1);"


def h2_client(server: LiveServer) -> httpx.AsyncClient:
    # cleartext HTTP/2 with prior knowledge: no HTTP/1.1 at all
    return httpx.AsyncClient(base_url=server.url, http1=False, http2=True, timeout=10)


def rows_of(server: LiveServer, sql: str) -> list[list[Any]]:
    body = server.http.post("/query", json={"ksql": sql}).text
    return [json.loads(line.strip().rstrip(","))["row"]["columns"]
            for line in body.split("\n")[1:] if line.startswith('{"row"')]


class H2Duplex:
    """A bare HTTP/2 client stream that sends and receives at the same time (httpx sends the
    whole request body before it reads the response)."""

    def __init__(self, server: LiveServer) -> None:
        import h2.config
        import h2.connection

        self.server = server
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.status: str | None = None
        self.received = b""
        self.ended = False

    async def open(self, path: str) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.server.host, self.server.port)
        self.conn.initiate_connection()
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                                          (":authority", f"{self.server.host}:{self.server.port}")])
        await self._flush()

    async def send(self, data: bytes, end: bool = False) -> None:
        self.conn.send_data(self.sid, data, end_stream=end)
        await self._flush()

    async def read_line(self) -> bytes | None:
        while b"\n" not in self.received:
            if self.ended:
                return None
            await self._receive()
        line, self.received = self.received.split(b"\n", 1)
        return line

    async def _receive(self) -> None:
        import h2.events

        data = await asyncio.wait_for(self.reader.read(65536), 5)
        if not data:
            self.ended = True
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.status = dict(ev.headers)[b":status"].decode()
            elif isinstance(ev, h2.events.DataReceived):
                self.received += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.ended = True
        await self._flush()

    async def _flush(self) -> None:
        self.writer.write(self.conn.data_to_send())
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def test_inserts_stream_acks_each_row_while_the_request_is_open(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(http2=True)
    server.ok(STREAM)

    async def go() -> list[dict[str, Any]]:
        client = H2Duplex(server)
        await client.open("/inserts-stream")
        await client.send(b'{"target":"s","properties":{}}\n')
        acks = []
        for i in range(3):
            await client.send(json.dumps({"id": i, "V": f"v{i}", "n": i * 10}).encode() + b"\n")
            # each row is acknowledged before the next is even sent: the request is still open
            line = await client.read_line()
            assert line is not None
            acks.append(json.loads(line))
        assert client.status == "200"
        await client.send(b'{"ID": 99, "V": "two rows in one chunk"}\n{"ID": 100}', end=True)
        while (line := await client.read_line()) is not None:
            acks.append(json.loads(line))
        await client.close()
        return acks

    acks = asyncio.run(go())
    assert acks == [{"status": "ok", "seq": i} for i in range(5)]
    assert rows_of(server, "SELECT * FROM S;") == [
        [0, "v0", 0], [1, "v1", 10], [2, "v2", 20], [99, "two rows in one chunk", None], [100, None, None]]


def test_inserts_stream_errors(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(http2=True)
    server.ok(STREAM)
    server.ok("CREATE TABLE W AS SELECT ID, COUNT(*) AS C FROM S WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;")

    async def post(body: bytes, accept: str | None = None) -> httpx.Response:
        async with h2_client(server) as client:
            headers = {"accept": accept} if accept else {}
            return await client.post("/inserts-stream", content=body, headers=headers)

    async def go() -> None:
        r = await post(b'{"target":"nope"}\n{"ID": 1}\n')
        assert (r.status_code, r.json()["error_code"]) == (400, 40001)
        assert r.json()["message"] == "Cannot insert values into an unknown stream/table: nope"
        r = await post(b'{"target":"W"}\n')
        assert r.json()["message"] == "Cannot insert values into windowed stream/table"
        r = await post(b'{"properties":{}}\n')
        assert (r.status_code, r.json()["error_code"]) == (400, 40000)
        assert "'target'" in r.json()["message"]
        r = await post(b'not json\n')
        assert (r.status_code, r.json()["error_code"]) == (400, 40000)

        # a bad row: everything before it is written and acknowledged, then the error ends it
        r = await post(b'{"target":"S"}\n{"ID": 1, "V": "a"}\n{"ID": \n{"ID": 3}\n')
        lines = [json.loads(x) for x in r.text.strip().split("\n")]
        assert lines == [{"status": "ok", "seq": 0},
                         {"@type": "InsertError", "error_code": 40000, "message": "Invalid JSON in inserts stream",
                          "status": "error", "seq": 1}]
        r = await post(b'{"target":"S"}\n{"ID": "not a number"}\n')
        (err,) = [json.loads(x) for x in r.text.strip().split("\n")]
        assert err["status"] == "error" and err["seq"] == 0 and "ID" in err["message"]

        r = await post(b'{"target":"S"}\n{"ID": 5}\n{"ID": 6}\n', accept="application/json")
        assert r.headers["content-type"] == "application/json"
        assert r.json() == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]
        r = await post(b'{"target":"S"}\n', accept="application/json")
        assert r.json() == []

    asyncio.run(go())
    # over HTTP/1.1 the endpoint refuses, as ksqlDB does
    r = server.http.post("/inserts-stream", content=b'{"target":"S"}\n{"ID": 1}\n')
    assert (r.status_code, r.json()) == (400, {"@type": "generic_error", "error_code": 40004,
                                               "message": "This endpoint is only available when using HTTP2"})


def test_query_stream_push_query_over_http2_and_close_query(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(http2=True)
    server.ok(STREAM)

    async def go() -> None:
        async with h2_client(server) as client:
            async with client.stream("POST", "/query-stream", json={"sql": "SELECT ID, V FROM S EMIT CHANGES;"}) as r:
                assert r.http_version == "HTTP/2" and r.status_code == 200
                lines = r.aiter_lines()
                meta = json.loads(await anext(lines))
                assert meta["columnNames"] == ["ID", "V"] and meta["queryId"].startswith("transient_S_")
                # the query runs on the server: write through the HTTP/2 inserts endpoint meanwhile
                ins = await client.post("/inserts-stream", content=b'{"target":"S"}\n{"ID": 7, "V": "x"}\n')
                assert ins.json() == {"status": "ok", "seq": 0}
                assert json.loads(await anext(lines)) == [7, "x"]
                closed = await client.post("/close-query", json={"queryId": meta["queryId"]})
                assert closed.status_code == 200
                assert [line async for line in lines if line.strip()] == []

    asyncio.run(go())
    eventually(lambda: server.state.transient.active == {})
