"""``POST /inserts-stream``: rows streamed into a stream or table, one acknowledgement per row.

The request body is newline-delimited JSON: first the arguments (``{"target": "S"}``), then one
object per row, until the client ends the body. Once the target is accepted the 200 goes out at
once and each row is acknowledged as it is written (``{"status":"ok","seq":n}``); the rows that
arrive together are written as one batch. A bad row ends the response with an ``InsertError``.

As in ksqlDB this endpoint needs HTTP/2 (an HTTP/1.1 request gets 400/40004): the server speaks
it when started with ``--http2`` (cleartext HTTP/2, prior knowledge).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from ksql.catalog import DataSource
from ksql.engine.engine import KsqlEngine
from ksql.formats import json as json_format
from ksql.schema import ROWTIME
from ksql.topics.base import Record
from rest import errors as E
from rest.errors import RestError
from rest.streaming import DELIMITED, JSON

log = logging.getLogger("rest.inserts")

MAX_LINE_BYTES = 4 << 20  # a row line longer than this is refused rather than buffered


class _RowError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Target:
    """Turns row objects into records of one source: fields match columns case-insensitively,
    missing columns are null, ``ROWTIME`` (when given) is the record timestamp."""

    def __init__(self, engine: KsqlEngine, src: DataSource) -> None:
        self.engine = engine
        self.src = src
        self.key_cols = src.schema.key
        self.value_cols = src.schema.value
        self.readers = {c.name: json_format.reader(c.type) for c in [*self.key_cols, *self.value_cols]}
        self.by_upper: dict[str, str] = {}
        for c in [*self.key_cols, *self.value_cols]:
            self.by_upper.setdefault(c.name.upper(), c.name)

    def record(self, line: bytes) -> Record:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _RowError(E.BAD_REQUEST, "Invalid JSON in inserts stream") from None
        if not isinstance(obj, dict):
            raise _RowError(E.BAD_REQUEST, "Invalid JSON in inserts stream")
        row: dict[str, Any] = {}
        ts: int | None = None
        for field, value in obj.items():
            if field.upper() == ROWTIME:
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise _RowError(E.BAD_REQUEST, f"Invalid value for ROWTIME: {value!r}")
                ts = value
                continue
            name = field if field in self.readers else self.by_upper.get(field.upper())
            if name is None:
                continue  # fields that are not columns are ignored, as ksqlDB does
            row[name] = None if value is None else self._read(name, value)
        key = [row.get(c.name) for c in self.key_cols]
        values = [row.get(c.name) for c in self.value_cols]
        try:
            kb, vb = self.engine.serdes.encode_row(self.src, key, values)
        except Exception as e:
            raise _RowError(E.BAD_REQUEST, f"Failed to serialize the row: {e}") from None
        return Record(kb, vb, int(time.time() * 1000) if ts is None else ts)

    def _read(self, name: str, value: Any) -> Any:
        try:
            return self.readers[name](value)
        except Exception as e:
            detail = getattr(e, "message", None) or str(e)
            raise _RowError(E.BAD_REQUEST, f"Invalid value for column {name}: {detail}") from None


def _target(engine: KsqlEngine, args: Any) -> DataSource:
    if not isinstance(args, dict):
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: the first line must be a JSON object")
    name = args.get("target")
    if name is None:
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: Missing required creator property 'target'")
    if not isinstance(name, str) or not name.strip():
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: field 'target' must be a non-empty string")
    if not engine.config.get_bool("ksql.insert.into.values.enabled", True):
        raise RestError(E.BAD_STATEMENT, "The server has disabled INSERT INTO ... VALUES functionality. To enable "
                                         "it, restart your ksqlDB server with 'ksql.insert.into.values.enabled'=true")
    src = engine.metastore.get_source(name) or engine.metastore.get_source(name.upper())
    if src is None:
        raise RestError(E.BAD_STATEMENT, f"Cannot insert values into an unknown stream/table: {name}")
    if src.window is not None:
        raise RestError(E.BAD_STATEMENT, "Cannot insert values into windowed stream/table")
    if src.is_source:
        raise RestError(E.BAD_STATEMENT, f"Cannot insert values into read-only topic: {src.topic}")
    return src


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """The non-blank lines of a request body, grouped as they arrive; the last may lack a newline."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        if b"\n" not in pending:
            if len(pending) > MAX_LINE_BYTES:
                raise _RowError(E.BAD_REQUEST, f"Row longer than {MAX_LINE_BYTES} bytes in inserts stream")
            continue
        *lines, pending = pending.split(b"\n")
        batch = [line for line in lines if line.strip()]
        if batch:
            yield batch
    if pending.strip():
        yield [pending]


