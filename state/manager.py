"""The state manager: opens store partitions by (query id, store name, partition) and drops a
query's state when the query is terminated.

RocksDB stores live in ``base_dir/<query id>/<store name>/<partition>``; in-memory stores live as
long as the manager keeps them open (closing one forgets its data: recovery refills it from the
changelog, exactly as for a RocksDB store whose files were lost).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Literal

from state.memory import MemoryStorePartition
from state.rocksdb import RocksDBStorePartition
from state.store import StorePartition

Backend = Literal["rocksdb", "memory"]
StoreId = tuple[str, str, int]  # query id, store name, partition

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _path_part(name: str) -> str:
    """A folder name for ``name``: unsafe characters %-escaped, never '.' or '..'."""
    safe = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), name)
    return safe if safe not in ("", ".", "..") else "%" + safe.encode().hex()


class StateManager:
    def __init__(self, backend: Backend = "rocksdb", base_dir: Path | str | None = None) -> None:
        if backend not in ("rocksdb", "memory"):
            raise ValueError(f"unknown state backend {backend!r}: use 'rocksdb' or 'memory'")
        if backend == "rocksdb" and base_dir is None:
            raise ValueError("the RocksDB state backend needs a base_dir to keep its files in")
        self.backend: Backend = backend
        self.base_dir = None if base_dir is None else Path(base_dir)
        self._open: dict[StoreId, StorePartition] = {}

    def path(self, query_id: str, store: str | None = None, partition: int | None = None) -> Path:
        if self.base_dir is None:
            raise ValueError("in-memory state has no files")
        path = self.base_dir / _path_part(query_id)
        if store is not None:
            path /= _path_part(store)
            if partition is not None:
                path /= str(partition)
        return path

    def open(self, query_id: str, store: str, partition: int) -> StorePartition:
        """The store partition, opened once and shared until closed."""
        sid = (query_id, store, partition)
        part = self._open.get(sid)
        if part is None:
            if self.backend == "memory":
                part = MemoryStorePartition()
            else:
                part = RocksDBStorePartition(self.path(query_id, store, partition))
            self._open[sid] = part
        return part

    def stores(self, query_id: str) -> list[StoreId]:
        return [sid for sid in self._open if sid[0] == query_id]

    def close(self, query_id: str, store: str, partition: int) -> None:
        part = self._open.pop((query_id, store, partition), None)
        if part is not None:
            part.close()

    def close_query(self, query_id: str) -> None:
        for sid in self.stores(query_id):
            self._open.pop(sid).close()

    def destroy_query(self, query_id: str) -> None:
        """Close the query's stores and delete their data, open or not."""
        for sid in self.stores(query_id):
            self._open.pop(sid).destroy()
        if self.backend == "rocksdb":
            shutil.rmtree(self.path(query_id), ignore_errors=True)

    def close_all(self) -> None:
        for part in self._open.values():
            part.close()
        self._open.clear()
