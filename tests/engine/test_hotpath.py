"""The fast paths of query processing behave as the plain ones: commit cadence, crash recovery with
uncommitted work, JSON decoding through orjson, generated row code."""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.formats.json import JsonSerde, loads
from ksql.runtime.task import QueryTask
from ksql.sqltypes import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, array, decimal, struct
from ksql.topics.base import Record, TopicBackend
from ksql.topics.embedded import EmbeddedLog
from state.manager import StateManager

PROPS = {"ksql.streams.auto.offset.reset": "earliest"}


async def _open(data: Path, props: dict[str, object]) -> KsqlEngine:
    engine = KsqlEngine(EmbeddedLog(data / "log"), Config({**PROPS, **props}),
                        state=StateManager("rocksdb", data / "state"))
    await engine.start()
    return engine


async def _events(engine: KsqlEngine, start: int, n: int, keys: int = 50) -> None:
    recs = [Record(str(i % keys).encode(), orjson.dumps({"SCORE": i % 7}), 1000 + i) for i in range(start, start + n)]
    await engine.backend.produce("plays", recs)


async def _table(backend: TopicBackend, topic: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    end = (await backend.end_offsets([(topic, 0)]))[(topic, 0)]
    for r in await backend.read(topic, 0, 0, end + 1):
        assert r.key is not None and r.value is not None
        v = orjson.loads(r.value)
        out[r.key.decode()] = (v["N"], v["S"])
    return out


def _truth(n: int, keys: int = 50) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for i in range(n):
        c, s = out.get(str(i % keys), (0, 0))
        out[str(i % keys)] = (c + 1, s + i % 7)
    return out


DDL = (
    "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
    "CREATE TABLE TOTALS AS SELECT PLAYER, COUNT(*) AS N, SUM(SCORE) AS S FROM PLAYS GROUP BY PLAYER;"
)


def _count_commits(engine: KsqlEngine) -> list[int]:
    task = next(iter(engine.queries.values())).task
    calls = [0]
    orig = task.commit

    async def counting() -> None:
        calls[0] += 1
        await orig()

    task.commit = counting  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize(("props", "many"), [
    ({}, False),  # server defaults: catch-up commits on the interval, and once idle
    ({"ksql.streams.cache.max.bytes.buffering": 0}, True),  # the test driver's: every batch
])
def test_commit_cadence(tmp_path: Path, props: dict[str, object], many: bool) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path, props)
        await engine.execute(DDL)
        await _events(engine, 0, 10_000)
        calls = _count_commits(engine)
        await engine.run_until_idle()
        assert (calls[0] >= 5) if many else (calls[0] == 1)
        assert await _table(engine.backend, "TOTALS") == _truth(10_000)
        await engine.close()

    asyncio.run(scenario())


def test_crash_with_uncommitted_work_recovers_exactly(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path, {})
        await engine.execute(DDL)
        await _events(engine, 0, 9_000)
        await engine.run_until_idle()  # committed once idle
        await _events(engine, 9_000, 9_000)
        task = next(iter(engine.queries.values())).task
        task.commit_interval_ms = 10**9
        await task.run_until_idle(max_batches=2)  # processed, not committed
        assert task.positions != await engine.backend.committed(task.group)
        # the crash: files closed, nothing more committed, in-memory state gone
        await engine.backend.close()
        assert engine.state is not None
        engine.state.close_all()

        engine = await _open(tmp_path, {})
        await engine.run_until_idle()
        table = await _table(engine.backend, "TOTALS")
        assert table == _truth(18_000)
        await engine.close()

    asyncio.run(scenario())


def test_commit_due_on_interval_and_buffered_bytes() -> None:
    task = QueryTask.__new__(QueryTask)
    task.commit_interval_ms, task.max_buffered_bytes = 0, 10_000_000
    assert task.commit_due()  # no interval: every batch
    task.commit_interval_ms, task.max_buffered_bytes = 2000, 0
    assert task.commit_due()  # no cache: every batch


COLUMNS = [("I", INTEGER), ("B", BIGINT), ("S", STRING), ("D", DOUBLE), ("F", BOOLEAN)]


def _exact_read(serde: JsonSerde, data: bytes) -> object:
    """What the serde gives without orjson: the exact reader on the stdlib parse."""
    try:
        node = loads(data)
        if node is None:
            return None
        return serde._read(node)
    except Exception as e:
        return type(e).__name__


def _text(v: object) -> str:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_text(x)}" for k, x in v.items()) + "}"
    return json.dumps(v)


def _fast_read(serde: JsonSerde, data: bytes) -> object:
    try:
        return serde.deserialize(data)
    except Exception:
        return "_CoercionError"  # deserialize wraps the reader's errors


