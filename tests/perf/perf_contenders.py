"""One run of one contender, in its own process: ``python perf_contenders.py SPEC_JSON``.

The harness starts this once per run, so that no run inherits another's memory, threads or
caches. Contenders that time themselves print ``RESULT {...}`` as their last line; the long-running
ones (Quix Streams) print ``FIRST <epoch ms>`` when they see their first record and run until the
harness, which watches their committed offsets, stops them.

Specs (JSON objects):
- ``{"contender": "ours", "backend": "embedded"|"kafka", "workload": "w1".."w4", "log_dir" | "bootstrap",
  "topics": {"events", "players"}, "events": N, "work_dir", "run"}``: our engine, in process, driven by
  the server's background runner; timed from the CREATE ... AS SELECT until the query's consumer group
  has committed the end of every input. W1 then also times a restore of its store from the changelog
  into fresh local state.
- ``{"contender": "aiokafka", "bootstrap", "topics", "events"}``: raw consumption + JSON decode.
- ``{"contender": "quix", "bootstrap", "topics", "group", "output", "state_dir"}``: Quix Streams.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from perf_common import (
    EVENTS_DDL,
    PLAYERS_DDL,
    QUERIES,
    emit_result,
    kafka_backend,
)

from ksql.engine.background import BackgroundRunner
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.base import TopicBackend
from ksql.topics.embedded import EmbeddedLog
from state.manager import StateManager


def _backend(spec: dict[str, Any], log_dir: Path | None) -> TopicBackend:
    if spec["backend"] == "embedded":
        return EmbeddedLog(log_dir)
    backend = kafka_backend(spec["bootstrap"])
    if backend is None:
        raise SystemExit("no Kafka backend")
    return backend


def _engine(backend: TopicBackend, service_id: str, state_dir: Path) -> KsqlEngine:
    config = Config({
        "ksql.service.id": service_id,
        "ksql.streams.auto.offset.reset": "earliest",
        # the same commit interval the other contenders are given
        "ksql.streams.commit.interval.ms": 1000,
    })
    return KsqlEngine(backend, config, state=StateManager("rocksdb", state_dir))


async def _wait_committed(engine: KsqlEngine, group: str, topics: list[str], timeout_s: float) -> None:
    tps = [(t, 0) for t in topics]
    ends = await engine.backend.end_offsets(tps)
    deadline = time.monotonic() + timeout_s
    while True:
        done = await engine.backend.committed(group)
        if all(done.get(tp, 0) >= ends[tp] for tp in tps):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: committed {done} of {ends}")
        await asyncio.sleep(0.01)


async def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    work = Path(spec["work_dir"])
    log_dir: Path | None = None
    if spec["backend"] == "embedded":
        # a private copy of the prepared log: runs do not see each other's outputs
        log_dir = work / "log"
        shutil.copytree(spec["log_dir"], log_dir)
    workload = spec["workload"]
    service_id = spec["service_id"]
    sink = spec["sink"]
    engine = _engine(_backend(spec, log_dir), service_id, work / "state")
    await engine.start()
    topics = spec["topics"]
    await engine.execute(EVENTS_DDL.format(topic=topics["events"]))
    inputs = [topics["events"]]
    if workload == "w3":
        await engine.execute(PLAYERS_DDL.format(topic=topics["players"]))
        inputs.append(topics["players"])
    runner = BackgroundRunner(engine)
    t0 = time.perf_counter()
    entities = await engine.execute(QUERIES[workload].format(sink=sink))
    query_id = entities[-1]["commandStatus"]["queryId"]
    group = f"_confluent-ksql-{service_id}query_{query_id}"
    runner.start()
    await _wait_committed(engine, group, inputs, spec.get("timeout_s", 1800))
    dt = time.perf_counter() - t0
    await runner.stop()
    result: dict[str, Any] = {"events_per_s": spec["events"] / dt, "seconds": dt}
    if workload == "w1":
        changelogs = [t.name for t in await engine.backend.list_topics()
                      if t.name.startswith(group) and t.name.endswith("-changelog")]
        ends = await engine.backend.end_offsets([(t, 0) for t in changelogs])
        records = sum(ends.values())
        await engine.close()
        # the local state is lost: a new engine replays its commands and rebuilds the store
        # from the changelog topic alone
        t0 = time.perf_counter()
        engine = _engine(_backend(spec, log_dir), service_id, work / "state-restored")
        await engine.start()
        dt = time.perf_counter() - t0
        result["restore_records"] = records
        result["restore_records_per_s"] = records / dt
    await engine.close()
    return result


async def run_aiokafka(spec: dict[str, Any]) -> dict[str, Any]:
    """The ceiling: fetch every record of the topic and decode its JSON value, nothing else."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    tp = TopicPartition(spec["topics"]["events"], 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20,
                                fetch_max_bytes=16 << 20)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        n, target = 0, spec["events"]
        total = 0
        t0 = 0.0
        while n < target:
            batches = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
            for recs in batches.values():
                if not t0:
                    t0 = time.perf_counter()
                for r in recs:
                    total += orjson.loads(r.value)["SCORE"]
                n += len(recs)
        dt = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {"events_per_s": n / dt, "seconds": dt, "checksum": total}


def run_quix(spec: dict[str, Any]) -> None:
    """Quix Streams doing W1 (count and sum per key, changelogged state); runs until stopped."""
    from quixstreams import Application
    from quixstreams.state import State

    app = Application(
        broker_address=spec["bootstrap"], consumer_group=spec["group"], auto_offset_reset="earliest",
        commit_interval=1.0, state_dir=spec["state_dir"], use_changelog_topics=True, loglevel="WARNING",
    )
    source = app.topic(spec["topics"]["events"], key_deserializer="bytes", value_deserializer="json")
    sink = app.topic(spec["output"], key_serializer="bytes", value_serializer="json")
    seen = False

    def aggregate(value: dict[str, Any], state: State) -> dict[str, Any]:
        nonlocal seen
        if not seen:
            seen = True
            print(f"FIRST {int(time.time() * 1000)}", flush=True)
        n = state.get("n", 0) + 1
        s = state.get("s", 0) + value["SCORE"]
        state.set("n", n)
        state.set("s", s)
        return {"N": n, "S": s}

    sdf = app.dataframe(source)
    sdf = sdf.apply(aggregate, stateful=True)
    sdf.to_topic(sink)
    app.run()


def main() -> None:
    spec = json.loads(sys.argv[1])
    contender = spec["contender"]
    if contender == "quix":
        run_quix(spec)
        return
    runners = {"ours": run_ours, "aiokafka": run_aiokafka}
    emit_result(asyncio.run(runners[contender](spec)))


if __name__ == "__main__":
    main()
