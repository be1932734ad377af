"""The embedded topic log: Kafka's data model inside the process, in memory or in files.

``EmbeddedLog(None)`` keeps everything in memory (one fresh log per test case). ``EmbeddedLog(dir)``
keeps each topic in ``dir/topics/<id>-<name>/`` (``topic.json`` plus one append-only ``<p>.log`` per
partition) and a ``dir/journal`` that makes each produce/commit batch atomic across a process kill
(see ``ksql.topics._logfile``). Data is handed to the OS once per batch; there is no fsync per batch.

Every record gets a ``seq``, monotonic across all topics and kept across restarts, so that a reader
of several topics can process records in the order they were written.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ksql.topics._logfile import (
    FilePartition,
    Journal,
    JournalState,
    MemoryPartition,
    PendingAppend,
    encode_frame,
)
from ksql.topics.base import Record, TopicBackend, TopicInfo, check_record
from ksql.topics.errors import InvalidTopicError, TopicBackendError, TopicExistsError, UnknownTopicError
from ksql.topics.partitioner import partition_for_key
from ksql.types import Headers, Offsets, TopicPartition

_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_JOURNAL_LIMIT = 8 << 20  # bytes of journal before it is rewritten as one snapshot entry

PartitionLog = MemoryPartition | FilePartition


@dataclass(eq=False)  # hashed by identity: a recreated topic of the same name is another topic
class _Topic:
    id: int
    info: TopicInfo
    partitions: list[PartitionLog]
    folder: Path | None = None
    next_null_key: int = 0  # round robin over partitions for records without a key

    @property
    def compacted(self) -> bool:
        return "compact" in self.info.config.get("cleanup.policy", "")


@dataclass
class _Batch:
    """One atomic append: staged frames per partition, the records to return, the next seq."""

    pending: dict[tuple[_Topic, int], PendingAppend] = field(default_factory=dict)
    results: dict[str, list[Record]] = field(default_factory=dict)
    seq: int = 0


def _copy_info(info: TopicInfo) -> TopicInfo:
    return TopicInfo(info.name, info.partitions, info.replicas, dict(info.config))


class EmbeddedLog(TopicBackend):
    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        compact_on_open: bool = True,
        journal_limit: int = _JOURNAL_LIMIT,
    ) -> None:
        self.data_dir = None if data_dir is None else Path(data_dir)
        self._journal_limit = journal_limit
        self._lock = threading.RLock()
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, Offsets] = {}
        self._seq = 0
        self._next_topic_id = 1
        self._journal: Journal | None = None
        self._lock_fd: int | None = None
        self._closed = False
        if self.data_dir is not None:
            try:
                self._open(self.data_dir, compact_on_open)
            except BaseException:
                self._close_files()
                raise

    # -- opening ------------------------------------------------------------------------------

    def _open(self, data_dir: Path, compact_on_open: bool) -> None:
        topics_dir = data_dir / "topics"
        topics_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise TopicBackendError(
                f"The topic log in {data_dir} is in use by another EmbeddedLog (this or another process);"
                " stop it first or use another data directory."
            ) from None
        self._journal = Journal(data_dir / "journal")
        if not self._journal.path.exists() and any(topics_dir.iterdir()):
            # Without the journal every partition would be cut back to empty: refuse rather than wipe.
            raise TopicBackendError(
                f"{self._journal.path} is missing but {topics_dir} holds topics; restore the journal file,"
                " or delete the topics folder to start empty."
            )
        state = self._journal.load()
        max_id = state.max_topic_id
        for folder in sorted(topics_dir.iterdir()):
            if folder.name.startswith("."):  # a create or delete that a crash interrupted
                shutil.rmtree(folder, ignore_errors=True)
                continue
            meta = orjson.loads((folder / "topic.json").read_bytes())
            tid = int(meta["id"])
            info = TopicInfo(meta["name"], int(meta["partitions"]), int(meta["replicas"]), meta["config"])
            parts: list[PartitionLog] = [
                FilePartition(folder / f"{p}.log", state.ends.get((tid, p), 0))
                for p in range(info.partitions)
            ]
            topic = _Topic(tid, info, parts, folder)
            if compact_on_open and topic.compacted:
                for part in parts:
                    assert isinstance(part, FilePartition)
                    part.compact(min_garbage=0.25)
            self._topics[info.name] = topic
            max_id = max(max_id, tid)
        self._next_topic_id = max_id + 1
        self._seq = state.seq
        for group, offsets in state.groups.items():
            self._groups[group] = {tp: off for tp, off in offsets.items() if tp[0] in self._topics}
        self._rewrite_journal()

    def _journal_state(self) -> JournalState:
        return JournalState(
            ends={
                (t.id, p): part.end_offset
                for t in self._topics.values()
                for p, part in enumerate(t.partitions)
                if part.end_offset
            },
            groups={g: dict(offs) for g, offs in self._groups.items()},
            seq=self._seq,
            max_topic_id=self._next_topic_id - 1,
        )

    def _rewrite_journal(self) -> None:
        assert self._journal is not None
        self._journal.rewrite(self._journal_state())

    def _check_open(self) -> None:
        if self._closed:
            raise TopicBackendError("The embedded topic log is closed; open a new EmbeddedLog to use it.")

    # -- admin --------------------------------------------------------------------------------

    async def create_topic(
        self, name: str, partitions: int = 1, replicas: int = 1, config: dict[str, str] | None = None
    ) -> TopicInfo:
        if not _LEGAL_NAME.fullmatch(name) or name in (".", ".."):
            raise InvalidTopicError(
                f"Invalid topic name '{name}': use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_' and '-'."
            )
        if partitions < 1:
            raise InvalidTopicError(
                f"Invalid partition count {partitions} for topic '{name}': use 1 or more."
            )
        if replicas < 1:
            raise InvalidTopicError(
                f"Invalid replication factor {replicas} for topic '{name}': use 1 or more."
            )
        with self._lock:
            self._check_open()
            if name in self._topics:
                raise TopicExistsError(name)
            info = TopicInfo(name, partitions, replicas, dict(config or {}))
            tid = self._next_topic_id
            self._next_topic_id += 1
            topic = _Topic(tid, info, [MemoryPartition() for _ in range(partitions)])
            if self.data_dir is not None:
                topic.folder = self._create_folder(tid, info)
                topic.partitions = [FilePartition(topic.folder / f"{p}.log", 0) for p in range(partitions)]
            self._topics[name] = topic
            return _copy_info(info)

    def _create_folder(self, tid: int, info: TopicInfo) -> Path:
        assert self.data_dir is not None
        final = self.data_dir / "topics" / f"{tid:08d}-{info.name}"
        tmp = final.with_name("." + final.name + ".creating")
        tmp.mkdir()
        meta = {
            "id": tid,
            "name": info.name,
            "partitions": info.partitions,
            "replicas": info.replicas,
            "config": info.config,
        }
        (tmp / "topic.json").write_bytes(orjson.dumps(meta))
        tmp.rename(final)  # the topic exists once its folder has its final name
        return final

    async def delete_topic(self, name: str) -> None:
        with self._lock:
            self._check_open()
            topic = self._topics.pop(name, None)
            if topic is None:
                raise UnknownTopicError(name)
            for part in topic.partitions:
                part.close()
            for offsets in self._groups.values():
                for tp in [tp for tp in offsets if tp[0] == name]:
                    del offsets[tp]
            if topic.folder is not None:
                trash = topic.folder.with_name("." + topic.folder.name + ".deleting")
                topic.folder.rename(trash)
                shutil.rmtree(trash)
                assert self._journal is not None
                self._journal.append({"d": [name]})  # committed offsets of the topic go with it

    async def describe_topic(self, name: str) -> TopicInfo | None:
        with self._lock:
            self._check_open()
            topic = self._topics.get(name)
            return None if topic is None else _copy_info(topic.info)

    async def list_topics(self) -> list[TopicInfo]:
        with self._lock:
            self._check_open()
            return [_copy_info(t.info) for t in self._topics.values()]

    # -- produce and commit -------------------------------------------------------------------

    async def produce(self, topic: str, records: list[Record]) -> list[Record]:
        with self._lock:
            return self._append({topic: records}, None, {}).get(topic, [])

    async def commit(
        self, group: str, offsets: Offsets, produced: dict[str, list[Record]] | None = None
    ) -> None:
        with self._lock:
            self._append(produced or {}, group, offsets)

    def _append(
        self, produced: dict[str, list[Record]], group: str | None, offsets: Offsets
    ) -> dict[str, list[Record]]:
        """The commit protocol, in order:

        1. stage: check every topic and partition, assign partitions, offsets and seqs, encode frames;
        2. write the frames of every touched partition file (undone by truncation on failure);
        3. append one journal entry with the new end offsets and the group offsets: the commit point;
        4. publish: advance the in-memory indexes, the global seq and the group offsets.
        """
        self._check_open()
        for topic, partition in offsets:
            self._partition(topic, partition)
        batch = self._stage(produced)

        written: list[tuple[PartitionLog, PendingAppend]] = []
        try:
            for (topic_, p), pending in batch.pending.items():
                part = topic_.partitions[p]
                written.append((part, pending))
                part.write(pending)
            if self._journal is not None and (batch.pending or offsets):
                entry: dict[str, Any] = {
                    "s": batch.seq,
                    "e": [[t.id, p, pend.end_offset] for (t, p), pend in batch.pending.items()],
                }
                if group is not None and offsets:
                    entry["g"] = {group: [[t, p, o] for (t, p), o in offsets.items()]}
                self._journal.append(entry)
        except BaseException:
            for part, pending in written:
                part.rollback(pending)
            raise

        for (topic_, p), pending in batch.pending.items():
            topic_.partitions[p].publish(pending)
        self._seq = batch.seq
        if group is not None:
            self._groups.setdefault(group, {}).update(offsets)
        if self._journal is not None and self._journal.size > self._journal_limit:
            self._rewrite_journal()
        return batch.results

    def _stage(self, produced: dict[str, list[Record]]) -> _Batch:
        batch = _Batch(seq=self._seq)
        durable = self.data_dir is not None
        for name, records in produced.items():
            topic = self._topics.get(name)
            if topic is None:
                raise UnknownTopicError(name)
            out = batch.results.setdefault(name, [])
            for rec in records:
                p = self._choose_partition(topic, rec)
                pending = batch.pending.get((topic, p))
                if pending is None:
                    pending = batch.pending[(topic, p)] = PendingAppend(topic.partitions[p].end_offset)
                offset = pending.end_offset
                headers = _headers(rec.headers)
                check_record(rec)
                if durable:
                    pending.positions.append(len(pending.data))
                    pending.data += encode_frame(
                        offset, rec.timestamp, batch.seq, rec.key, rec.value, headers
                    )
                pending.rows.append((rec.key, rec.value, rec.timestamp, headers, offset, batch.seq))
                out.append(Record(rec.key, rec.value, rec.timestamp, headers, p, offset, batch.seq))
                batch.seq += 1
        return batch

    def _choose_partition(self, topic: _Topic, rec: Record) -> int:
        n = topic.info.partitions
        if rec.partition >= 0:
            if rec.partition >= n:
                raise UnknownTopicError(topic.info.name, rec.partition)
            return rec.partition
        if rec.key is None:
            p = topic.next_null_key % n
            topic.next_null_key += 1
            return p
        return partition_for_key(rec.key, n)

    # -- read ---------------------------------------------------------------------------------

    def _partition(self, topic: str, partition: int) -> PartitionLog:
        t = self._topics.get(topic)
        if t is None:
            raise UnknownTopicError(topic)
        if not 0 <= partition < len(t.partitions):
            raise UnknownTopicError(topic, partition)
        return t.partitions[partition]

    async def read(self, topic: str, partition: int, offset: int, max_records: int = 1000) -> list[Record]:
        with self._lock:
            self._check_open()
            return self._partition(topic, partition).read(offset, max_records, partition)

    async def end_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        with self._lock:
            self._check_open()
            return {tp: self._partition(*tp).end_offset for tp in partitions}

    async def start_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        with self._lock:
            self._check_open()
            for tp in partitions:
                self._partition(*tp)
            return dict.fromkeys(partitions, 0)  # nothing is ever deleted from the front of a log

    async def committed(self, group: str) -> Offsets:
        with self._lock:
            self._check_open()
            return dict(self._groups.get(group, {}))

    async def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_files()

    def _close_files(self) -> None:
        for topic in self._topics.values():
            for part in topic.partitions:
                part.close()
        if self._journal is not None:
            self._journal.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


def _headers(headers: Iterable[tuple[str, bytes | None]]) -> Headers:
    return tuple((str(name), value) for name, value in headers)  # values are checked by check_record
