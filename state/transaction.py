"""The partition transaction: buffered reads and writes of Python values over one store partition.

A processor reads and writes through the transaction while it handles a batch of records; the
commit then takes the changelog records, produces them, and flushes the batch to the store together
with the changelog offset those records end at::

    started --prepare()--> prepared --flush(offset)--> committed
       \\____________________\\____________________________> failed (any error; the store is untouched)
"""

from __future__ import annotations

import enum
import pickle
from collections.abc import Iterator
from typing import Any

from state.store import StorePartition, scan_bounds

_DELETED = object()


class TransactionState(enum.Enum):
    STARTED = "started"
    PREPARED = "prepared"
    COMMITTED = "committed"
    FAILED = "failed"


class TransactionError(RuntimeError):
    pass


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(raw: bytes) -> Any:
    return pickle.loads(raw)


class PartitionTransaction:
    def __init__(self, store: StorePartition) -> None:
        self.store = store
        self.state = TransactionState.STARTED
        self._updates: dict[bytes, Any] = {}  # key -> value, or _DELETED
        self._changelog: list[tuple[bytes, bytes | None]] | None = None

    def _require(self, *states: TransactionState) -> None:
        if self.state not in states:
            raise TransactionError(
                f"transaction is {self.state.value}, this needs it {' or '.join(s.value for s in states)};"
                " start a new transaction"
            )

    # -- reads (see this transaction's own writes) ----------------------------------------------

    def get(self, key: bytes, default: Any = None) -> Any:
        self._require(TransactionState.STARTED, TransactionState.PREPARED)
        if key in self._updates:
            value = self._updates[key]
            return default if value is _DELETED else value
        raw = self.store.get(key)
        return default if raw is None else loads(raw)

    def exists(self, key: bytes) -> bool:
        return self.get(key, _DELETED) is not _DELETED

    def iterate(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, Any]]:
        """(key, value) in key order over the store merged with this transaction's writes."""
        self._require(TransactionState.STARTED, TransactionState.PREPARED)
        lo, hi = scan_bounds(start, end, prefix)
        stored = self.store.iterate(lo, hi, reverse=reverse)
        mine = sorted(
            (k, v) for k, v in self._updates.items() if (lo is None or k >= lo) and (hi is None or k < hi)
        )
        if not mine:
            return ((k, loads(v)) for k, v in stored)
        if reverse:
            mine.reverse()
        return self._merge(stored, mine, reverse)

    @staticmethod
    def _merge(
        stored: Iterator[tuple[bytes, bytes]], mine: list[tuple[bytes, Any]], reverse: bool
    ) -> Iterator[tuple[bytes, Any]]:
        i, n = 0, len(mine)
        for key, raw in stored:
            while i < n and (mine[i][0] > key if reverse else mine[i][0] < key):
                if mine[i][1] is not _DELETED:
                    yield mine[i]
                i += 1
            if i < n and mine[i][0] == key:
                if mine[i][1] is not _DELETED:
                    yield mine[i]
                i += 1
            else:
                yield key, loads(raw)
        for k, v in mine[i:]:
            if v is not _DELETED:
                yield k, v

    # -- writes ---------------------------------------------------------------------------------

    def put(self, key: bytes, value: Any) -> None:
        self._require(TransactionState.STARTED)
        if not isinstance(key, bytes):
            raise TypeError(f"state keys are bytes, got {type(key).__name__}")
        self._updates[key] = value

    def delete(self, key: bytes) -> None:
        self._require(TransactionState.STARTED)
        if not isinstance(key, bytes):
            raise TypeError(f"state keys are bytes, got {type(key).__name__}")
        self._updates[key] = _DELETED

    @property
    def dirty(self) -> bool:
        return bool(self._updates)

    # -- commit ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Serialize the writes once; afterwards the transaction is read-only."""
        self._require(TransactionState.STARTED)
        try:
            self._changelog = [(k, None if v is _DELETED else dumps(v)) for k, v in self._updates.items()]
        except BaseException:
            self.state = TransactionState.FAILED
            raise
        self.state = TransactionState.PREPARED

    def changelog_records(self) -> list[tuple[bytes, bytes | None]]:
        """(key, value bytes or None for a delete) to produce to the store's changelog topic."""
        if self.state is TransactionState.STARTED:
            self.prepare()
        self._require(TransactionState.PREPARED)
        assert self._changelog is not None
        return list(self._changelog)

    def flush(self, changelog_offset: int | None = None) -> None:
        """Write all changes, with ``changelog_offset`` (the changelog's next offset after the
        records produced for this transaction), in one atomic store write."""
        if self.state is TransactionState.STARTED:
            self.prepare()
        self._require(TransactionState.PREPARED)
        assert self._changelog is not None
        try:
            if self._changelog or changelog_offset is not None:
                self.store.write(self._changelog, changelog_offset)
        except BaseException:
            self.state = TransactionState.FAILED
            raise
        self.state = TransactionState.COMMITTED
