"""REST odds and ends: transient queries in SHOW QUERIES and TERMINATE, /is_valid_property,
/v1/metadata, /ws/query, a stalled push client dropped without an incomplete response."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.websockets import WebSocketDisconnect

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.embedded import EmbeddedLog
from rest.app import create_app
from rest.streaming import QueryResponse
from tests.rest.conftest import LiveServer, eventually
from tests.rest.test_push_fanout import PROPS, STREAM, TABLE, PushClient, _produce

with warnings.catch_warnings():  # the in-process client: starlette would rather have httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _lines(r: httpx.Response) -> list[dict[str, Any]]:
    return [orjson.loads(line.rstrip(",").rstrip("]")) for line in r.iter_lines() if line.strip()]


def test_push_query_in_show_queries_and_terminated_through_ksql(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    server.ok(STREAM)
    sql = "SELECT * FROM S EMIT CHANGES;"
    got: list[dict[str, Any]] = []
    with server.http.stream("POST", "/query", json={"ksql": sql}) as r:
        lines = r.iter_lines()
        header = orjson.loads(next(lines).lstrip("[").rstrip(","))["header"]
        qid = header["queryId"]
        (listing,) = server.ok("SHOW QUERIES;")
        assert listing["queries"] == [{"queryString": sql, "sinks": [], "sinkKafkaTopics": [], "id": qid,
                                       "statusCount": {"RUNNING": 1}, "queryType": "PUSH", "state": "RUNNING"}]
        (entity,) = server.ok(f"TERMINATE {qid};")
        assert entity["@type"] == "terminate_query" and entity["queryId"] == qid and entity["wasTerminated"]
        # the client's response ends: a final message closes the JSON array
        got = [orjson.loads(line.rstrip(",").rstrip("]")) for line in lines if line.strip()]
    assert got == [{"finalMessage": "Query Completed"}]
    assert server.state.transient.active == {}
    assert server.ok("SHOW QUERIES;")[0]["queries"] == []


def test_terminate_of_an_unknown_id(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    r = server.http.post("/ksql", json={"ksql": "TERMINATE transient_S_1;"})
    assert r.status_code == 400 and "Unknown queryId: TRANSIENT_S_1" in r.json()["message"]


def test_is_valid_property(live_server: Callable[..., LiveServer]) -> None:
    server = live_server({"ksql.properties.overrides.denylist": "ksql.streams.num.stream.threads"})
    for name in ("auto.offset.reset", "ksql.streams.auto.offset.reset", "commit.interval.ms",
                 "ksql.query.pull.table.scan.enabled", "consumer.max.poll.records", "ssl.keystore.location",
                 "ksql.functions.foo.bar"):
        r = server.http.get(f"/is_valid_property/{name}")
        assert r.status_code == 200 and r.json() is True, (name, r.text)
    r = server.http.get("/is_valid_property/no.such.thing")
    assert r.status_code == 400
    assert r.json() == {"@type": "generic_error", "error_code": 40000,
                        "message": "Not recognizable as ksql, streams, consumer, or producer property: 'no.such.thing'"}
    for name in ("ksql.service.id", "num.stream.threads"):
        r = server.http.get(f"/is_valid_property/{name}")
        assert r.status_code == 400 and "prohibited by the KSQL server" in r.json()["message"], name
    assert server.http.post("/is_valid_property/auto.offset.reset").status_code == 404


def test_metadata(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    info = server.http.get("/info").json()["KsqlServerInfo"]
    scope = {"kafka-cluster": info["kafkaClusterId"], "ksql-cluster": "default_"}
    assert server.http.get("/v1/metadata").json() == {"version": info["version"],
                                                      "clusterId": {"scope": scope, "id": ""}}
    assert server.http.get("/v1/metadata/id").json() == {"scope": scope, "id": ""}


def test_ws_query(tmp_path: Path) -> None:
    engine = KsqlEngine(EmbeddedLog(tmp_path / "log"), Config({}))
    app = create_app(engine)
    with TestClient(app) as client:
        eventually(lambda: app.state.ksql.ready)
        assert client.post("/ksql", json={"ksql": STREAM}).status_code == 200
        assert client.post("/ksql", json={"ksql": TABLE}).status_code == 200
        for i in range(2):
            assert client.post("/ksql", json={"ksql": f"INSERT INTO S (ID, V) VALUES ({i}, 'v{i}');"}).status_code == 200
        asyncio.run_coroutine_threadsafe(engine.run_until_idle(), _loop(client)).result(10)

        def ws(sql: str, **props: Any) -> list[Any]:
            request = json.dumps({"ksql": sql, "streamsProperties": props})
            out: list[Any] = []
            with client.websocket_connect(f"/ws/query?request={request}") as sock:
                try:
                    while True:
                        out.append(json.loads(sock.receive_text()))
                except WebSocketDisconnect as e:
                    out.append(("closed", e.code, e.reason))
            return out

        # table pull query: key columns marked in the schema message
        got = ws("SELECT * FROM T;")
        assert got[0] == [{"name": "ID", "schema": {"type": "INTEGER", "fields": None, "memberSchema": None},
                           "type": "KEY"},
                          {"name": "V", "schema": {"type": "STRING", "fields": None, "memberSchema": None}},
                          {"name": "C", "schema": {"type": "BIGINT", "fields": None, "memberSchema": None}}]
        assert sorted(m["row"]["columns"] for m in got[1:-1]) == [[0, "v0", 1], [1, "v1", 1]]
        assert got[-1] == ("closed", 1000, "")
        # stream pull query: ends with {"error":"done"}
        got = ws("SELECT V FROM S;")
        assert got[1:] == [{"row": {"columns": ["v0"]}}, {"row": {"columns": ["v1"]}}, {"error": "done"},
                           ("closed", 1000, "")]
        # push query with a LIMIT
        got = ws("SELECT ID FROM S EMIT CHANGES LIMIT 2;", **{"auto.offset.reset": "earliest"})
        assert got[1:] == [{"row": {"columns": [0]}}, {"row": {"columns": [1]}}, ("closed", 1000, "Limit Reached")]
        # errors close the socket with the message
        got = ws("SELECT * FROM NOPE;")
        assert got[0][0] == "closed" and got[0][1] == 1003 and "NOPE does not exist" in got[0][2]
        with client.websocket_connect("/ws/query?request=notjson") as sock:
            try:
                sock.receive_text()
            except WebSocketDisconnect as e:
                assert e.code == 1003 and e.reason.startswith("Error parsing request")


def _loop(client: TestClient) -> asyncio.AbstractEventLoop:
    # the app's event loop, where the engine runs (TestClient runs it in a portal thread)
    async def get() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert client.portal is not None
    return client.portal.call(get)  # type: ignore[no-any-return]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self.messages.append(record.getMessage())


def test_a_stalled_client_is_dropped_without_an_incomplete_response(live_server: Callable[..., LiveServer],
                                                                   monkeypatch: Any) -> None:
    monkeypatch.setattr(QueryResponse, "grace_s", 0.2)
    capture = _Capture()
    uv_log = logging.getLogger("uvicorn.error")
    try:
        server = live_server(PROPS)
        uv_log.addHandler(capture)  # once the server has configured its logging
        server.ok(STREAM)
        server.ok(TABLE)
        server.state.transient.max_buffered_rows = 100

        async def go() -> None:
            stalled = PushClient(server, "SELECT * FROM T EMIT CHANGES;", rcvbuf=2048)
            await stalled.open()
            assert stalled.header is not None
            # enough data to fill every buffer between the server and the client, which then
            # falls behind, is cut off and, not reading its error either, dropped
            produced = 0
            while server.state.transient.active and produced < 20_000:
                await asyncio.to_thread(_produce, server, produced, 50, "x" * 1500)
                produced += 50
                await asyncio.sleep(0.01)  # small steps: the server writes until the buffers are full
            await asyncio.to_thread(eventually, lambda: server.state.transient.active == {}, 10)
            await asyncio.sleep(0.3)
            # the server cut the connection: what the client can read ends short, without an end
            await asyncio.wait_for(stalled.read_rows(produced), 10)
            assert len(stalled.rows) < produced and stalled.tail == []
            stalled.close()

        asyncio.run(go())
        assert not [m for m in capture.messages if "without completing response" in m or "Exception in ASGI" in m]
    finally:
        uv_log.removeHandler(capture)
