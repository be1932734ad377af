from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import state
from ksql.topics import EmbeddedLog, Record
from state import (
    MemoryStorePartition,
    PartitionTransaction,
    RocksDBStorePartition,
    SessionStore,
    StateManager,
    StorePartition,
    TransactionError,
    TransactionState,
    WindowStore,
    restore,
    restore_from_topic,
)
from state.keys import decode_int, encode_int
from state.store import prefix_end
from state.transaction import dumps

MakeStore = Callable[[], StorePartition]


@pytest.fixture(params=["rocksdb", "memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens the store under test; a RocksDB store reopens the same files, a memory one is new."""
    opened: list[StorePartition] = []

    def make() -> StorePartition:
        store: StorePartition = (
            RocksDBStorePartition(tmp_path / "db") if backend == "rocksdb" else MemoryStorePartition()
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> StorePartition:
    return make_store()


# -- store partitions ------------------------------------------------------------------------------


def test_put_get_delete(store: StorePartition) -> None:
    store.write([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert store.get(b"a") == b"3"
    store.write([(b"a", None), (b"zz", None)])
    assert store.get(b"a") is None
    assert store.get(b"b") == b"2"
    assert store.get_changelog_offset() is None


def test_bad_batch_writes_nothing(store: StorePartition) -> None:
    with pytest.raises(TypeError):
        store.write([(b"a", b"1"), ("b", b"2")], 5)  # type: ignore[list-item]
    assert store.get(b"a") is None
    assert store.get_changelog_offset() is None


def test_iterate(store: StorePartition) -> None:
    keys = [b"a", b"ab", b"abc", b"ab\xff", b"ab\xff\xff", b"ac", b"b", b"\xff"]
    store.write([(k, k.upper()) for k in keys])
    assert [k for k, _ in store.iterate()] == sorted(keys)
    assert [k for k, _ in store.iterate(b"ab", b"ac")] == [b"ab", b"abc", b"ab\xff", b"ab\xff\xff"]
    assert [k for k, _ in store.iterate(prefix=b"ab")] == [b"ab", b"abc", b"ab\xff", b"ab\xff\xff"]
    assert [k for k, _ in store.iterate(prefix=b"ab\xff")] == [b"ab\xff", b"ab\xff\xff"]
    assert [k for k, _ in store.iterate(b"abd", prefix=b"ab")] == [b"ab\xff", b"ab\xff\xff"]
    assert [k for k, _ in store.iterate(prefix=b"\xff")] == [b"\xff"]
    assert [k for k, _ in store.iterate(b"ab", b"b", reverse=True)] == [
        b"ac",
        b"ab\xff\xff",
        b"ab\xff",
        b"abc",
        b"ab",
    ]
    assert [k for k, _ in store.iterate(reverse=True)] == sorted(keys, reverse=True)
    assert [k for k, _ in store.iterate(b"b", b"a")] == []
    assert dict(store.iterate(prefix=b"abc")) == {b"abc": b"ABC"}
    assert prefix_end(b"a\xff") == b"b" and prefix_end(b"\xff\xff") is None


def test_iterate_tolerates_writes(store: StorePartition) -> None:
    store.write([(b"%03d" % i, b"x") for i in range(10)])
    seen = []
    for k, _ in store.iterate():
        seen.append(k)
        store.write([(k, None), (b"999", b"y")])
    assert len(seen) == 10


def test_changelog_offset_written_with_data(make_store: MakeStore, backend: str) -> None:
    store = make_store()
    store.write([(b"k", b"v")], 41)
    store.write([], 42)
    store.write([(b"k2", b"v2")])  # no offset: keeps the previous one
    assert store.get_changelog_offset() == 42
    if backend == "rocksdb":
        store.close()
        again = make_store()
        assert again.get_changelog_offset() == 42
        assert again.get(b"k") == b"v" and again.get(b"k2") == b"v2"
        assert list(again.iterate()) == [(b"k", b"v"), (b"k2", b"v2")]  # the offset is not data


def test_closed_and_destroyed(make_store: MakeStore, backend: str, tmp_path: Path) -> None:
    store = make_store()
    store.write([(b"k", b"v")], 1)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get(b"k")
    store.destroy()
    if backend == "rocksdb":
        assert not (tmp_path / "db").exists()
        assert make_store().get(b"k") is None


# -- ordered keys ----------------------------------------------------------------------------------


def test_int_encoding_orders_numerically() -> None:
    values = [-(2**63), -(10**12), -1, 0, 1, 255, 256, 10**12, 2**63 - 1]
    assert sorted(values, key=encode_int) == values
    assert [decode_int(encode_int(v)) for v in values] == values


# -- transactions ----------------------------------------------------------------------------------


def test_transaction_reads_its_writes(store: StorePartition) -> None:
    store.write([(b"a", dumps(1)), (b"b", dumps(2)), (b"c", dumps(3))])
    tx = PartitionTransaction(store)
    assert tx.get(b"a") == 1
    tx.put(b"a", {"x": [1, 2]})
    tx.delete(b"b")
    tx.put(b"bb", 22)
    tx.put(b"d", 4)
    assert tx.get(b"a") == {"x": [1, 2]}
    assert tx.get(b"b", "gone") == "gone" and not tx.exists(b"b")
    assert list(tx.iterate()) == [(b"a", {"x": [1, 2]}), (b"bb", 22), (b"c", 3), (b"d", 4)]
    assert list(tx.iterate(reverse=True)) == [(b"d", 4), (b"c", 3), (b"bb", 22), (b"a", {"x": [1, 2]})]
    assert list(tx.iterate(b"b", b"d")) == [(b"bb", 22), (b"c", 3)]
    assert list(tx.iterate(prefix=b"b")) == [(b"bb", 22)]
    assert store.get(b"b") is not None  # nothing reaches the store before flush


def test_transaction_commit_protocol(make_store: MakeStore) -> None:
    store = make_store()
    tx = PartitionTransaction(store)
    tx.put(b"k1", "one")
    tx.put(b"k2", ("two", 2))
    tx.delete(b"k3")
    assert tx.state is TransactionState.STARTED
    records = tx.changelog_records()
    assert tx.state is TransactionState.PREPARED
    assert [(k, v is None) for k, v in records] == [(b"k1", False), (b"k2", False), (b"k3", True)]
    with pytest.raises(TransactionError, match="prepared"):
        tx.put(b"k4", 4)
    assert tx.get(b"k1") == "one"  # still readable while the changelog is produced
    tx.flush(changelog_offset=3)
    assert tx.state is TransactionState.COMMITTED
    assert store.get_changelog_offset() == 3
    assert PartitionTransaction(store).get(b"k2") == ("two", 2)
    with pytest.raises(TransactionError, match="committed"):
        tx.get(b"k1")


def test_failed_flush_marks_transaction_failed(store: StorePartition) -> None:
    class Broken(MemoryStorePartition):
        def write(self, batch: object, changelog_offset: int | None = None) -> None:
            raise OSError("no space")

    tx = PartitionTransaction(Broken())
    tx.put(b"k", 1)
    with pytest.raises(OSError):
        tx.flush(1)
    assert tx.state is TransactionState.FAILED
    with pytest.raises(TransactionError, match="failed"):
        tx.flush(1)

    unpicklable = PartitionTransaction(store)
    unpicklable.put(b"k", lambda: None)
    with pytest.raises(Exception):  # noqa: B017 - pickling errors vary by object
        unpicklable.prepare()
    assert unpicklable.state is TransactionState.FAILED
    assert store.get(b"k") is None


# -- windows and sessions --------------------------------------------------------------------------


def test_window_store(store: StorePartition) -> None:
    tx = PartitionTransaction(store)
    w = WindowStore(tx)
    w.put(b"a", 0, "a0")
    w.put(b"a", 10, "a10")
    w.put(b"a", -10, "a-10")
    w.put(b"ab", 5, "ab5")  # a key that extends another must not leak into its scans
    w.put(b"b", 10, "b10")
    tx.flush(1)

    tx = PartitionTransaction(store)
    w = WindowStore(tx)
    w.put(b"a", 20, "a20")  # unflushed writes are seen by fetches
    assert w.get(b"a", 10) == "a10"
    assert w.fetch(b"a") == [(-10, "a-10"), (0, "a0"), (10, "a10"), (20, "a20")]
    assert w.fetch(b"a", 0, 10) == [(0, "a0"), (10, "a10")]
    assert w.fetch(b"a", 11, 19) == []
    assert w.fetch(b"ab") == [(5, "ab5")]
    assert w.fetch_all(0, 10) == [(b"a", 0, "a0"), (b"ab", 5, "ab5"), (b"a", 10, "a10"), (b"b", 10, "b10")]
    assert w.expire(5) == [(b"a", -10, "a-10"), (b"a", 0, "a0")]
    assert w.fetch(b"a") == [(10, "a10"), (20, "a20")]
    tx.flush(2)
    assert [s for _, s, _ in WindowStore(PartitionTransaction(store)).fetch_all()] == [5, 10, 10, 20]


def test_session_store(store: StorePartition) -> None:
    tx = PartitionTransaction(store)
    s = SessionStore(tx)
    s.put(b"k", 0, 10, "s1")
    s.put(b"k", 20, 30, "s2")
    s.put(b"k", 100, 100, "s3")
    s.put(b"other", 5, 25, "o1")
    assert s.get(b"k", 20, 30) == "s2"
    # A record at 35 with a gap of 10 merges with sessions ending at or after 25, starting by 45.
    assert s.find_sessions(b"k", 25, 45) == [(20, 30, "s2")]
    assert s.find_sessions(b"k", 5, 25) == [(0, 10, "s1"), (20, 30, "s2")]
    assert s.fetch(b"k") == [(0, 10, "s1"), (20, 30, "s2"), (100, 100, "s3")]
    assert s.fetch_all(10, 50) == [(b"k", 0, 10, "s1"), (b"other", 5, 25, "o1"), (b"k", 20, 30, "s2")]
    s.delete(b"k", 20, 30)
    assert s.fetch(b"k") == [(0, 10, "s1"), (100, 100, "s3")]
    assert s.expire(26) == [(b"k", 0, 10, "s1"), (b"other", 5, 25, "o1")]
    tx.flush(7)
    assert SessionStore(PartitionTransaction(store)).fetch_all() == [(b"k", 100, 100, "s3")]


# -- recovery --------------------------------------------------------------------------------------


def test_restore_batches_and_sets_offset(make_store: MakeStore) -> None:
    source = make_store()
    tx = PartitionTransaction(source)
    for i in range(25):
        tx.put(b"k%02d" % i, i)
    tx.delete(b"k03")
    changelog = [Record(k, v, 0, offset=100 + i) for i, (k, v) in enumerate(tx.changelog_records())]

    class Counting(MemoryStorePartition):
        writes = 0

        def write(self, batch: object, changelog_offset: int | None = None) -> None:
            self.writes += 1
            super().write(batch, changelog_offset)  # type: ignore[arg-type]

    target = Counting()
    target.write([(b"k03", dumps("stale"))])
    assert restore(target, changelog, batch_size=10) == 25  # k03: put then deleted, one record
    assert target.writes == 1 + 3
    assert target.get_changelog_offset() == 125
    assert target.get(b"k03") is None
    assert PartitionTransaction(target).get(b"k24") == 24

    with pytest.raises(ValueError, match="no key"):
        restore(target, [Record(None, b"v", 0, offset=1)])


def test_restore_from_topic(store: StorePartition) -> None:
    async def go() -> None:
        log = EmbeddedLog()
        await log.create_topic("app-store-changelog", 2)
        tx = PartitionTransaction(store)
        tx.put(b"a", 1)
        tx.put(b"b", 2)
        produced = await log.produce(
            "app-store-changelog", [Record(k, v, 0, partition=1) for k, v in tx.changelog_records()]
        )
        tx.flush(produced[-1].offset + 1)
        await log.produce(
            "app-store-changelog",
            [Record(b"a", dumps(10), 0, partition=1), Record(b"b", None, 0, partition=1)],
        )

        # The store already holds the first two changelog records: only the rest is applied.
        assert await restore_from_topic(store, log, "app-store-changelog", 1, batch_size=1) == 2
        assert store.get_changelog_offset() == 4
        assert PartitionTransaction(store).get(b"a") == 10 and store.get(b"b") is None
        assert await restore_from_topic(store, log, "app-store-changelog", 1) == 0

    asyncio.run(go())


# -- manager ---------------------------------------------------------------------------------------


def test_state_manager(backend: str, tmp_path: Path) -> None:
    mgr = StateManager(backend, tmp_path)  # type: ignore[arg-type]
    a0 = mgr.open("CTAS_T_1", "Aggregate-Materialize", 0)
    assert mgr.open("CTAS_T_1", "Aggregate-Materialize", 0) is a0
    a0.write([(b"k", b"v")], 1)
    mgr.open("CTAS_T_1", "Aggregate-Materialize", 1)
    other = mgr.open("CSAS_S_2", "store/with odd..name", 0)
    assert sorted(mgr.stores("CTAS_T_1")) == [
        ("CTAS_T_1", "Aggregate-Materialize", 0),
        ("CTAS_T_1", "Aggregate-Materialize", 1),
    ]
    if backend == "rocksdb":
        assert (tmp_path / "CTAS_T_1" / "Aggregate-Materialize" / "0").is_dir()
        assert (tmp_path / "CSAS_S_2" / "store%2Fwith%20odd..name" / "0").is_dir()
        mgr.close("CTAS_T_1", "Aggregate-Materialize", 0)
        assert mgr.open("CTAS_T_1", "Aggregate-Materialize", 0).get(b"k") == b"v"
    mgr.destroy_query("CTAS_T_1")
    assert mgr.stores("CTAS_T_1") == []
    assert not (tmp_path / "CTAS_T_1").exists()
    assert mgr.open("CTAS_T_1", "Aggregate-Materialize", 0).get(b"k") is None
    other.write([(b"x", b"y")])
    mgr.close_all()
    assert mgr.stores("CSAS_S_2") == []


def test_state_manager_validates_arguments() -> None:
    with pytest.raises(ValueError, match="base_dir"):
        StateManager("rocksdb")
    with pytest.raises(ValueError, match="unknown state backend"):
        StateManager("lmdb")  # type: ignore[arg-type]
    mem = StateManager("memory")
    assert mem.open("q", "s", 0).get(b"k") is None
    mem.destroy_query("q")


def test_all_is_complete() -> None:
    modules = {
        "keys",
        "manager",
        "memory",
        "recovery",
        "rocksdb",
        "session",
        "store",
        "transaction",
        "window",
    }
    assert {n for n in dir(state) if not n.startswith("_")} - modules == set(state.__all__)
