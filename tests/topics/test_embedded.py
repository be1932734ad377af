from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import ksql.topics
from ksql.topics import EmbeddedLog, Record, TopicExistsError, UnknownTopicError
from ksql.topics._logfile import Journal, encode_frame
from ksql.topics.errors import InvalidTopicError
from ksql.topics.partitioner import murmur2, partition_for_key, to_positive

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(params=["memory", "files"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., EmbeddedLog]:
    """Opens (or reopens) the log under test; memory logs are fresh each time."""

    def make(**kwargs: Any) -> EmbeddedLog:
        return EmbeddedLog(None if request.param == "memory" else tmp_path / "log", **kwargs)

    return make


def recs(*pairs: tuple[bytes | None, bytes | None], ts: int = 1000) -> list[Record]:
    return [Record(k, v, ts + i) for i, (k, v) in enumerate(pairs)]


def topic_folder(root: Path, name: str) -> Path:
    (folder,) = [f for f in (root / "topics").iterdir() if f.name.split("-", 1)[1] == name]
    return folder


# -- partitioner -----------------------------------------------------------------------------------

# Values from the Java implementation (Kafka's Utils.murmur2 test vectors).
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_MURMUR2.items())
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_for_key() -> None:
    assert to_positive(-973932308) == -973932308 & 0x7FFFFFFF
    assert partition_for_key(b"21", 4) == to_positive(-973932308) % 4
    assert partition_for_key(b"abc", 7) == 479470107 % 7
    assert to_positive(-(2**31)) == 0  # not abs(): Java's abs(MIN_VALUE) stays negative


# -- produce and read ------------------------------------------------------------------------------