@pytest.mark.parametrize("columns", [COLUMNS, [*COLUMNS, ("DEC", decimal(10, 3)), ("A", array(INTEGER)),
                                               ("ST", struct([("X", DOUBLE)]))]])
def test_json_fast_paths_read_what_the_exact_reader_reads(columns: list[tuple[str, object]]) -> None:
    serde = JsonSerde(columns, is_key=False, unwrapped=False)  # type: ignore[arg-type]
    rnd = random.Random(7)
    samples = [None, 0, -1, 2**31, -(2**31) - 1, 2**63, 2**64 + 1, 1.5, -0.0, 1e300, "12", "x\u00e9", True,
               False, [1, 2], {"X": 2.5}, Decimal("1.250")]
    names = [n for n, _ in columns] + ["i", "extra"]
    for _ in range(3000):
        doc = {rnd.choice(names): rnd.choice(samples) for _ in range(rnd.randint(0, len(names)))}
        data = ("{" + ",".join(f"{json.dumps(k)}:{_text(v)}" for k, v in doc.items()) + "}").encode()
        fast, exact = _fast_read(serde, data), _exact_read(serde, data)
        assert fast == exact, data
        if isinstance(exact, list) and isinstance(fast, list):  # same types too (1 vs 1.0 vs True)
            assert [type(v) for v in fast] == [type(v) for v in exact], data


async def _records(backend: TopicBackend, topic: str, windowed: bool = False) -> list[tuple[object, object]]:
    end = (await backend.end_offsets([(topic, 0)]))[(topic, 0)]
    return [(r.key if windowed or r.key is None else r.key.decode(), None if r.value is None else orjson.loads(r.value))
            for r in await backend.read(topic, 0, 0, end + 1)]


def test_record_cache_emits_each_changed_group_once_per_commit(tmp_path: Path) -> None:
    """With the record cache on (the server default), an aggregation writes one record per changed
    group and commit, in the order of the groups' latest changes, holding the final result."""
    async def scenario() -> None:
        engine = await _open(tmp_path, {})
        await engine.execute(DDL)
        await _events(engine, 0, 1_000, keys=5)
        await engine.run_until_idle()  # one commit, once idle
        first = await _records(engine.backend, "TOTALS")
        # the last five events were for keys 0..4 in that order
        assert [k for k, _ in first] == ["0", "1", "2", "3", "4"]
        assert {k: (v["N"], v["S"]) for k, v in first} == _truth(1_000, keys=5)  # type: ignore[index]
        await _events(engine, 1_000, 3, keys=5)  # keys 0, 1, 2 change again
        await engine.run_until_idle()
        second = (await _records(engine.backend, "TOTALS"))[5:]
        assert [k for k, _ in second] == ["0", "1", "2"]
        truth = _truth(1_003, keys=5)
        assert {k: (v["N"], v["S"]) for k, v in second} == {k: truth[k] for k in "012"}  # type: ignore[index]
        await engine.close()

    asyncio.run(scenario())


def test_record_cache_having_compares_with_the_last_emitted_row(tmp_path: Path) -> None:
    """HAVING under the cache judges a group by its row at the previous flush and its row now: a
    group that passes and fails again between two commits writes nothing; one that leaves the
    result writes a tombstone."""
    async def scenario() -> None:
        engine = await _open(tmp_path, {})
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE HIGH AS SELECT PLAYER, SUM(SCORE) AS S FROM PLAYS GROUP BY PLAYER HAVING SUM(SCORE) > 10;")

        async def play(*events: tuple[str, int]) -> None:
            await engine.backend.produce("plays", [Record(k.encode(), orjson.dumps({"SCORE": s}), 1000)
                                                   for k, s in events])
            await engine.run_until_idle()

        await play(("a", 20), ("b", 20), ("b", -15))  # a passes; b passes, then fails again
        assert await _records(engine.backend, "HIGH") == [("a", {"S": 20})]
        await play(("a", -15))  # a leaves the result
        assert (await _records(engine.backend, "HIGH"))[1:] == [("a", None)]
        await engine.close()

    asyncio.run(scenario())


def test_record_cache_windowed_counts(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path, {})
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE PER_SEC AS SELECT PLAYER, COUNT(*) AS N FROM PLAYS "
            "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY PLAYER;")
        recs = [Record(b"p", orjson.dumps({"SCORE": 1}), ts) for ts in (0, 100, 999, 1000, 1500, 2000)]
        await engine.backend.produce("plays", recs)
        await engine.run_until_idle()
        counts = [v["N"] for _, v in await _records(engine.backend, "PER_SEC", windowed=True)]  # type: ignore[index]
        assert counts == [3, 2, 1]  # one record per window: [0,1000), [1000,2000), [2000,3000)
        await engine.close()

    asyncio.run(scenario())
