"""On-disk pieces of the embedded log: the record frame codec, one append-only file per partition and
the journal that makes a batch of appends plus consumer-group offsets atomic.

Frame: ``u32 body length | u32 crc32(body) | body``; body: ``i64 offset | i64 timestamp | i64 seq |
i32 key length | i32 value length | i32 header count`` (-1 length = null), then key, value and per
header ``u16 name length | i32 value length | name | value``. All big-endian.

A batch is written to the partition files first and then described by one journal entry (the new end
offset of every touched partition, and group offsets). An entry that is not fully in the journal never
happened: on open each partition file is cut back to the end offset the journal last recorded.
"""

from __future__ import annotations

import logging
import os
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from struct import Struct
from typing import Any

import orjson

from ksql.topics.base import Record
from ksql.types import Headers

log = logging.getLogger(__name__)

_FRAME = Struct(">II")
_BODY = Struct(">qqqiii")
_HEADER = Struct(">Hi")
_MAX_FRAME = 1 << 30  # larger lengths can only come from a torn or foreign file


def encode_frame(
    offset: int, timestamp: int, seq: int, key: bytes | None, value: bytes | None, headers: Headers
) -> bytes:
    parts = [
        _BODY.pack(
            offset,
            timestamp,
            seq,
            -1 if key is None else len(key),
            -1 if value is None else len(value),
            len(headers),
        ),
    ]
    if key is not None:
        parts.append(key)
    if value is not None:
        parts.append(value)
    for name, hvalue in headers:
        raw = name.encode()
        parts.append(_HEADER.pack(len(raw), -1 if hvalue is None else len(hvalue)))
        parts.append(raw)
        if hvalue is not None:
            parts.append(hvalue)
    body = b"".join(parts)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def decode_frames(buf: bytes, partition: int) -> list[Record]:
    """Records from a buffer holding whole frames (already checked when the file was opened)."""
    out: list[Record] = []
    pos, size = 0, len(buf)
    while pos < size:
        blen, _crc = _FRAME.unpack_from(buf, pos)
        p = pos + _FRAME.size
        pos = p + blen
        offset, timestamp, seq, klen, vlen, hcount = _BODY.unpack_from(buf, p)
        p += _BODY.size
        key = None if klen < 0 else buf[p : p + klen]
        p += max(klen, 0)
        value = None if vlen < 0 else buf[p : p + vlen]
        p += max(vlen, 0)
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(hcount):
            nlen, hlen = _HEADER.unpack_from(buf, p)
            p += _HEADER.size
            name = buf[p : p + nlen].decode()
            p += nlen
            headers.append((name, None if hlen < 0 else buf[p : p + hlen]))
            p += max(hlen, 0)
        out.append(Record(key, value, timestamp, tuple(headers), partition, offset, seq))
    return out


def _frame_key(body: bytes) -> bytes | None:
    klen = _BODY.unpack_from(body)[3]
    return None if klen < 0 else body[_BODY.size : _BODY.size + klen]


