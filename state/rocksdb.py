"""The RocksDB store partition (rocksdict, raw bytes mode).

Data lives in the default column family; the changelog offset lives in a ``__metadata__`` column
family and is written in the same WriteBatch as the data, so the two never disagree after a crash.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from rocksdict import ColumnFamily, Options, Rdict
from rocksdict import WriteBatch as RocksBatch

from state.store import StorePartition, WriteBatch, check_batch, scan_bounds

_METADATA_CF = "__metadata__"
_CHANGELOG_OFFSET_KEY = b"changelog_offset"


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    return opts


class RocksDBStorePartition(StorePartition):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._db: Rdict | None = Rdict(
            str(self.path), options=_options(), column_families={_METADATA_CF: Options(raw_mode=True)}
        )
        self._meta: Rdict | None = self._db.get_column_family(_METADATA_CF)
        self._meta_handle: ColumnFamily | None = self._db.get_column_family_handle(_METADATA_CF)

    def _require_db(self) -> Rdict:
        if self._db is None:
            raise RuntimeError(f"store partition {self.path} is closed; reopen it through the StateManager")
        return self._db

    def get(self, key: bytes) -> bytes | None:
        value = self._require_db().get(key)
        assert value is None or isinstance(value, bytes)
        return value

    def iterate(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        start, end = scan_bounds(start, end, prefix)
        it = self._require_db().iter()  # RocksDB iterators read from an implicit snapshot
        if reverse:
            if end is None:
                it.seek_to_last()
            else:
                it.seek_for_prev(end)
                if it.valid() and it.key() >= end:
                    it.prev()
            while it.valid():
                key = it.key()
                if start is not None and key < start:
                    break
                yield key, it.value()
                it.prev()
        else:
            if start is None:
                it.seek_to_first()
            else:
                it.seek(start)
            while it.valid():
                key = it.key()
                if end is not None and key >= end:
                    break
                yield key, it.value()
                it.next()

    def write(self, batch: WriteBatch, changelog_offset: int | None = None) -> None:
        db = self._require_db()
        check_batch(batch)
        wb = RocksBatch(raw_mode=True)
        for key, value in batch:
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        if changelog_offset is not None:
            wb.put(_CHANGELOG_OFFSET_KEY, changelog_offset.to_bytes(8, "big", signed=True), self._meta_handle)
        db.write(wb)

    def get_changelog_offset(self) -> int | None:
        self._require_db()
        assert self._meta is not None
        raw = self._meta.get(_CHANGELOG_OFFSET_KEY)
        return None if raw is None else int.from_bytes(raw, "big", signed=True)

    def close(self) -> None:
        if self._db is None:
            return
        # rocksdict keeps the DB open while any handle lives: drop the column family ones first.
        assert self._meta is not None
        self._meta.close()
        self._meta = self._meta_handle = None
        self._db.close()
        self._db = None

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
