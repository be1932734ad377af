"""Pull queries over REST: key lookups, key ranges, window bounds, scans with WHERE on any column,
LIMIT, streams; ksqlDB's errors; and tables served from their writer's output in process."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.engine.transient import QueryEnd, ResultRow, TransientQueries, prepare
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog
from tests.rest.conftest import LiveServer, eventually

PROPS = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}
USERS = ("CREATE STREAM PV (USERID STRING KEY, PAGE STRING, MS BIGINT) "
         "WITH (kafka_topic='pv', value_format='JSON', partitions=2);")


def pull(server: LiveServer, sql: str, **props: Any) -> tuple[str, list[list[Any]]]:
    r = server.http.post("/query", json={"ksql": sql, "streamsProperties": props})
    assert r.status_code == 200, r.text
    elements = json.loads(r.text)
    return elements[0]["header"]["schema"], [e["row"]["columns"] for e in elements[1:]]


def error(server: LiveServer, sql: str, **props: Any) -> str:
    r = server.http.post("/query", json={"ksql": sql, "streamsProperties": props})
    assert r.status_code == 400, r.text
    assert r.json()["@type"] == "statement_error" and r.json()["error_code"] == 40001
    return r.json()["message"]  # type: ignore[no-any-return]


def produce(server: LiveServer, rows: list[tuple[str, str, int]]) -> None:
    records = [Record(orjson.dumps(k)[1:-1], orjson.dumps({"PAGE": p, "MS": ms}), ms) for k, p, ms in rows]
    asyncio.run(server.engine.backend.produce("pv", records))


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    s = live_server(PROPS)
    s.ok(USERS)
    s.ok("CREATE TABLE VISITS AS SELECT USERID, COUNT(*) AS N, LATEST_BY_OFFSET(PAGE) AS LAST "
         "FROM PV GROUP BY USERID;")
    s.ok("CREATE TABLE PER_SEC AS SELECT USERID, COUNT(*) AS N FROM PV WINDOW TUMBLING (SIZE 1 SECOND) "
         "GROUP BY USERID;")
    produce(s, [("alice", "home", 1_000), ("bob", "cart", 1_500), ("carol", "home", 2_100),
                ("alice", "cart", 2_200), ("dave", "faq", 3_000), ("alice", "faq", 3_999)])
    eventually(lambda: len(pull(s, "SELECT * FROM VISITS;")[1]) == 4 and len(pull(s, "SELECT * FROM PER_SEC;")[1]) == 6)
    return s


def test_key_lookups_ranges_and_scans(server: LiveServer) -> None:
    schema, rows = pull(server, "SELECT * FROM VISITS WHERE USERID = 'alice';")
    assert schema == "`USERID` STRING KEY, `N` BIGINT, `LAST` STRING"
    assert rows == [["alice", 3, "faq"]]
    assert sorted(pull(server, "SELECT USERID, N FROM VISITS WHERE USERID IN ('bob', 'nobody', 'dave');")[1]) == [
        ["bob", 1], ["dave", 1]]
    assert pull(server, "SELECT * FROM VISITS WHERE USERID = 'nobody';")[1] == []
    # ranges on the (string) key, as ksqlDB's range scans
    assert sorted(r[0] for r in pull(server, "SELECT * FROM VISITS WHERE USERID > 'b';")[1]) == ["bob", "carol", "dave"]
    assert sorted(r[0] for r in pull(server, "SELECT * FROM VISITS WHERE USERID < 'c';")[1]) == ["alice", "bob"]
    assert sorted(r[0] for r in pull(server, "SELECT * FROM VISITS WHERE USERID BETWEEN 'b' AND 'carol';")[1]) == [
        "bob", "carol"]
    # WHERE on any column: a table scan
    assert sorted(pull(server, "SELECT USERID FROM VISITS WHERE LAST = 'home' OR N > 2;")[1]) == [["alice"], ["carol"]]
    # LIMIT cuts the scan, and a table pull query ends without a final message
    r = server.http.post("/query", json={"ksql": "SELECT * FROM VISITS LIMIT 2;"})
    assert len(json.loads(r.text)) == 3 and "finalMessage" not in r.text


def test_window_bounds_on_windowed_tables(server: LiveServer) -> None:
    schema, rows = pull(server, "SELECT * FROM PER_SEC WHERE USERID = 'alice';")
    assert schema == "`USERID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `N` BIGINT"
    assert sorted(rows) == [["alice", 1000, 2000, 1], ["alice", 2000, 3000, 1], ["alice", 3000, 4000, 1]]
    rows = pull(server, "SELECT USERID, WINDOWSTART FROM PER_SEC WHERE USERID = 'alice' AND WINDOWSTART >= 2000 "
                        "AND WINDOWEND <= 3000;")[1]
    assert rows == [["alice", 2000]]
    # datetime strings, hour 24 being midnight of the next day
    rows = pull(server, "SELECT WINDOWSTART FROM PER_SEC WHERE USERID = 'alice' AND "
                        "WINDOWSTART < '1970-01-01T00:00:02' AND WINDOWEND > '1969-12-31T24:00:01.500';")[1]
    assert rows == [[1000]]
    # window bounds without a key: a scan
    assert sorted(pull(server, "SELECT USERID FROM PER_SEC WHERE WINDOWSTART = 2000;")[1]) == [["alice"], ["carol"]]


def test_pull_errors_as_ksqldb_words_them(server: LiveServer) -> None:
    no_scans = {"ksql.query.pull.table.scan.enabled": False}
    assert error(server, "SELECT * FROM VISITS WHERE N = 1;", **no_scans).startswith(
        "WHERE clause missing key column for disjunct: (N = 1).")
    assert error(server, "SELECT * FROM VISITS;", **no_scans).startswith("Query requires table scan to be enabled.")
    assert error(server, "SELECT * FROM VISITS WHERE USERID != 'a';", **no_scans).startswith(
        "Bound on key columns '[`USERID` STRING KEY]' must currently be '='.")
    assert error(server, "SELECT * FROM PER_SEC WHERE USERID > 'a';", **no_scans).startswith(
        "Query requires table scan to be enabled.")  # no range scans on windowed tables
    assert error(server, "SELECT * FROM VISITS WHERE USERID = NULL;").startswith(
        "Error in WHERE expression: Comparison with NULL not supported: STRING = NULL")
    assert error(server, "SELECT * FROM VISITS WHERE USERID IN (1, 'a');").startswith(
        "'1' can not be converted to the type of the key column: USERID STRING KEY")
    assert error(server, "SELECT * FROM PER_SEC WHERE USERID = 'a' AND WINDOWSTART = 1 AND WINDOWSTART > 0;") \
        .startswith("`(WINDOWSTART > 0)` cannot be combined with other WINDOWSTART bounds.")
    assert error(server, "SELECT * FROM PER_SEC WHERE USERID = 'a' AND WINDOWSTART = 'yesterday';").startswith(
        "Failed to parse datetime: yesterday.")
    assert error(server, "SELECT * FROM PV WHERE USERID = 'a' GROUP BY USERID;").startswith(
        "Pull queries don't support GROUP BY clauses.")
    assert error(server, "SELECT * FROM VISITS LIMIT -1;").startswith(
        "Pull queries don't support negative integers in the LIMIT clause.")
    server.ok("CREATE TABLE PLAIN (ID INT PRIMARY KEY, X INT) WITH (kafka_topic='plain', value_format='JSON', "
              "partitions=1);")
    assert error(server, "SELECT * FROM PLAIN;") == (
        "The `PLAIN` table isn't queryable. To derive a queryable table, you can do 'CREATE TABLE QUERYABLE_PLAIN "
        "AS SELECT * FROM PLAIN'. See https://cnfl.io/queries for more info.\n"
        "Add EMIT CHANGES if you intended to issue a push query.\nStatement: SELECT * FROM PLAIN;")


def test_pull_on_a_stream_reads_to_the_current_end(server: LiveServer) -> None:
    r = server.http.post("/query", json={"ksql": "SELECT USERID, PAGE FROM PV WHERE PAGE = 'home';"})
    elements = json.loads(r.text)
    assert elements[0]["header"]["queryId"].startswith("transient_PV_")
    assert sorted(e["row"]["columns"] for e in elements[1:-1]) == [["alice", "home"], ["carol", "home"]]
    assert elements[-1] == {"finalMessage": "Query Completed"}
    r = server.http.post("/query-stream", json={"sql": "SELECT USERID FROM PV LIMIT 2;"},
                         headers={"accept": "application/json"})
    body = r.json()
    assert body[0]["columnNames"] == ["USERID"] and len(body) == 3


def test_tables_are_served_from_their_writer_in_process(server: LiveServer) -> None:
    # the first pull read the sink topic; once the writer's commits covered the hand-over, no more
    table = server.state.transient.materialized.tables["VISITS"]
    eventually(lambda: pull(server, "SELECT * FROM VISITS;") and table.topic_done)
    positions = dict(table.positions)
    produce(server, [("erin", "home", 5_000), ("alice", "home", 5_100)])
    eventually(lambda: pull(server, "SELECT N, LAST FROM VISITS WHERE USERID = 'alice';")[1] == [[4, "home"]])
    assert pull(server, "SELECT N FROM VISITS WHERE USERID = 'erin';")[1] == [[1]]
    assert table.positions == positions  # the new rows came from the writer, not from the topic


def test_a_hand_over_does_not_lose_what_the_writer_has_not_committed() -> None:
    async def go() -> None:
        engine = KsqlEngine(EmbeddedLog(None), Config(PROPS), persist_commands=False)
        await engine.execute("CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='s', value_format='JSON', "
                             "partitions=1);")
        await engine.execute("CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS V FROM S GROUP BY ID;")
        (q,) = engine.queries.values()
        await engine.backend.produce("s", [Record(struct.pack(">i", i), orjson.dumps({"V": f"a{i}"}), i)
                                           for i in range(3)])
        # the writer has processed the rows but not committed them: they are in no topic yet
        q.task.process_batch(await q.task.poll())
        transient = TransientQueries(engine)

        async def rows() -> list[Any]:
            stream = await transient.start(prepare("SELECT * FROM T;", engine.config))  # type: ignore[arg-type]
            events = [ev async for ev in stream.events()]
            assert isinstance(events[-1], QueryEnd)
            return sorted(ev.columns for ev in events if isinstance(ev, ResultRow))

        assert await rows() == []
        table = transient.materialized.tables["T"]
        assert not table.topic_done  # the writer has not committed past the hand-over yet
        await q.task.commit()
        assert await rows() == [[0, "a0"], [1, "a1"], [2, "a2"]]
        assert table.topic_done
        # later changes arrive from the writer itself
        await engine.backend.produce("s", [Record(struct.pack(">i", 1), orjson.dumps({"V": "b1"}), 9)])
        await engine.run_until_idle()
        assert await rows() == [[0, "a0"], [1, "b1"], [2, "a2"]]
        await transient.close_all()
        assert q.sink is not None and q.sink.taps == []
        await engine.close()

    asyncio.run(go())