def test_produce_and_read(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        await log.create_topic("t", partitions=4)
        keys = [b"21", b"foobar", b"abc", b"x", b"21"]
        out = await log.produce(
            "t", [Record(k, b"v" + k, 100 + i, (("h", b"1"), ("n", None))) for i, k in enumerate(keys)]
        )
        assert [r.partition for r in out] == [partition_for_key(k, 4) for k in keys]
        assert [r.seq for r in out] == [0, 1, 2, 3, 4]
        p = partition_for_key(b"21", 4)
        got = await log.read("t", p, 0)
        assert [(r.key, r.value, r.timestamp, r.offset) for r in got if r.key == b"21"] == [
            (b"21", b"v21", 100, got[0].offset),
            (b"21", b"v21", 104, got[-1].offset),
        ]
        assert got[0].headers == (("h", b"1"), ("n", None))
        assert got[0].partition == p
        ends = await log.end_offsets([("t", i) for i in range(4)])
        assert sum(ends.values()) == 5
        assert await log.start_offsets([("t", 0)]) == {("t", 0): 0}
        assert await log.read("t", p, 1, max_records=1) == got[1:2]
        assert await log.read("t", p, 99) == []
        await log.close()

    run(go())


def test_null_keys_and_explicit_partitions(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        await log.create_topic("t", partitions=3)
        out = await log.produce("t", recs((None, b"a"), (None, b"b"), (None, b"c"), (None, None)))
        assert [r.partition for r in out] == [0, 1, 2, 0]
        assert (await log.read("t", 0, 1))[0].value is None
        pinned = await log.produce("t", [Record(b"k", b"v", 1, partition=2)])
        assert (pinned[0].partition, pinned[0].offset) == (2, 1)
        with pytest.raises(UnknownTopicError):
            await log.produce("t", [Record(b"k", b"v", 1, partition=3)])
        await log.close()

    run(go())


def test_seq_is_global_write_order(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        await log.create_topic("a")
        await log.create_topic("b")
        await log.produce("a", recs((b"1", b"1")))
        await log.produce("b", recs((b"2", b"2")))
        await log.commit("g", {}, {"b": recs((b"3", b"3")), "a": recs((b"4", b"4"))})
        merged = sorted((await log.read("a", 0, 0)) + (await log.read("b", 0, 0)), key=lambda r: r.seq)
        assert [r.key for r in merged] == [b"1", b"2", b"3", b"4"]
        await log.close()

    run(go())


def test_admin(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        info = await log.create_topic("Orders", 2, 1, {"cleanup.policy": "compact"})
        assert (info.name, info.partitions, info.config) == ("Orders", 2, {"cleanup.policy": "compact"})
        await log.create_topic("orders")  # names are case-sensitive
        with pytest.raises(TopicExistsError):
            await log.create_topic("Orders")
        for bad in ["", "a b", "..", "x" * 250, "a/b"]:
            with pytest.raises(InvalidTopicError):
                await log.create_topic(bad)
        with pytest.raises(InvalidTopicError):
            await log.create_topic("zero", partitions=0)
        assert sorted(t.name for t in await log.list_topics()) == ["Orders", "orders"]
        described = await log.describe_topic("Orders")
        assert described is not None and described.partitions == 2
        assert await log.describe_topic("nope") is None
        with pytest.raises(UnknownTopicError):
            await log.produce("nope", recs((b"k", b"v")))
        with pytest.raises(UnknownTopicError):
            await log.read("Orders", 2, 0)
        with pytest.raises(UnknownTopicError):
            await log.delete_topic("nope")
        await log.close()

    run(go())


def test_delete_topic_drops_data_and_group_offsets(
    make_log: Callable[..., EmbeddedLog], tmp_path: Path
) -> None:
    async def go() -> None:
        log = make_log()
        await log.create_topic("t")
        await log.create_topic("u")
        await log.commit("g", {("t", 0): 1, ("u", 0): 1}, {"t": recs((b"k", b"v"))})
        await log.delete_topic("t")
        assert await log.committed("g") == {("u", 0): 1}
        await log.create_topic("t")
        assert await log.end_offsets([("t", 0)]) == {("t", 0): 0}
        await log.produce("t", recs((b"k2", b"v2")))
        await log.close()
        if log.data_dir is not None:
            assert len(list((tmp_path / "log" / "topics").iterdir())) == 2
            log = make_log()
            assert await log.committed("g") == {("u", 0): 1}
            assert [r.key for r in await log.read("t", 0, 0)] == [b"k2"]
            await log.close()

    run(go())


def test_commit_and_committed(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        await log.create_topic("in")
        await log.create_topic("out", 2)
        await log.commit("g", {("in", 0): 5}, {"out": recs((b"a", b"1"), (b"b", b"2"))})
        await log.commit("g", {("in", 0): 7})
        await log.commit("h", {("out", 1): 1})
        assert await log.committed("g") == {("in", 0): 7}
        assert await log.committed("h") == {("out", 1): 1}
        assert await log.committed("none") == {}
        with pytest.raises(UnknownTopicError):
            await log.commit("g", {("missing", 0): 1})
        with pytest.raises(UnknownTopicError):  # nothing of a failed commit is applied
            await log.commit("g", {("in", 0): 9}, {"missing": recs((b"k", b"v"))})
        assert await log.committed("g") == {("in", 0): 7}
        await log.close()

    run(go())


def test_closed_log_refuses_work(make_log: Callable[..., EmbeddedLog]) -> None:
    async def go() -> None:
        log = make_log()
        await log.close()
        with pytest.raises(ksql.topics.TopicBackendError, match="closed"):
            await log.list_topics()

    run(go())


# -- durability ------------------------------------------------------------------------------------


def test_survives_reopen(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t", 2, config={"retention.ms": "1"})
        await log.produce("t", [Record(bytes([i]), b"v%d" % i, i) for i in range(50)])
        await log.commit("g", {("t", 0): 3, ("t", 1): 4})
        before = [await log.read("t", p, 0) for p in range(2)]
        await log.close()

        log = EmbeddedLog(tmp_path)
        assert [await log.read("t", p, 0) for p in range(2)] == before
        assert await log.committed("g") == {("t", 0): 3, ("t", 1): 4}
        info = await log.describe_topic("t")
        assert info is not None and info.config == {"retention.ms": "1"}
        out = await log.produce("t", recs((None, b"after")))
        assert out[0].seq == 50  # seq keeps counting across restarts
        assert out[0].offset == len(before[0])
        await log.close()

    run(go())


def test_survives_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from ksql.topics import EmbeddedLog, Record

        async def main():
            log = EmbeddedLog({str(tmp_path)!r})
            await log.create_topic("t")
            await log.create_topic("out")
            for i in range(10):
                await log.produce("t", [Record(b"k", b"%d" % i, i)])
            await log.commit("app", {{("t", 0): 10}}, {{"out": [Record(b"k", b"done", 10)]}})
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()

    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        assert [r.value for r in await log.read("t", 0, 0)] == [b"%d" % i for i in range(10)]
        assert [r.value for r in await log.read("out", 0, 0)] == [b"done"]
        assert await log.committed("app") == {("t", 0): 10}
        await log.close()

    run(go())


def test_torn_writes_are_truncated_on_open(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.create_topic("out")
        await log.produce("t", recs((b"a", b"1"), (b"b", b"2")))
        await log.commit("g", {("t", 0): 2}, {"out": recs((b"x", b"y"))})
        await log.close()

        folder = topic_folder(tmp_path, "t")
        good_size = (folder / "0.log").stat().st_size
        # A commit that died after writing its data but before its journal entry: a whole valid frame
        # for the next offset, then half a frame, plus half a journal entry.
        with open(folder / "0.log", "ab") as f:
            f.write(encode_frame(2, 1, 99, b"c", b"3", ()))
            f.write(encode_frame(3, 1, 100, b"d", b"4", ())[:7])
        with open(topic_folder(tmp_path, "out") / "0.log", "ab") as f:
            f.write(encode_frame(1, 1, 101, b"z", b"z", ()))
        with open(tmp_path / "journal", "ab") as f:
            f.write(b"\x00\x00\x00\x40\x12\x34")

        log = EmbeddedLog(tmp_path)
        assert (folder / "0.log").stat().st_size == good_size
        assert [r.key for r in await log.read("t", 0, 0)] == [b"a", b"b"]
        assert [r.key for r in await log.read("out", 0, 0)] == [b"x"]
        assert await log.end_offsets([("t", 0), ("out", 0)]) == {("t", 0): 2, ("out", 0): 1}
        assert await log.committed("g") == {("t", 0): 2}
        out = await log.produce("t", recs((b"c", b"3")))
        assert (out[0].offset, out[0].seq) == (2, 3)
        await log.close()

        log = EmbeddedLog(tmp_path)
        assert [r.key for r in await log.read("t", 0, 0)] == [b"a", b"b", b"c"]
        await log.close()

    run(go())


def test_failed_commit_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.commit("g", {("t", 0): 0}, {"t": recs((b"a", b"1"))})

        def fail(self: Journal, entry: dict[str, Any]) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(Journal, "append", fail)
        with pytest.raises(OSError, match="disk full"):
            await log.commit("g", {("t", 0): 1}, {"t": recs((b"b", b"2"), (b"c", b"3"))})
        monkeypatch.undo()
        assert await log.committed("g") == {("t", 0): 0}
        assert [r.key for r in await log.read("t", 0, 0)] == [b"a"]
        out = await log.produce("t", recs((b"d", b"4")))
        assert (out[0].offset, out[0].seq) == (1, 1)
        await log.close()

        log = EmbeddedLog(tmp_path)
        assert [r.key for r in await log.read("t", 0, 0)] == [b"a", b"d"]
        await log.close()

    run(go())


def test_journal_is_compacted(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path, journal_limit=2000)
        await log.create_topic("t")
        for i in range(200):
            await log.commit("g", {("t", 0): i}, {"t": recs((b"k", b"%d" % i))})
        assert (tmp_path / "journal").stat().st_size <= 2000 + 200
        await log.close()
        log = EmbeddedLog(tmp_path)
        assert await log.committed("g") == {("t", 0): 199}
        assert await log.end_offsets([("t", 0)]) == {("t", 0): 200}
        await log.close()

    run(go())


def test_compacted_topics_keep_latest_per_key_on_open(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("table", config={"cleanup.policy": "compact"})
        await log.create_topic("stream")
        for name in ("table", "stream"):
            await log.produce(
                name, recs(*[(b"k%d" % (i % 3), b"%d" % i) for i in range(12)], (None, b"n"), (b"k0", None))
            )
        await log.close()

        log = EmbeddedLog(tmp_path)
        table = await log.read("table", 0, 0)
        assert [(r.key, r.value, r.offset) for r in table] == [
            (b"k1", b"10", 10),
            (b"k2", b"11", 11),
            (None, b"n", 12),
            (b"k0", None, 13),
        ]
        assert await log.read("table", 0, 11) == table[1:]
        assert len(await log.read("stream", 0, 0)) == 14
        out = await log.produce("table", recs((b"k1", b"new")))
        assert out[0].offset == 14
        await log.close()

        log = EmbeddedLog(tmp_path, compact_on_open=False)
        assert [r.offset for r in await log.read("table", 0, 0)] == [10, 11, 12, 13, 14]
        await log.close()

    run(go())


def test_all_is_complete() -> None:
    public = {n for n in dir(ksql.topics) if not n.startswith("_")} - {
        "base",
        "embedded",
        "errors",
        "kafka",  # a submodule, present once anything imported the Kafka backend
        "partitioner",
    }
    assert public == set(ksql.topics.__all__)


def test_no_stray_files(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.close()
        (tmp_path / "topics" / ".00000009-x.deleting").mkdir()
        log = EmbeddedLog(tmp_path)
        assert sorted(os.listdir(tmp_path / "topics")) == ["00000001-t"]
        await log.close()

    run(go())


def test_one_log_per_directory(tmp_path: Path) -> None:
    async def go() -> None:
        log = EmbeddedLog(tmp_path)
        with pytest.raises(ksql.topics.TopicBackendError, match="in use"):
            EmbeddedLog(tmp_path)
        await log.create_topic("t")
        await log.close()
        (tmp_path / "journal").unlink()
        for _ in range(2):  # a failed open lets go of the directory
            with pytest.raises(ksql.topics.TopicBackendError, match="journal"):
                EmbeddedLog(tmp_path)

    run(go())
