"""Rebuilding a store partition from its changelog topic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from state.store import StorePartition

RESTORE_BATCH = 1000  # changelog records per store write


class ChangelogRecord(Protocol):
    """What restore needs from a record (``ksql.topics.Record`` has it)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def offset(self) -> int: ...


class ChangelogSource(Protocol):
    """The read side of a topic backend (``ksql.topics.TopicBackend`` has it)."""

    async def read(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> Sequence[ChangelogRecord]: ...

    async def end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]: ...


def restore(
    partition: StorePartition, records: Iterable[ChangelogRecord], batch_size: int = RESTORE_BATCH
) -> int:
    """Apply changelog records in order, ``batch_size`` per store write, each write also moving the
    store's changelog offset past its last record. Returns the number of records applied."""
    batch: list[tuple[bytes, bytes | None]] = []
    last = -1
    applied = 0
    for rec in records:
        if rec.key is None:
            raise ValueError(
                f"changelog record at offset {rec.offset} has no key; a changelog topic holds only keyed"
                " records, so check that the store reads its own changelog topic"
            )
        batch.append((rec.key, rec.value))
        last = rec.offset
        if len(batch) >= batch_size:
            partition.write(batch, last + 1)
            applied += len(batch)
            batch = []
    if batch:
        partition.write(batch, last + 1)
        applied += len(batch)
    return applied


async def restore_from_topic(
    partition: StorePartition,
    source: ChangelogSource,
    topic: str,
    topic_partition: int,
    batch_size: int = RESTORE_BATCH,
) -> int:
    """Catch ``partition`` up with the changelog topic partition, from its stored changelog offset to
    the topic's current end. Returns the number of records applied."""
    tp = (topic, topic_partition)
    end = (await source.end_offsets([tp]))[tp]
    offset = partition.get_changelog_offset() or 0
    applied = 0
    while offset < end:
        records = await source.read(topic, topic_partition, offset, batch_size)
        if not records:
            break
        applied += restore(partition, records, batch_size)
        offset = records[-1].offset + 1
    if offset < end:
        # Nothing left to read below the end offset (e.g. compacted away): remember we are caught up.
        partition.write([], end)
    return applied
