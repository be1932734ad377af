"""A restarted engine comes back with its streams, tables and queries, and its state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.embedded import EmbeddedLog
from state.manager import StateManager

CONFIG = {"ksql.streams.auto.offset.reset": "earliest", "ksql.streams.cache.max.bytes.buffering": 0}


async def _open(data: Path, backend: str) -> KsqlEngine:
    engine = KsqlEngine(EmbeddedLog(data / "log"), Config(CONFIG),
                        state=StateManager(backend, data / "state" if backend == "rocksdb" else None))
    await engine.start()
    return engine


async def _table(engine: KsqlEngine, topic: str) -> dict[str, int]:
    """Latest COUNT per key in the sink topic."""
    out: dict[str, int] = {}
    for r in await engine.backend.read(topic, 0, 0, 100_000):
        import orjson

        out[r.key.decode()] = orjson.loads(r.value)["N"] if r.value else None
    return out


@pytest.mark.parametrize("backend", ["rocksdb", "memory"])
def test_restart_restores_catalog_queries_and_state(tmp_path: Path, backend: str) -> None:
    async def scenario() -> None:
        engine = await _open(tmp_path, backend)
        await engine.execute(
            "CREATE STREAM PLAYS (PLAYER STRING KEY, SCORE INT) WITH (KAFKA_TOPIC='plays', VALUE_FORMAT='JSON', PARTITIONS=1);"
            "CREATE TABLE TOTALS AS SELECT PLAYER, COUNT(*) AS N FROM PLAYS GROUP BY PLAYER;"
        )
        for i in range(30):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i % 3}', {i});")
        await engine.run_until_idle()
        assert await _table(engine, "TOTALS") == {"p0": 10, "p1": 10, "p2": 10}
        await engine.close()

        engine = await _open(tmp_path, backend)
        assert set(engine.metastore.sources) == {"PLAYS", "TOTALS"}
        assert list(engine.queries) == ["CTAS_TOTALS_0"]
        for i in range(3):
            await engine.execute(f"INSERT INTO PLAYS (PLAYER, SCORE) VALUES ('p{i}', 1);")
        await engine.run_until_idle()
        # counts continue from the restored state; nothing was re-counted
        assert await _table(engine, "TOTALS") == {"p0": 11, "p1": 11, "p2": 11}
        await engine.close()

    asyncio.run(scenario())
