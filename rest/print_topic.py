"""``PRINT 'topic'``: the raw records of a topic as text lines, formats guessed from the bytes.

Each record narrows the set of formats its key (and its value) decodes as; the ``Key format:``
and ``Value format:`` lines are printed again whenever that set changes (``MIXED`` once records
disagree). An idle poll writes an empty line, as ksqlDB does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from collections.abc import AsyncIterator, Callable

import orjson

from ksql.dialect import nodes
from ksql.engine.engine import KsqlEngine
from ksql.topics.base import Record
from rest import errors as E
from rest.errors import RestError
from rest.streaming import JSON, QueryResponse

IDLE_LINE_S = 1.0
POLL_S = 0.05
NO_DATA = "¯\\_(ツ)_/¯ - no data processed"


def _json(b: bytes) -> str | None:
    try:
        orjson.loads(b)
    except orjson.JSONDecodeError:
        return None
    return b.decode()


def _int(b: bytes) -> str | None:
    return str(struct.unpack(">i", b)[0]) if len(b) == 4 else None


def _bigint(b: bytes) -> str | None:
    return str(struct.unpack(">q", b)[0]) if len(b) == 8 else None


def _double(b: bytes) -> str | None:
    return repr(struct.unpack(">d", b)[0]) if len(b) == 8 else None


def _string(b: bytes) -> str | None:
    try:
        s = b.decode()
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\r\n" for c in s):
        return None  # binary data that happens to be valid UTF-8
    return s


# in order of preference: the first format that fits a record renders it
FORMATS: dict[str, Callable[[bytes], str | None]] = {
    "JSON": _json,
    "KAFKA_INT": _int,
    "KAFKA_BIGINT": _bigint,
    "KAFKA_DOUBLE": _double,
    "KAFKA_STRING": _string,
}


class _FormatGuess:
    def __init__(self) -> None:
        self.candidates: list[str] | None = None  # None: nothing seen yet
        self.mixed = False

    def describe(self) -> str:
        if self.mixed:
            return "MIXED"
        if self.candidates is None:
            return NO_DATA
        return " or ".join(self.candidates)

    def render(self, data: bytes | None) -> str:
        if data is None:
            return "<null>"
        fits = [name for name, fn in FORMATS.items() if fn(data) is not None]
        if not self.mixed:
            narrowed = fits if self.candidates is None else [f for f in self.candidates if f in fits]
            if narrowed:
                self.candidates = narrowed
            else:
                self.mixed = True
        order = fits if self.mixed else (self.candidates or [])
        for name in order:
            text = FORMATS[name](data)
            if text is not None:
                return text
        return "<Failed to deserialize>"


def _rowtime(ms: int) -> str:
    if ms < 0:
        return "N/A"
    t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} Z"


async def print_topic(engine: KsqlEngine, stmt: nodes.Print) -> QueryResponse:
    info = await engine.backend.describe_topic(stmt.topic)
    if info is None:
        raise RestError(
            E.BAD_REQUEST,
            f"Could not find topic '{stmt.topic}', or the KSQL user does not have permissions to list the topic. "
            "Topic names are case-sensitive.")
    tps = [(stmt.topic, p) for p in range(info.partitions)]
    offsets = await (engine.backend.start_offsets(tps) if stmt.from_beginning else engine.backend.end_offsets(tps))
    return QueryResponse(_lines(engine, stmt, offsets), JSON, name=f"PRINT {stmt.topic}")


async def _lines(engine: KsqlEngine, stmt: nodes.Print, positions: dict[tuple[str, int], int]) -> AsyncIterator[bytes]:
    keys, values = _FormatGuess(), _FormatGuess()
    shown = ("", "")
    interval = max(1, stmt.interval or 1)
    seen = printed = 0
    idle_since = asyncio.get_running_loop().time()
    while stmt.limit is None or printed < stmt.limit:
        batch: list[Record] = []
        for (topic, p), pos in positions.items():
            batch.extend(await engine.backend.read(topic, p, pos, 500))
        if not batch:
            now = asyncio.get_running_loop().time()
            if now - idle_since >= IDLE_LINE_S:
                idle_since = now
                yield b"\n"
            await asyncio.sleep(POLL_S)
            continue
        idle_since = asyncio.get_running_loop().time()
        batch.sort(key=lambda r: r.seq)
        out: list[str] = []
        for r in batch:
            positions[(stmt.topic, r.partition)] = r.offset + 1
            seen += 1
            if (seen - 1) % interval:
                continue
            key, value = keys.render(r.key), values.render(r.value)
            formats = (keys.describe(), values.describe())
            if formats != shown:
                shown = formats
                out.append(f"Key format: {formats[0]}\nValue format: {formats[1]}\n")
            out.append(f"rowtime: {_rowtime(r.timestamp)}, key: {key}, value: {value}, partition: {r.partition}\n")
            printed += 1
            if stmt.limit is not None and printed >= stmt.limit:
                break
        yield "".join(out).encode()