async def inserts_stream_endpoint(request: Request) -> InsertsResponse:
    if request.scope.get("http_version") != "2":
        raise RestError(E.HTTP2_ONLY, "This endpoint is only available when using HTTP2")
    engine: KsqlEngine = request.app.state.ksql.engine
    lines = _lines(request.stream())
    try:
        first = await anext(lines, None)
    except ClientDisconnect:
        raise RestError(E.BAD_REQUEST, "The client went away before sending the arguments") from None
    except _RowError as e:
        raise RestError(e.code, e.message) from None
    if not first:
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: the arguments line is missing")
    try:
        args = orjson.loads(first[0])
    except orjson.JSONDecodeError as e:
        raise RestError(E.BAD_REQUEST, f"Invalid JSON in request: {e}") from None
    src = _target(engine, args)
    accept = request.headers.get("accept", "")
    media = JSON if "application/json" in accept and DELIMITED not in accept else DELIMITED
    return InsertsResponse(_Target(engine, src), first[1:], lines, media)


class InsertsResponse:
    """Writes the rows as they arrive and acknowledges each; ends at the end of the request body,
    at the first bad row, or when the client goes away."""

    def __init__(self, target: _Target, first: list[bytes], rest: AsyncIterator[list[bytes]], media: str) -> None:
        self.target = target
        self.first = first
        self.rest = rest
        self.media = media
        self.seq = 0
        self.acked = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", self.media.encode())]})
        if self.media == JSON:
            await send({"type": "http.response.body", "body": b"[", "more_body": True})
        try:
            await self._run(send)
        except (ClientDisconnect, OSError):
            log.debug("Inserts stream into %s ended by the client", self.target.src.name)
            return
        if self.media == JSON:
            await send({"type": "http.response.body", "body": b"]", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _run(self, send: Send) -> None:
        batch = self.first
        while True:
            if batch:
                error = await self._write(batch, send)
                if error is not None:
                    await self._send(send, [error])
                    return
            try:
                next_batch = await anext(self.rest, None)
            except _RowError as e:
                await self._send(send, [self._error(e.code, e.message)])
                return
            if next_batch is None:
                return
            batch = next_batch

    async def _write(self, lines: list[bytes], send: Send) -> dict[str, Any] | None:
        records: list[Record] = []
        error = None
        for line in lines:
            try:
                records.append(self.target.record(line))
            except _RowError as e:
                error = self._error(e.code, e.message, self.seq + len(records))
                break
        if records:
            try:
                await self.target.engine.backend.produce(self.target.src.topic, records)
            except Exception:
                log.exception("Inserts into %s failed", self.target.src.name)
                return self._error(E.SERVER_ERROR, "Error in processing inserts. Check server logs for details.")
            acks = [{"status": "ok", "seq": self.seq + i} for i in range(len(records))]
            self.seq += len(records)
            await self._send(send, acks)
        return error

    def _error(self, code: int, message: str, seq: int | None = None) -> dict[str, Any]:
        return {"@type": "InsertError", "error_code": code, "message": message, "status": "error",
                "seq": self.seq if seq is None else seq}

    async def _send(self, send: Send, elements: list[dict[str, Any]]) -> None:
        if self.media == JSON:
            parts = [orjson.dumps(e) for e in elements]
            sep = b"," if self.acked else b""
            body = sep + b",".join(parts)
        else:
            body = b"".join(orjson.dumps(e) + b"\n" for e in elements)
        self.acked += len(elements)
        await send({"type": "http.response.body", "body": body, "more_body": True})
