"""End-to-end tests of the REST server: a real uvicorn server in a thread, an embedded log in a
temporary directory, httpx as the client (streaming for push queries)."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from testlib import eventually, free_port

from ksql.cli.shell import Client, Shell
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog
from rest.app import create_app


@dataclass
class Server:
    url: str
    engine: KsqlEngine
    app: Any
    http: httpx.Client

    def ksql(self, sql: str, **extra: Any) -> httpx.Response:
        return self.http.post("/ksql", json={"ksql": sql, **extra})

    def ok(self, sql: str, **extra: Any) -> list[dict[str, Any]]:
        r = self.ksql(sql, **extra)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def query(self, sql: str, **extra: Any) -> httpx.Response:
        return self.http.post("/query", json={"ksql": sql, **extra})

    @property
    def active_queries(self) -> dict[str, Any]:
        return self.app.state.ksql.transient.active  # type: ignore[no-any-return]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    engine = KsqlEngine(EmbeddedLog(tmp_path / "log"), Config({}))
    app = create_app(engine)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       timeout_graceful_shutdown=1))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    eventually(lambda: uv.started)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as http:
        eventually(lambda: http.get("/info").status_code == 200)
        yield Server(url, engine, app, http)
    uv.should_exit = True
    thread.join(10)


STREAM = "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
EARLIEST = {"streamsProperties": {"auto.offset.reset": "earliest"}}


def _lines(body: str) -> list[str]:
    return body.split("\n")


# -- info and plumbing ------------------------------------------------------------------------------
def test_info_health_and_routing(server: Server) -> None:
    info = server.http.get("/info").json()["KsqlServerInfo"]
    assert info["ksqlServiceId"] == "default_"
    assert info["serverStatus"] == "RUNNING"
    assert set(info) == {"version", "kafkaClusterId", "ksqlServiceId", "serverStatus"}
    health = server.http.get("/healthcheck").json()
    assert health["isHealthy"] is True and health["serverState"] == "READY"
    assert server.http.get("/chc/ready").json() == {}
    assert server.http.get("/chc/live").json() == {}
    root = server.http.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/info"
    for r in (server.http.get("/no/such/path"), server.http.get("/ksql")):
        assert r.status_code == 404 and r.text == "Not Found"


# -- statements -------------------------------------------------------------------------------------
def test_create_stream_ctas_and_insert_values(server: Server) -> None:
    (created,) = server.ok(STREAM)
    assert created["@type"] == "currentStatus"
    assert created["commandId"] == "stream/`S`/create"
    assert created["commandStatus"] == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    (ctas,) = server.ok("CREATE TABLE T AS SELECT ID, COUNT(*) AS C FROM S GROUP BY ID;")
    assert ctas["commandStatus"]["queryId"] == "CTAS_T_1" or ctas["commandStatus"]["queryId"].startswith("CTAS_T_")
    assert server.ok("INSERT INTO S (ID, V) VALUES (1, 'a'); INSERT INTO S (ID, V) VALUES (1, 'b');") == []
    assert server.ok("   ") == []
    streams = server.ok("SHOW STREAMS;")[0]
    assert [s["name"] for s in streams["streams"]] == ["S"]


def test_statement_errors(server: Server) -> None:
    r = server.ksql("CREATE STREAM BAD")
    assert r.status_code == 400
    body = r.json()
    assert body["@type"] == "statement_error" and body["error_code"] == 40001
    assert body["statementText"] == "CREATE STREAM BAD" and body["entities"] == []

    r = server.ksql("DROP STREAM NOPE;")
    assert (r.status_code, r.json()["error_code"], r.json()["message"]) == (400, 40001, "Stream NOPE does not exist.")

    r = server.http.post("/ksql", content=b"{not json")
    assert r.status_code == 400
    assert r.json()["@type"] == "generic_error" and r.json()["error_code"] == 40000

    r = server.http.post("/ksql", json={"ksql": 42})
    assert (r.status_code, r.json()["error_code"]) == (400, 40000)

    server.ok(STREAM)
    r = server.ksql("SELECT * FROM S;")
    assert (r.status_code, r.json()["error_code"]) == (400, 40002)
    assert "'/query'" in r.json()["message"]

    r = server.ksql("SHOW STREAMS;", streamsProperties={"ksql.service.id": "x"})
    assert (r.status_code, r.json()["error_code"]) == (400, 40000)
    assert "[ksql.service.id]" in r.json()["message"]

    r = server.query("SELECT * FROM NOPE EMIT CHANGES;")
    assert (r.status_code, r.json()["error_code"]) == (400, 40001)
    assert r.json()["statementText"] == "SELECT * FROM NOPE EMIT CHANGES;"
    assert r.json()["message"].startswith("NOPE does not exist.")

    r = server.query("  ")
    assert (r.status_code, r.json()["message"]) == (400, '"ksql" field must be populated')
    r = server.query("SHOW STREAMS;")
    assert (r.status_code, r.json()["error_code"]) == (400, 40000)


# -- push queries -----------------------------------------------------------------------------------
def test_push_query_with_limit(server: Server) -> None:
    server.ok(STREAM)
    server.ok("INSERT INTO S (ID, V) VALUES (1, 'a'); INSERT INTO S (ID, V) VALUES (2, 'b');"
              "INSERT INTO S (ID, V) VALUES (3, 'c');")
    r = server.query("SELECT * FROM S EMIT CHANGES LIMIT 2;", **EARLIEST)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.ksql.v1+json")
    lines = _lines(r.text)
    header = json.loads(lines[0][1:-1])["header"]
    assert header["queryId"].startswith("transient_S_")
    assert header["schema"] == "`ID` INTEGER, `V` STRING"
    assert lines[1:] == ['{"row":{"columns":[1,"a"]}},', '{"row":{"columns":[2,"b"]}},',
                         '{"finalMessage":"Limit Reached"}]']
    json.loads(r.text)  # the whole body is one JSON array

    r = server.query("SELECT V, ID FROM S EMIT CHANGES LIMIT 0;", **EARLIEST)
    assert _lines(r.text)[1] == '{"finalMessage":"Limit Reached"}]'
    assert json.loads(r.text)[0]["header"]["schema"] == "`V` STRING, `ID` INTEGER"
    assert server.active_queries == {}


def _read_element(lines: Iterator[str]) -> dict[str, Any]:
    for line in lines:
        text = line.strip().lstrip("[").rstrip(",]")
        if text:
            return json.loads(text)  # type: ignore[no-any-return]
    raise AssertionError("stream ended")


def test_push_query_streams_until_client_disconnects(server: Server) -> None:
    server.ok(STREAM)
    with server.http.stream("POST", "/query", json={"ksql": "SELECT ID, UCASE(V) AS U FROM S EMIT CHANGES;"}) as r:
        lines = r.iter_lines()
        assert "header" in _read_element(lines)
        assert len(server.active_queries) == 1
        server.ok("INSERT INTO S (ID, V) VALUES (7, 'x');")
        assert _read_element(lines) == {"row": {"columns": [7, "X"]}}
        server.ok("INSERT INTO S (ID, V) VALUES (8, 'y');")
        assert _read_element(lines) == {"row": {"columns": [8, "Y"]}}
    eventually(lambda: server.active_queries == {})


def test_push_query_taps_a_persistent_query_and_detaches(server: Server) -> None:
    server.ok(STREAM)
    server.ok("CREATE TABLE T AS SELECT ID, COUNT(*) AS C FROM S GROUP BY ID;")
    (running,) = server.engine.queries.values()
    assert running.sink is not None
    with server.http.stream("POST", "/query", json={"ksql": "SELECT * FROM T WHERE C > 1 EMIT CHANGES;"}) as r:
        lines = r.iter_lines()
        assert _read_element(lines)["header"]["schema"] == "`ID` INTEGER, `C` BIGINT"
        assert len(running.sink.taps) == 1
        server.ok("INSERT INTO S (ID, V) VALUES (1, 'a'); INSERT INTO S (ID, V) VALUES (1, 'b');")
        assert _read_element(lines) == {"row": {"columns": [1, 2]}}
    eventually(lambda: not running.sink.taps)
    assert server.active_queries == {}


def test_push_query_on_table_flags_tombstones(server: Server) -> None:
    server.ok("CREATE TABLE TT (K INT PRIMARY KEY, ID INT) WITH (kafka_topic='tt', value_format='JSON', partitions=1);")
    with server.http.stream("POST", "/query", json={"ksql": "SELECT * FROM TT EMIT CHANGES LIMIT 2;"}) as r:
        lines = r.iter_lines()
        assert "header" in _read_element(lines)
        key = struct.pack(">i", 10)
        # a delete cannot be written with INSERT VALUES: append to the topic directly (the embedded
        # log is thread-safe and completes its coroutines without the server's event loop)
        asyncio.run(server.engine.backend.produce("tt", [Record(key, b'{"ID": 110}', 1), Record(key, None, 2)]))
        assert _read_element(lines) == {"row": {"columns": [10, 110]}}
        assert _read_element(lines) == {"row": {"columns": [10, None], "tombstone": True}}
        assert _read_element(lines) == {"finalMessage": "Limit Reached"}


# -- pull queries -----------------------------------------------------------------------------------
def test_pull_query_on_materialized_table(server: Server) -> None:
    server.ok(STREAM)
    server.ok("CREATE TABLE T AS SELECT ID, COUNT(*) AS C, LATEST_BY_OFFSET(V) AS LAST FROM S GROUP BY ID;")
    server.ok("INSERT INTO S (ID, V) VALUES (1, 'a'); INSERT INTO S (ID, V) VALUES (2, 'b');"
              "INSERT INTO S (ID, V) VALUES (1, 'c');")

    def by_key() -> list[Any] | None:
        rows = json.loads(server.query("SELECT * FROM T WHERE ID = 1;").text)
        return rows if len(rows) == 2 and rows[1]["row"]["columns"][1] == 2 else None

    rows = eventually(by_key)
    assert rows[0]["header"]["queryId"].startswith("query_")
    assert rows[0]["header"]["schema"] == "`ID` INTEGER KEY, `C` BIGINT, `LAST` STRING"
    assert rows[1] == {"row": {"columns": [1, 2, "c"]}}

    r = server.query("SELECT LAST, ID FROM T WHERE LAST = 'b';")
    assert r.text == ('[{"header":{"queryId":' + json.dumps(json.loads(r.text)[0]["header"]["queryId"])
                      + ',"schema":"`LAST` STRING, `ID` INTEGER KEY"}},\n{"row":{"columns":["b",2]}}]')
    assert len(json.loads(server.query("SELECT * FROM T;").text)) == 3
    assert len(json.loads(server.query("SELECT * FROM T LIMIT 1;").text)) == 2
    assert json.loads(server.query("SELECT * FROM T WHERE ID = 99;").text)[1:] == []


def test_pull_query_on_stream_and_plain_table(server: Server) -> None:
    server.ok(STREAM)
    server.ok("INSERT INTO S (ID, V) VALUES (1, 'a'); INSERT INTO S (ID, V) VALUES (2, 'b');")
    r = server.query("SELECT * FROM S WHERE ID > 1;")
    assert _lines(r.text)[1:] == ['{"row":{"columns":[2,"b"]}},', '{"finalMessage":"Query Completed"}]']
    assert json.loads(r.text)[0]["header"]["queryId"].startswith("transient_S_")

    server.ok("CREATE TABLE U (ID INT PRIMARY KEY, X INT) WITH (kafka_topic='u', value_format='JSON', partitions=1);")
    r = server.query("SELECT * FROM U;")
    assert r.status_code == 400
    assert r.json()["message"].startswith("The `U` table isn't queryable.")
    r = server.query("SELECT * FROM S GROUP BY ID;")
    assert r.json()["message"].startswith("Pull queries don't support GROUP BY clauses.")


def test_query_stream_endpoint(server: Server) -> None:
    server.ok(STREAM)
    server.ok("INSERT INTO S (ID, V) VALUES (1, 'a');")
    r = server.http.post("/query-stream", json={"sql": "SELECT * FROM S;"})
    meta, row = r.text.strip().split("\n")
    assert json.loads(meta)["columnNames"] == ["ID", "V"]
    assert json.loads(meta)["columnTypes"] == ["INTEGER", "STRING"]
    assert json.loads(row) == [1, "a"]
    r = server.http.post("/close-query", json={"queryId": "nope"})
    assert (r.status_code, r.json()["message"]) == (400, "No query with id nope")


# -- values ------------------------------------------------------------------------------------------
def test_values_are_rendered_like_ksqldb(server: Server) -> None:
    server.ok("CREATE STREAM V (D DECIMAL(5, 2), TS TIMESTAMP, DT DATE, TM TIME, B BYTES, "
              "M MAP<STRING, DECIMAL(3, 1)>) WITH (kafka_topic='v', value_format='JSON', partitions=1);")
    server.ok("INSERT INTO V (D, TS, DT, TM, B, M) VALUES (1.50, '2024-01-02T03:04:05.678', '2024-01-02', "
              "'10:11:00', TO_BYTES('AQI=', 'base64'), MAP('a' := 1.0));")
    r = server.query("SELECT * FROM V;")
    assert _lines(r.text)[1] == ('{"row":{"columns":[1.50,"2024-01-02T03:04:05.678","2024-01-02","10:11",'
                                 '"AQI=",{"a":1.0}]}},')
    assert json.loads(r.text)[0]["header"]["schema"] == (
        "`D` DECIMAL(5, 2), `TS` TIMESTAMP, `DT` DATE, `TM` TIME, `B` BYTES, `M` MAP<STRING, DECIMAL(3, 1)>")


# -- the shell ----------------------------------------------------------------------------------------
def test_shell_runs_statements_and_queries(server: Server, request: pytest.FixtureRequest) -> None:
    out = io.StringIO()
    shell = Shell(Client(server.url), out=out)
    request.addfinalizer(shell.client.close)
    assert shell.run_script(STREAM + " INSERT INTO S (ID, V) VALUES (1, 'a');"
                            " SET 'auto.offset.reset'='earliest'; SELECT * FROM S EMIT CHANGES LIMIT 1;")
    text = out.getvalue()
    assert "Stream created" in text
    assert "Successfully changed local property 'auto.offset.reset' to 'earliest'." in text
    assert "|ID" in text and "|a" in text and "Limit Reached" in text and "Query terminated" in text
    assert not shell.run_script("DROP STREAM NOPE;")
    assert "Stream NOPE does not exist." in out.getvalue()
