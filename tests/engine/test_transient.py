"""Transient queries at the engine level: taps, slow clients, backpressure, key lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ksql.dialect import nodes, parse
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.engine.pull import key_access
from ksql.engine.transient import (
    QueryEnd,
    QueryFailure,
    QueryStream,
    ResultRow,
    TransientQueries,
)
from ksql.topics.embedded import EmbeddedLog

STREAM = "CREATE STREAM S (ID INT KEY, V STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);"


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

    async def go() -> None:
        async for ev in stream.events():
            out.append(ev)

    try:
        await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        pass
    return out


async def insert(engine: KsqlEngine, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await engine.execute(f"INSERT INTO S (ID, V) VALUES ({i}, 'v{i}');")


def test_a_slow_client_is_cut_off_without_blocking_the_writer() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute(STREAM)
        await engine.execute("CREATE TABLE T AS SELECT ID, LATEST_BY_OFFSET(V) AS V FROM S GROUP BY ID;")
        transient = TransientQueries(engine, max_buffered_rows=3)
        stream = await transient.start(select("SELECT * FROM T EMIT CHANGES;"))
        await insert(engine, 10)
        await engine.run_until_idle()
        assert stream.cut_off.is_set()
        events = await drain(stream)
        # the rows it had not taken are dropped with it: the error is what it sees next
        assert [type(e) for e in events] == [QueryFailure]
        assert "fell more than 3 rows behind" in events[-1].message
        assert len(await engine.backend.read("T", 0, 0)) == 10  # the persistent query went on
        await stream.close()
        (q,) = engine.queries.values()
        assert q.sink is not None and q.sink.taps == []
        assert transient.active == {} and transient.subscriptions == {}

    run(go)


def test_a_query_with_its_own_task_waits_for_its_client() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute(STREAM)
        await insert(engine, 20)
        transient = TransientQueries(engine, max_buffered_rows=4)
        stream = await transient.start(select("SELECT ID FROM S EMIT CHANGES LIMIT 15;"),
                                       {"auto.offset.reset": "earliest"})
        events = await drain(stream)
        assert [e.columns for e in events[:-1]] == [[i] for i in range(15)]
        assert events[-1] == QueryEnd("Limit Reached")
        await stream.close()

    run(go)


def test_push_query_from_latest_sees_only_new_rows() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute(STREAM)
        await insert(engine, 3)
        stream = await TransientQueries(engine).start(select("SELECT * FROM S EMIT CHANGES LIMIT 1;"))
        await insert(engine, 1, start=100)
        assert await drain(stream) == [ResultRow([100, "v100"]), QueryEnd("Limit Reached")]

    run(go)


def test_pull_key_lookup_matches_the_scan() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute(STREAM)
        await engine.execute("CREATE TABLE T AS SELECT ID, COUNT(*) AS C FROM S GROUP BY ID;")
        await insert(engine, 5)
        await insert(engine, 5)
        await engine.run_until_idle()
        transient = TransientQueries(engine)
        lookup = await drain(await transient.start(select("SELECT * FROM T WHERE ID IN (3, 1, 42);")))
        scan = await drain(await transient.start(select("SELECT * FROM T WHERE ID = 3 OR ID = 1 OR ID = 42;")))
        assert lookup == scan == [ResultRow([1, 2]), ResultRow([3, 2]), QueryEnd(None)]

    run(go)


def test_key_lookups_are_found_only_when_every_key_is_pinned() -> None:
    async def go(engine: KsqlEngine) -> None:
        await engine.execute("CREATE TABLE K2 (A INT PRIMARY KEY, B STRING PRIMARY KEY, X DOUBLE) "
                             "WITH (kafka_topic='k2', format='JSON', partitions=1);")
        src = engine.metastore.sources["K2"]

        def keys(where: str) -> Any:
            return key_access(select(f"SELECT * FROM K2 WHERE {where};").query.where, src, Config())

        assert keys("A = 1 AND B = 'x' AND X > 2") == [(1, "x")]
        assert keys("(B = 'y') AND -2 = A") == [(-2, "y")]
        assert keys("(A = 1 AND B = 'x') OR (B = 'y' AND A = 20 - 10)") == [(1, "x"), (10, "y")]
        assert keys("A = 1") is None
        assert keys("A = 1 OR B = 'x'") is None
        assert keys("A > 1 AND B = 'x'") is None

    run(go)
