"""Bad input gets ksqlDB's error bodies and a 4xx, never a 500: garbage thrown at every endpoint,
and the shapes of the info, health and status endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.rest.conftest import LiveServer

STREAM = "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
TABLE = "CREATE TABLE T AS SELECT ID, COUNT(*) AS C FROM S GROUP BY ID;"

GARBAGE_BODIES: list[bytes] = [
    b"", b"   ", b"{", b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true", b"\xff\xfe\x00garbage",
    b'{"ksql": null}', b'{"ksql": 123}', b'{"ksql": ["SELECT 1;"]}', b'{"ksql": {"a": 1}}', b'{"ksql": true}',
    b'{"sql": 5}', b'{"sql": null}', b'{"queryId": 5}', b'{"queryId": ["x"]}',
    b'{"ksql": "SHOW STREAMS;", "streamsProperties": "x"}', b'{"ksql": "SHOW STREAMS;", "streamsProperties": [1]}',
    b'{"ksql": "SHOW STREAMS;", "sessionVariables": [1]}', b'{"sql": "SELECT * FROM S;", "properties": 7}',
    b'{"ksql": "SHOW STREAMS;", "commandSequenceNumber": "abc"}',
    b'{"ksql": "' + b"(" * 5000 + b'"}', b"[" * 10000 + b"]" * 10000, b'{"ksql": "\\u0000\\u0001"}',
]

GARBAGE_SQL: list[str] = [
    "SELECT", "SELECT * FROM", "SELECT * FROM NOPE EMIT CHANGES;", "garbage ;;; (((", "CREATE STREAM",
    "SELECT 1;", "SELECT * FROM S; SELECT * FROM S;", "SELECT * FROM S EMIT CHANGES LIMIT 99999999999999999999;",
    "SELECT * FROM S EMIT CHANGES LIMIT -1;", "PRINT 'nope';", "PRINT nope FROM BEGINNING LIMIT x;",
    "SELECT * FROM T WHERE ID = 'x';", "SELECT * FROM T WHERE ID IN (NULL);", "SELECT * FROM T WHERE WINDOWSTART = 'junk';",
    "SELECT * FROM S WHERE V = 1 EMIT CHANGES;", "SELECT NOPE(V) FROM S EMIT CHANGES;", "SELECT * FROM S JOIN S;",
    "SELECT * FROM T GROUP BY ID;", "SELECT ROWOFFSET FROM T;", "SELECT * FROM S WINDOW TUMBLING (SIZE 1 SECOND);",
    "SELECT CAST(V AS NOPE) FROM S EMIT CHANGES;", "SELECT ${missing} FROM S EMIT CHANGES;", "DROP STREAM S;",
    "INSERT INTO S (ID, V) VALUES ('x', 1);", "CREATE STREAM X (A INT) WITH (kafka_topic='x');",
    "SELECT * FROM S EMIT CHANGES; garbage", "\u2603 \U0001f600;", "SELECT * FROM `S` WHERE `V` LIKE 5 EMIT CHANGES;",
    "SELECT * FROM T WHERE ID = 1 AND WINDOWSTART > 'not a date';", "DESCRIBE NOPE;", "TERMINATE NOPE;",
    "SELECT * FROM S EMIT FINAL;", "SELECT * FROM S PARTITION BY V EMIT CHANGES;", "SHOW NOPE;",
    "CREATE STREAM X2 AS SELECT CAST(V AS NOPE) FROM S;", "CREATE TABLE X3 AS SELECT V, COUNT(*) FROM S GROUP BY V HAVING V;",
    "SET 'auto.offset.reset' = 'nope'; SELECT * FROM S EMIT CHANGES;", "DEFINE x = 'y'; SELECT ${x} FROM S;",
]

ENDPOINTS = ["/ksql", "/query", "/query-stream", "/close-query", "/ksql/terminate", "/inserts-stream"]


def _check_error(r: Any, what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert body["@type"] in ("generic_error", "statement_error"), what
        assert r.status_code == body["error_code"] // 100, what
        assert isinstance(body["message"], str) and body["message"], what


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    s = live_server({"ksql.streams.auto.offset.reset": "earliest"})
    s.ok(STREAM)
    s.ok(TABLE)
    return s


def test_garbage_bodies_get_4xx_errors(server: LiveServer) -> None:
    for path in ENDPOINTS:
        for body in GARBAGE_BODIES:
            r = server.http.post(path, content=body, headers={"content-type": "application/json"})
            _check_error(r, f"POST {path} {body[:60]!r}")


def test_garbage_statements_get_4xx_errors(server: LiveServer) -> None:
    for sql in GARBAGE_SQL:
        for path, field in (("/ksql", "ksql"), ("/query", "ksql"), ("/query-stream", "sql")):
            extra: dict[str, Any] = {"streamsProperties" if field == "ksql" else "properties":
                                     {"auto.offset.reset": "earliest"}}
            # endless streams are not the point here: bound them
            text = sql.replace("EMIT CHANGES;", "EMIT CHANGES LIMIT 1;") if "LIMIT" not in sql else sql
            with server.http.stream("POST", path, json={field: text, **extra}, timeout=5) as r:
                if r.status_code == 200:
                    continue  # a query that is valid after all (its rows are not the point)
                r.read()
                _check_error(r, f"{path} {sql!r}")


def test_error_shapes_and_codes(server: LiveServer) -> None:
    r = server.http.post("/query", json={"ksql": "SELECT * FROM NOPE EMIT CHANGES;"})
    assert r.status_code == 400 and r.json()["@type"] == "statement_error" and r.json()["error_code"] == 40001
    assert r.json()["message"].endswith("\nStatement: SELECT * FROM NOPE EMIT CHANGES;")
    assert r.json()["entities"] == []
    r = server.http.post("/query", json={"ksql": "SHOW STREAMS;"})
    assert r.json() == {"@type": "generic_error", "error_code": 40000,
                        "message": "Statement type `Show' not supported for this resource"}
    r = server.http.post("/query-stream", json={"properties": {}})
    assert (r.status_code, r.json()["error_code"]) == (400, 40000)
    assert "'sql'" in r.json()["message"]
    r = server.http.post("/query", json={"ksql": "SELECT * FROM T WHERE ID = 'x';"})
    assert r.json()["message"].startswith("Error in WHERE expression: Cannot compare ID (INTEGER) to 'x' (STRING)")
    assert "\nStatement: (ID = 'x')" in r.json()["message"]
    r = server.http.post("/query", json={"ksql": "SELECT * FROM T WHERE C = 1;",
                                         "streamsProperties": {"ksql.query.pull.table.scan.enabled": False}})
    assert r.json()["message"].startswith("WHERE clause missing key column for disjunct: (C = 1).")
    r = server.http.get("/status/stream/NOPE/create")
    assert (r.status_code, r.json()) == (404, {"@type": "generic_error", "error_code": 40400,
                                               "message": "Command not found"})
    assert server.http.delete("/ksql").status_code == 404
    assert server.http.put("/query").text == "Not Found"


def test_too_many_push_queries(live_server: Callable[..., LiveServer]) -> None:
    server = live_server({"ksql.max.push.queries": 1})
    server.ok(STREAM)
    with server.http.stream("POST", "/query", json={"ksql": "SELECT * FROM S EMIT CHANGES;"}) as first:
        assert first.status_code == 200
        r = server.http.post("/query", json={"ksql": "SELECT * FROM S EMIT CHANGES;"})
        assert (r.status_code, r.json()) == (400, {"@type": "generic_error", "error_code": 40003,
                                                   "message": "Maximum number of push queries exceeded"})
        # pull queries do not count
        assert server.http.post("/query", json={"ksql": "SELECT * FROM S;"}).status_code == 200


def test_info_health_status_and_cluster_status(server: LiveServer) -> None:
    info = server.http.get("/info")
    assert info.headers["content-type"] == "application/vnd.ksql.v1+json"
    assert set(info.json()["KsqlServerInfo"]) == {"version", "kafkaClusterId", "ksqlServiceId", "serverStatus"}
    health = server.http.get("/healthcheck").json()
    assert health == {"isHealthy": True, "details": {"metastore": {"isHealthy": True}, "kafka": {"isHealthy": True},
                                                     "commandRunner": {"isHealthy": True}}, "serverState": "READY"}
    for path in ("/chc/ready", "/chc/live"):
        assert server.http.get(path).json() == {}

    statuses = server.http.get("/status").json()["commandStatuses"]
    assert statuses == {"stream/`S`/create": "SUCCESS", "table/`T`/create": "SUCCESS"}
    one = server.http.get("/status/stream/`S`/create").json()
    assert one == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    ctas = server.http.get("/status/table/%60T%60/create").json()
    assert ctas["status"] == "SUCCESS" and ctas["message"].startswith("Created query with ID CTAS_T_")
    assert server.http.get("/status/table/T/create").json() == ctas  # unquoted, as older clients send it

    cluster = server.http.get("/clusterStatus").json()["clusterStatus"]
    ((host, status),) = cluster.items()
    assert host == f"127.0.0.1:{server.port}"
    assert status["hostAlive"] is True and isinstance(status["lastStatusUpdateMs"], int)
    ((qid, query),) = status["activeStandbyPerQuery"].items()
    assert qid.startswith("CTAS_T_")
    assert query["activePartitions"] == [{"topic": "s", "partition": 0}]
    assert query["standByStores"] == [] and query["standByPartitions"] == []
    assert status["hostStoreLags"]["stateStoreLags"] == {}
    json.dumps(cluster)
