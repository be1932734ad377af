"""The in-memory store partition: a dict for lookups plus a sorted key list for range scans."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from state.store import StorePartition, WriteBatch, check_batch, scan_bounds


class MemoryStorePartition(StorePartition):
    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []  # sorted; insort keeps it so at memmove speed
        self._changelog_offset: int | None = None
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("store partition is closed; reopen it through the StateManager")

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._data.get(key)

    def iterate(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        start, end = scan_bounds(start, end, prefix)
        lo = 0 if start is None else bisect_left(self._keys, start)
        hi = len(self._keys) if end is None else bisect_left(self._keys, end)
        # A snapshot of the range, so that writing while iterating is safe (as with RocksDB).
        keys = self._keys[lo:hi]
        if reverse:
            keys.reverse()
        data = self._data
        return iter([(k, data[k]) for k in keys])

    def write(self, batch: WriteBatch, changelog_offset: int | None = None) -> None:
        self._check_open()
        check_batch(batch)  # before touching anything: a batch applies whole or not at all
        data, keys = self._data, self._keys
        for key, value in batch:
            if value is None:
                if data.pop(key, None) is not None:
                    del keys[bisect_left(keys, key)]
            else:
                if key not in data:
                    insort(keys, key)
                data[key] = value
        if changelog_offset is not None:
            self._changelog_offset = changelog_offset

    def get_changelog_offset(self) -> int | None:
        self._check_open()
        return self._changelog_offset

    def close(self) -> None:
        self._closed = True

    def destroy(self) -> None:
        self._data.clear()
        self._keys.clear()
        self._changelog_offset = None
        self._closed = True
