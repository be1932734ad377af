"""The store partition: one ordered key-value store per (query, store, topic partition).

Keys and values are bytes; ordering is bytewise, which the window and session key encodings rely on.
A write applies a batch of puts and deletes together with the changelog offset the store then
reflects, atomically: after a crash the data and the offset agree, so recovery knows where to resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

# key -> value, or key -> None for a delete; later entries for the same key win.
WriteBatch = Sequence[tuple[bytes, bytes | None]]


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no upper bound)."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else None


def scan_bounds(
    start: bytes | None, end: bytes | None, prefix: bytes | None
) -> tuple[bytes | None, bytes | None]:
    """Intersect ``[start, end)`` with the keys that start with ``prefix``."""
    if prefix:
        if start is None or start < prefix:
            start = prefix
        pend = prefix_end(prefix)
        if pend is not None and (end is None or end > pend):
            end = pend
    return start, end


def check_batch(batch: WriteBatch) -> None:
    for key, value in batch:
        if not isinstance(key, bytes) or not (value is None or isinstance(value, bytes)):
            raise TypeError(f"store writes take bytes keys and bytes|None values, got {key!r}: {value!r:.60}")


class StorePartition(ABC):
    @abstractmethod
    def get(self, key: bytes) -> bytes | None: ...

    @abstractmethod
    def iterate(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items with ``start <= key < end`` (and starting with ``prefix``), in key order."""

    @abstractmethod
    def write(self, batch: WriteBatch, changelog_offset: int | None = None) -> None:
        """Apply ``batch`` and, if given, record ``changelog_offset`` (the next changelog offset to
        apply), all or nothing."""

    @abstractmethod
    def get_changelog_offset(self) -> int | None:
        """The changelog offset stored by the last write that carried one (None: never)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def destroy(self) -> None:
        """Close and delete everything the store holds."""