def _scan(path: Path) -> Iterator[tuple[int, bytes]]:
    """(position, body) of each intact frame, stopping at the first torn or corrupt one."""
    with open(path, "rb") as f:
        pos = 0
        while True:
            head = f.read(_FRAME.size)
            if len(head) < _FRAME.size:
                return
            blen, crc = _FRAME.unpack(head)
            if blen < _BODY.size or blen > _MAX_FRAME:
                return
            body = f.read(blen)
            if len(body) < blen or zlib.crc32(body) != crc:
                return
            yield pos, body
            pos += _FRAME.size + blen


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass(slots=True)
class PendingAppend:
    """Frames staged for one partition; written, then journaled, then published to readers."""

    first_offset: int
    rows: list[tuple[bytes | None, bytes | None, int, Headers, int, int]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    positions: list[int] = field(default_factory=list)  # of each frame, relative to ``data``

    @property
    def end_offset(self) -> int:
        return self.first_offset + len(self.rows)


class MemoryPartition:
    """A partition held in a list (offsets are dense: no compaction in memory)."""

    durable = False

    def __init__(self) -> None:
        self.rows: list[tuple[bytes | None, bytes | None, int, Headers, int, int]] = []

    @property
    def end_offset(self) -> int:
        return len(self.rows)

    def write(self, pending: PendingAppend) -> None:
        pass

    def rollback(self, pending: PendingAppend) -> None:
        pass

    def publish(self, pending: PendingAppend) -> None:
        self.rows.extend(pending.rows)

    def read(self, offset: int, max_records: int, partition: int) -> list[Record]:
        return [
            Record(k, v, ts, h, partition, off, seq)
            for k, v, ts, h, off, seq in self.rows[max(offset, 0) : max(offset, 0) + max_records]
        ]

    def close(self) -> None:
        pass


class FilePartition:
    """One append-only file plus an in-memory index (offset -> file position) rebuilt on open."""

    durable = True

    def __init__(self, path: Path, journaled_end: int) -> None:
        self.path = path
        self.end_offset = journaled_end
        self.offsets = array("q")
        self.positions = array("q")
        self.size = 0
        self._load()
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self.fd).st_size > self.size:
            # Frames of a batch whose journal entry never made it (or a torn frame): never visible.
            os.ftruncate(self.fd, self.size)

    def _load(self) -> None:
        if not self.path.exists():
            return
        last = -1
        for pos, body in _scan(self.path):
            offset = _BODY.unpack_from(body)[0]
            if offset >= self.end_offset or offset <= last:
                break
            self.offsets.append(offset)
            self.positions.append(pos)
            self.size = pos + _FRAME.size + len(body)
            last = offset
        if last + 1 < self.end_offset:
            # Compaction always keeps the last record, so a shorter file means lost writes (a crash of
            # the machine, not of the process): keep the records that survived and say so.
            log.warning(
                "%s: journal says %d records, file holds offsets up to %d; continuing with what"
                " the file holds",
                self.path,
                self.end_offset,
                last,
            )

    def write(self, pending: PendingAppend) -> None:
        _write_all(self.fd, bytes(pending.data))

    def rollback(self, pending: PendingAppend) -> None:
        os.ftruncate(self.fd, self.size)

    def publish(self, pending: PendingAppend) -> None:
        self.offsets.extend(range(pending.first_offset, pending.end_offset))
        self.positions.extend(self.size + p for p in pending.positions)
        self.size += len(pending.data)
        self.end_offset = pending.end_offset

    def read(self, offset: int, max_records: int, partition: int) -> list[Record]:
        i = bisect_left(self.offsets, offset)
        n = len(self.offsets)
        if i >= n or max_records <= 0:
            return []
        j = i + max_records
        start = self.positions[i]
        stop = self.positions[j] if j < n else self.size
        return decode_frames(os.pread(self.fd, stop - start, start), partition)

    def compact(self, min_garbage: float) -> bool:
        """Keep the latest record per key (records without a key stay). Offsets are kept, so a crash
        half-way leaves either the old or the new file, both consistent with the journal."""
        latest: dict[bytes | None, int] = {}
        frames: list[tuple[int, bytes | None]] = []
        for pos, body in _scan(self.path):
            if pos >= self.size:
                break
            key = _frame_key(body)
            latest[key] = len(frames)
            frames.append((pos, key))
        keep = [i for i, (_pos, key) in enumerate(frames) if key is None or latest[key] == i]
        if not frames or len(frames) - len(keep) < max(1.0, min_garbage * len(frames)):
            return False
        tmp = self.path.with_suffix(".compacting")
        offsets, positions, size = array("q"), array("q"), 0
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for i in keep:
                pos = frames[i][0]
                src.seek(pos)
                blen = _FRAME.unpack(src.read(_FRAME.size))[0]
                src.seek(pos)
                frame = src.read(_FRAME.size + blen)
                offsets.append(_BODY.unpack_from(frame, _FRAME.size)[0])
                positions.append(size)
                dst.write(frame)
                size += len(frame)
            dst.flush()
            os.fsync(dst.fileno())
        os.close(self.fd)
        os.replace(tmp, self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self.offsets, self.positions, self.size = offsets, positions, size
        return True

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class JournalState:
    ends: dict[tuple[int, int], int] = field(default_factory=dict)  # (topic id, partition) -> end
    groups: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    seq: int = 0
    max_topic_id: int = 0

    def apply(self, entry: dict[str, Any]) -> None:
        self.seq = max(self.seq, entry.get("s", 0))
        self.max_topic_id = max(self.max_topic_id, entry.get("i", 0))
        for tid, p, end in entry.get("e", ()):
            self.ends[(tid, p)] = end
            self.max_topic_id = max(self.max_topic_id, tid)
        for group, offsets in entry.get("g", {}).items():
            stored = self.groups.setdefault(group, {})
            for topic, p, off in offsets:
                stored[(topic, p)] = off
        for topic in entry.get("d", ()):
            for stored in self.groups.values():
                for tp in [tp for tp in stored if tp[0] == topic]:
                    del stored[tp]

    def snapshot(self) -> dict[str, Any]:
        return {
            "s": self.seq,
            "i": self.max_topic_id,
            "e": [[tid, p, end] for (tid, p), end in self.ends.items()],
            "g": {g: [[t, p, o] for (t, p), o in offs.items()] for g, offs in self.groups.items() if offs},
        }


class Journal:
    """Length- and checksum-framed JSON entries; a torn tail is cut off on open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.fd: int | None = None

    def load(self) -> JournalState:
        state = JournalState()
        if self.path.exists():
            data = self.path.read_bytes()
            pos = 0
            while pos + _FRAME.size <= len(data):
                blen, crc = _FRAME.unpack_from(data, pos)
                body = data[pos + _FRAME.size : pos + _FRAME.size + blen]
                if len(body) < blen or zlib.crc32(body) != crc:
                    break
                state.apply(orjson.loads(body))
                pos += _FRAME.size + blen
        return state

    def rewrite(self, state: JournalState) -> None:
        """Replace the journal by one entry holding the whole state (bounds its size and open time)."""
        body = orjson.dumps(state.snapshot())
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(_FRAME.pack(len(body), zlib.crc32(body)) + body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.close()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = _FRAME.size + len(body)

    def append(self, entry: dict[str, Any]) -> None:
        body = orjson.dumps(entry)
        frame = _FRAME.pack(len(body), zlib.crc32(body)) + body
        assert self.fd is not None, "journal used before rewrite() opened it"
        try:
            _write_all(self.fd, frame)
        except BaseException:
            os.ftruncate(self.fd, self.size)
            raise
        self.size += len(frame)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
