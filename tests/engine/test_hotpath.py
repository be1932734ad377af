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
