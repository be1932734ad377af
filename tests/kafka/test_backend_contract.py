"""The TopicBackend contract: the same assertions on the embedded log and on KafkaBackend (at-least-once
and exactly-once commits)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kafka_testlib import BackendFactory, read_all

from ksql.topics import InvalidTopicError, Record, TopicBackend, TopicExistsError, UnknownTopicError
from ksql.topics.kafka import KafkaBackend, normalize_guarantee
from ksql.topics.partitioner import partition_for_key


def run(make: BackendFactory, body: Callable[[TopicBackend], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        backend = make()
        try:
            return await body(backend)
        finally:
            await backend.close()

    return asyncio.run(main())


def test_create_describe_list_delete(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        assert await b.describe_topic("t1") is None
        info = await b.create_topic("t1", 3, 1, {"cleanup.policy": "compact"})
        assert (info.name, info.partitions, info.replicas) == ("t1", 3, 1)
        got = await b.describe_topic("t1")
        assert got is not None and got.partitions == 3
        assert got.config.get("cleanup.policy") == "compact"
        await b.create_topic("t2")
        assert {t.name for t in await b.list_topics()} >= {"t1", "t2"}
        with pytest.raises(TopicExistsError):
            await b.create_topic("t1", 3)
        await b.delete_topic("t1")
        assert await b.describe_topic("t1") is None
        assert "t1" not in {t.name for t in await b.list_topics()}
        with pytest.raises(UnknownTopicError):
            await b.delete_topic("t1")
        # a deleted name can be created again, empty
        await b.create_topic("t1", 1)
        assert await read_all(b, "t1") == []

    run(make_backend, body)


def test_invalid_topics(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        with pytest.raises(InvalidTopicError):
            await b.create_topic("bad name!")
        with pytest.raises(InvalidTopicError):
            await b.create_topic("ok", 0)
        with pytest.raises(UnknownTopicError):
            await b.produce("missing", [Record(b"k", b"v", 1)])

    run(make_backend, body)


def test_produce_assigns_partitions_and_offsets_and_reads_back(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        await b.create_topic("p", 4)
        keys = [f"key{i}".encode() for i in range(20)]
        out = await b.produce("p", [Record(k, b"v" + k, 1000 + i) for i, k in enumerate(keys)])
        assert [r.partition for r in out] == [partition_for_key(k, 4) for k in keys]
        for p in range(4):
            mine = [r for r in out if r.partition == p]
            assert [r.offset for r in mine] == list(range(len(mine)))
            back = await read_all(b, "p", p)
            assert [(r.key, r.value, r.timestamp, r.offset) for r in back] == [
                (r.key, r.value, r.timestamp, r.offset) for r in mine
            ]
        ends = await b.end_offsets([("p", p) for p in range(4)])
        assert ends == {("p", p): len([r for r in out if r.partition == p]) for p in range(4)}
        assert await b.start_offsets([("p", 0)]) == {("p", 0): 0}
        explicit = await b.produce("p", [Record(b"x", b"y", 5, partition=2)])
        assert explicit[0].partition == 2
        with pytest.raises(UnknownTopicError):
            await b.produce("p", [Record(b"x", b"y", 5, partition=9)])

    run(make_backend, body)


def test_nulls_headers_and_read_positions(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        await b.create_topic("h", 1)
        await b.produce("h", [
            Record(None, b"v0", 1, (("a", b"1"), ("b", None))),
            Record(b"k1", None, 2),
            Record(b"k2", b"v2", 3),
        ])
        recs = await read_all(b, "h")
        assert [(r.key, r.value, r.timestamp) for r in recs] == [(None, b"v0", 1), (b"k1", None, 2), (b"k2", b"v2", 3)]
        assert recs[0].headers == (("a", b"1"), ("b", None))
        # reading again from an earlier position (a seek), from the middle, with a small max
        assert [r.offset for r in await b.read("h", 0, 1, 10)] == [1, 2]
        assert [r.offset for r in await b.read("h", 0, 0, 1)] == [0]
        assert await b.read("h", 0, 3, 10) == []
        with pytest.raises(UnknownTopicError):
            await b.read("h", 5, 0)

    run(make_backend, body)


def test_read_many_merges_partitions_in_time_order(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        await b.create_topic("left", 1)
        await b.create_topic("right", 2)
        # written in timestamp order, alternating topics: both orders (seq, timestamp) agree
        for i in range(30):
            topic = "left" if i % 3 == 0 else "right"
            await b.produce(topic, [Record(str(i).encode(), str(i).encode(), 100 + i, partition=0 if topic == "left" else i % 2)])
        positions = {("left", 0): 0, ("right", 0): 0, ("right", 1): 0}
        got: list[tuple[str, Record]] = []
        while True:
            batch = await b.read_many(positions, 7, group="g-merge")
            if not batch:
                break
            assert len(batch) <= 7
            for topic, r in batch:
                positions[(topic, r.partition)] = r.offset + 1
            got.extend(batch)
        assert [int(r.value or b"") for _, r in got] == list(range(30))

    run(make_backend, body)


def test_commit_and_committed(make_backend: BackendFactory) -> None:
    async def body(b: TopicBackend) -> None:
        await b.create_topic("in", 2)
        await b.create_topic("out", 1)
        await b.create_topic("g-store-changelog", 1, 1, {"cleanup.policy": "compact"})
        assert await b.committed("g") == {}
        await b.commit("g", {("in", 0): 3, ("in", 1): 1}, {
            "out": [Record(b"a", b"1", 10), Record(b"b", b"2", 11)],
            "g-store-changelog": [Record(b"a", b"x", 10, partition=0)],
        })
        assert await b.committed("g") == {("in", 0): 3, ("in", 1): 1}
        assert [r.value for r in await read_all(b, "out")] == [b"1", b"2"]
        assert [r.value for r in await read_all(b, "g-store-changelog")] == [b"x"]
        await b.commit("g", {("in", 0): 5})
        assert await b.committed("g") == {("in", 0): 5, ("in", 1): 1}
        assert await b.committed("other") == {}
        # a second commit appends after the first
        await b.commit("g", {("in", 1): 2}, {"out": [Record(b"c", b"3", 12)]})
        assert [r.value for r in await read_all(b, "out")] == [b"1", b"2", b"3"]
        with pytest.raises(UnknownTopicError):
            await b.commit("g", {}, {"missing": [Record(b"a", b"1", 1)]})

    run(make_backend, body)


def test_reopen_sees_topics_groups_and_records(make_backend: BackendFactory) -> None:
    """A second backend on the same cluster (or a reopened memory log: skipped) sees everything."""

    async def first(b: TopicBackend) -> bool:
        if not isinstance(b, KafkaBackend):
            return False
        await b.create_topic("keep", 1)
        await b.commit("grp", {("keep", 0): 1}, {"keep": [Record(b"k", b"v", 7)]})
        return True

    if not run(make_backend, first):
        pytest.skip("the memory log does not outlive its object")

    async def second(b: TopicBackend) -> None:
        assert await b.committed("grp") == {("keep", 0): 1}
        assert [r.value for r in await read_all(b, "keep")] == [b"v"]

    run(make_backend, second)


def test_guarantee_names() -> None:
    assert normalize_guarantee("exactly_once") == "exactly_once_v2"
    assert normalize_guarantee("EXACTLY_ONCE_V2") == "exactly_once_v2"
    assert normalize_guarantee("at_least_once") == "at_least_once"
    with pytest.raises(ValueError, match="processing.guarantee"):
        normalize_guarantee("at_most_once")
