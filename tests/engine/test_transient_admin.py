"""Transient queries in SHOW QUERIES and TERMINATE, SHOW PROPERTIES levels, aggregates without
GROUP BY in push queries, windowed sink partitioning."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ksql.dialect import nodes, parse
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.engine.transient import QueryEnd, QueryStream, ResultRow, TransientQueries
from ksql.errors import KsqlStatementException
from ksql.topics.embedded import EmbeddedLog
from ksql.topics.partitioner import partition_for_key

STREAM = "CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='s', value_format='JSON', partitions=1);"


def run(fn: Callable[[KsqlEngine], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        engine = KsqlEngine(EmbeddedLog(None), Config(), persist_commands=False)
        try:
            return await fn(engine)
        finally:
            await engine.close()

    return asyncio.run(go())


def select(sql: str) -> nodes.QueryStatement:
    (stmt,) = parse(sql)
    assert isinstance(stmt, nodes.QueryStatement)
    return stmt


async def drain(stream: QueryStream, timeout: float = 2.0) -> list[Any]:
    out: list[Any] = []

    async def take() -> None:
        async for ev in stream.events():
            out.append(ev)

    await asyncio.wait_for(take(), timeout)
    return out


def test_show_queries_lists_push_queries_and_terminate_ends_one() -> None:
    async def go(engine: KsqlEngine) -> None:
        tq = TransientQueries(engine)
        await engine.execute(STREAM)
        await engine.execute("CREATE STREAM S2 AS SELECT * FROM S;")
        sql = "SELECT * FROM S EMIT CHANGES;"
        stream = await tq.start(select(sql))
        (listing,) = await engine.execute("SHOW QUERIES;")
        push = [q for q in listing["queries"] if q["queryType"] == "PUSH"]
        assert [q["queryType"] for q in listing["queries"]] == ["PERSISTENT", "PUSH"]
        assert push == [{"queryString": sql, "sinks": [], "sinkKafkaTopics": [], "id": stream.query_id,
                         "statusCount": {"RUNNING": 1}, "queryType": "PUSH", "state": "RUNNING"}]

        await engine.execute("INSERT INTO S (ID, V) VALUES (1, 10);")
        await asyncio.sleep(0.1)
        # ids compare case-insensitively, as ksqlDB's do
        (entity,) = await engine.execute(f"TERMINATE {stream.query_id.upper()};")
        assert entity == {"@type": "terminate_query", "statementText": f"TERMINATE {stream.query_id.upper()};",
                          "queryId": stream.query_id, "wasTerminated": True, "warnings": []}
        # the client gets what was queued, then a normal end
        events = await drain(stream)
        assert isinstance(events[-1], QueryEnd)
        assert [e.columns for e in events if isinstance(e, ResultRow)] == [[1, 10]]
        assert stream.query_id not in tq.active
        (listing,) = await engine.execute("SHOW QUERIES;")
        assert [q["queryType"] for q in listing["queries"]] == ["PERSISTENT"]
        with pytest.raises(KsqlStatementException, match="Unknown queryId"):
            await engine.execute(f"TERMINATE {stream.query_id};")
        await tq.close_all()

    run(go)


def test_terminate_all_leaves_push_queries_running() -> None:
    async def go(engine: KsqlEngine) -> None:
        tq = TransientQueries(engine)
        await engine.execute(STREAM)
        stream = await tq.start(select("SELECT * FROM S EMIT CHANGES;"))
        await engine.execute("TERMINATE ALL;")
        assert not stream.done and stream.query_id in tq.active
        await tq.close_all()

    run(go)


def test_show_properties_names_session_overrides_as_listed() -> None:
    async def go(engine: KsqlEngine) -> None:
        (e,) = await engine.execute("SHOW PROPERTIES;", {"auto.offset.reset": "earliest",
                                                          "ksql.streams.commit.interval.ms": 2000})
        props = {p["name"]: p for p in e["properties"]}
        # the short name is listed, and reported as overwritten, under its full name
        assert props["ksql.streams.auto.offset.reset"]["value"] == "earliest"
        assert "auto.offset.reset" not in props
        assert e["overwrittenProperties"] == ["ksql.streams.auto.offset.reset"]  # 2000 is the server's value
        assert "ksql.streams.auto.offset.reset" not in e["defaultProperties"]
        assert "ksql.streams.commit.interval.ms" in e["defaultProperties"]
        assert props["ksql.streams.auto.offset.reset"]["level"] == "QUERY"
        assert props["ksql.service.id"]["level"] == "SERVER"
        assert props["ksql.suppress.enabled"]["value"] == "true"  # Java's spelling of booleans

    run(go)


def test_push_aggregate_without_group_by_is_one_group() -> None:
    async def go(engine: KsqlEngine) -> None:
        tq = TransientQueries(engine)
        await engine.execute(STREAM)
        for i in range(3):
            await engine.execute(f"INSERT INTO S (ID, V) VALUES ({i}, {i * 10});")
        stream = await tq.start(select("SELECT SUM(V) AS TOTAL, COUNT(*) AS N FROM S EMIT CHANGES LIMIT 3;"),
                                {"auto.offset.reset": "earliest"})
        assert stream.header_schema() == "`TOTAL` INTEGER, `N` BIGINT"
        events = await drain(stream)
        assert [e.columns for e in events if isinstance(e, ResultRow)] == [[0, 1], [10, 2], [30, 3]]
        # a persistent query still needs its GROUP BY, and a pull query does not aggregate
        with pytest.raises(KsqlStatementException, match="without a GROUP BY clause"):
            await engine.execute("CREATE TABLE T AS SELECT COUNT(*) AS N FROM S;")
        with pytest.raises(KsqlStatementException, match="requires a GROUP BY clause"):
            await tq.start(select("SELECT COUNT(*) AS N FROM S;"))
        with pytest.raises(KsqlStatementException, match="not part of GROUP BY"):
            await tq.start(select("SELECT V, COUNT(*) AS N FROM S EMIT CHANGES;"))
        await tq.close_all()

    run(go)


def test_windowed_sink_records_go_to_their_inner_keys_partition() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute("CREATE STREAM W (K INT KEY, V INT) WITH (kafka_topic='w', value_format='JSON', "
                             "partitions=4);")
        await engine.execute("CREATE TABLE C AS SELECT K, COUNT(*) AS N FROM W "
                             "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY K;")
        for k in range(8):
            for ts in (0, 1000, 5000):  # three windows per key
                await engine.execute(f"INSERT INTO W (ROWTIME, K, V) VALUES ({ts}, {k}, 1);")
        await engine.run_until_idle()
        seen = 0
        for p in range(4):
            for rec in await engine.backend.read("C", p, 0, 1000):
                assert rec.key is not None
                inner = rec.key[:4]  # KAFKA INT key, then the window start
                assert p == partition_for_key(inner, 4)
                assert struct.unpack(">i", inner)[0] in range(8)
                seen += 1
        assert seen == 24

    run(go)
