"""Window retention: windowed aggregations and stream-stream join buffers keep only what stream time
has not expired; expired state is deleted (tombstones to the changelog) and not restored."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

import orjson
import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.runtime.task import DictStore, QueryTask
from ksql.topics.base import Record
from ksql.topics.embedded import EmbeddedLog
from state.manager import StateManager

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}
STREAM = "CREATE STREAM S (K INT KEY, V INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);"


async def _open(data: Path, backend: str = "memory") -> KsqlEngine:
    engine = KsqlEngine(EmbeddedLog(data / "log"), Config(CONFIG),
                        state=StateManager(backend, data / "state" if backend == "rocksdb" else None))
    await engine.start()
    return engine


async def _produce(engine: KsqlEngine, topic: str, events: list[tuple[int, int, int]]) -> None:
    """(key, timestamp, V) events."""
    await engine.backend.produce(topic, [
        Record(k.to_bytes(4, "big"), orjson.dumps({"V": v}), ts) for k, ts, v in events
    ])


def _task(engine: KsqlEngine) -> QueryTask:
    (running,) = engine.queries.values()
    return running.task  # type: ignore[no-any-return]


def _store(engine: KsqlEngine) -> DictStore:
    (store,) = _task(engine).ctx.stores.values()
    return store


def _windows(store: DictStore) -> list[tuple[Any, tuple[int, int]]]:
    """(group key, window) of the time windows or sessions the store holds."""
    return sorted(
        (v[2], v[3]) for v in store.data.values() if type(v) is tuple and len(v) == 4
    )


async def _sink(engine: KsqlEngine, topic: str) -> list[tuple[bytes, Any]]:
    return [(r.key, orjson.loads(r.value) if r.value else None) for r in await engine.backend.read(topic, 0, 0, 1_000_000)]


async def _changelog(engine: KsqlEngine) -> list[Record]:
    task = _task(engine)
    (name,) = task.store_names
    return list(await engine.backend.read(task.changelog_topic(name), 0, 0, 1_000_000))


TUMBLING = ("CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S "
            "WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY K;")


def test_tumbling_store_keeps_only_unexpired_windows(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path)
        await engine.execute(STREAM + TUMBLING)
        # 5 keys, one event every 100 ms for 200 s: 20 windows per key, 20 events per window and key
        await _produce(engine, "s", [(i % 5, i * 100, i) for i in range(2000)])
        await engine.run_until_idle()
        windows = _windows(_store(engine))
        # retention 15 s: only windows starting after max start (190 s) - 15 s survive
        assert sorted({w for _, w in windows}) == [(180_000, 190_000), (190_000, 200_000)]
        assert len(windows) == 10
        final = {}
        for key, value in await _sink(engine, "T"):
            final[key] = value["N"]
        assert len(final) == 100 and set(final.values()) == {20}
        tombstones = [r for r in await _changelog(engine) if r.value is None]
        assert len(tombstones) == 90  # one per expired window
        await engine.close()

    asyncio.run(scenario())


def test_retention_clause_keeps_windows_longer(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path)
        await engine.execute(STREAM + "CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
                             "(SIZE 10 SECONDS, RETENTION 60 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY K;")
        await _produce(engine, "s", [(0, i * 100, i) for i in range(2000)])
        await engine.run_until_idle()
        # kept while start > 190 s - 60 s; the late-record cut-off is still end + grace
        assert [w for _, w in _windows(_store(engine))] == [(s, s + 10_000) for s in range(140_000, 200_000, 10_000)]
        engine.processing_log.clear()
        await _produce(engine, "s", [(0, 185_000, 0), (0, 195_000, 0)])
        await engine.run_until_idle()
        assert [e.message for e in engine.processing_log] == [
            "Skipping record for expired window. timestamp=[185000] window=[180000,190000) expiration=[194900]"
        ]
        assert (await _sink(engine, "T"))[-1][1]["N"] == 101  # 195 s counted in its open window
        await engine.close()

    asyncio.run(scenario())


def test_hopping_emit_final_bounded(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path)
        await engine.execute(STREAM + "CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S WINDOW HOPPING "
                             "(SIZE 10 SECONDS, ADVANCE BY 5 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY K EMIT FINAL;")
        await _produce(engine, "s", [(i % 3, i * 100, i) for i in range(3000)])
        await engine.run_until_idle()
        assert len(_windows(_store(engine))) <= 3 * 2
        emitted = await _sink(engine, "T")
        # windows starting 0 s .. 285 s have closed, each with 100 events over the 3 keys
        assert len(emitted) == 3 * 58 and sum(v["N"] for _, v in emitted) == 58 * 100
        await engine.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("emit", ["CHANGES", "FINAL"])
def test_session_store_bounded(tmp_path: Path, emit: str) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path)
        await engine.execute(STREAM + "CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S "
                             f"WINDOW SESSION (5 SECONDS, GRACE PERIOD 1 SECOND) GROUP BY K EMIT {emit};")
        # 1000 keys, each seen twice 1 s apart and never again
        await _produce(engine, "s", [(i // 2, i * 1000, i) for i in range(2000)])
        await engine.run_until_idle()
        store = _store(engine)
        live = _windows(store)
        # retention 6 s: sessions ending before max end (1999 s) - 6 s are gone, with their lists
        assert live and all(w[1] >= 1_993_000 for _, w in live)
        assert len(store.data) <= 2 * len(live) + 1
        emitted = [v for _, v in await _sink(engine, "T") if v is not None and v["N"] == 2]
        assert len(emitted) >= 990
        await engine.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["rocksdb", "memory"])
def test_restart_restores_only_live_windows(tmp_path: Path, backend: str) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path, backend)
        await engine.execute(STREAM + TUMBLING)
        await _produce(engine, "s", [(i % 5, i * 100, i) for i in range(2000)])
        await engine.run_until_idle()
        task = _task(engine)
        (name,) = task.store_names
        changelog = task.changelog_topic(name)
        # an expired window that reached the changelog without its tombstone (written by an older
        # version): restore must not bring it back
        stale_key = ((7,), (0, 10_000))
        await engine.backend.produce(changelog, [
            Record(pickle.dumps(stale_key), pickle.dumps(([1], 5, (7,), (0, 10_000))), 0, partition=0)])
        await engine.close()

        engine = await _open(tmp_path, backend)
        store = _store(engine)
        assert len(_windows(store)) == 10
        assert stale_key not in store.data
        # a late record for an expired window is dropped; one for a live window continues its count
        engine.processing_log.clear()
        await _produce(engine, "s", [(0, 5_000, 0), (0, 199_950, 0)])
        await engine.run_until_idle()
        assert [e.message for e in engine.processing_log] == [
            "Skipping record for expired window. timestamp=[5000] window=[0,10000) expiration=[194900]"
        ]
        assert (await _sink(engine, "T"))[-1][1]["N"] == 21
        # the stale window's tombstone went out with the first commit after the restore
        assert (await _changelog(engine))[-3].key == pickle.dumps(stale_key)
        assert (await _changelog(engine))[-3].value is None
        await engine.close()

    asyncio.run(scenario())


def test_stream_stream_join_buffers_bounded(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path)
        await engine.execute(
            "CREATE STREAM L (K INT KEY, V INT) WITH (KAFKA_TOPIC='l', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM R (K INT KEY, V INT) WITH (KAFKA_TOPIC='r', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE STREAM J AS SELECT L.K AS K, L.V AS LV, R.V AS RV FROM L JOIN R "
            "WITHIN 1 SECOND GRACE PERIOD 1 SECOND ON L.K = R.K;"
        )
        # every key once per side, 100 ms apart: each left record joins its right one
        for i in range(1000):
            await _produce(engine, "l", [(i, i * 1000, i)])
            await _produce(engine, "r", [(i, i * 1000 + 100, -i)])
        await engine.run_until_idle()
        store = _store(engine)
        buffers = [k for k in store.data if type(k) is tuple and k[0] == "buf"]
        # retention 3 s (1 s before + 1 s after + 1 s grace): about three keys per side are left
        assert 0 < len(buffers) <= 2 * 4
        joined = await _sink(engine, "J")
        assert len(joined) == 1000
        op = next(op for op in _task(engine).operators if hasattr(op, "expired_dropped"))
        assert op.expired_dropped == 0
        await _produce(engine, "r", [(5, 5_000, 0)])  # far behind stream time: neither joins nor stays
        await engine.run_until_idle()
        assert op.expired_dropped == 1 and len(await _sink(engine, "J")) == 1000
        assert ("buf", 1, (5,)) not in store.data
        await engine.close()

    asyncio.run(scenario())
