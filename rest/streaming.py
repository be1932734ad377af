"""Streaming query responses: the body writers of ``/query`` and ``/query-stream``, and an ASGI
response that races the row stream against the client's disconnect.

Every writer emits exactly one JSON element per line, so clients can split on newlines; the rows
waiting when a client is ready go out as one chunk. A push query never ends by itself: it ends
when the client goes away, and then the query is released at once (the ``finally`` of
:class:`QueryResponse`), not when the next row fails to send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from ksql.engine.transient import QueryEnd, QueryFailure, QueryStream, ResultRow
from rest.values import dumps, row_to_wire

log = logging.getLogger("rest.streaming")

V1_JSON = "application/vnd.ksql.v1+json"
JSON = "application/json"
DELIMITED = "application/vnd.ksqlapi.delimited.v1"
# how long a client cut off for falling behind has to take its error before it is dropped
SLOW_CLIENT_GRACE_S = 2.0
# scope key of a callable that aborts the request's connection (see connection_dropper)
DROP_CONNECTION = "ksql.drop_connection"


def connection_dropper(send: Send) -> Callable[[], bool] | None:
    """A callable that aborts the connection ``send`` writes to, when the server lets us reach it
    (uvicorn: the transport of the request cycle ``send`` belongs to); True when it did. A client
    that stopped reading cannot be sent the end of its response: the connection must be cut."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is None:
        return None

    def drop() -> bool:
        abort()
        return True

    return drop


def _error_element(message: str) -> dict[str, Any]:
    return {"@type": "generic_error", "error_code": 50000, "message": message}


def _row_element(ev: ResultRow, stream: QueryStream) -> bytes:
    row: dict[str, Any] = {"columns": row_to_wire(ev.columns, stream.types)}
    if ev.tombstone:
        row["tombstone"] = True
    return dumps({"row": row})


async def v1_json_body(stream: QueryStream) -> AsyncIterator[bytes]:
    """``/query`` (and ``/query-stream`` with the v1 JSON type): a JSON array, one element per line.

    Push and stream pull queries end every element with ``,\\n`` as it is written and close with
    a final message followed by ``]``; table pull queries are complete before the first byte,
    so their last row is followed directly by ``]``. Whatever events are waiting go out as one
    chunk.
    """
    header = dumps({"header": {"queryId": stream.query_id, "schema": stream.header_schema()}})
    if stream.kind == "pull":
        parts = [b"[" + header]
        async for ev in stream.events():
            if isinstance(ev, ResultRow):
                parts.append(_row_element(ev, stream))
            elif isinstance(ev, QueryFailure):
                parts.append(dumps({"errorMessage": _error_element(ev.message)}))
        yield b",\n".join(parts) + b"]"
        return
    yield b"[" + header + b",\n"
    async for batch in stream.batches():
        chunk = []
        for ev in batch:
            if isinstance(ev, ResultRow):
                chunk.append(_row_element(ev, stream) + b",\n")
            elif isinstance(ev, QueryEnd):
                chunk.append(dumps({"finalMessage": ev.message or "Query Completed"}) + b"]")
            else:
                chunk.append(dumps({"errorMessage": _error_element(ev.message)}) + b",\n]")
        yield b"".join(chunk)


def _metadata(stream: QueryStream) -> bytes:
    return dumps({"queryId": stream.query_id, "columnNames": [n for n, _ in stream.columns],
                  "columnTypes": [str(t) for _, t in stream.columns]})


async def delimited_body(stream: QueryStream) -> AsyncIterator[bytes]:
    """``/query-stream`` default: a metadata line, then one JSON array per row; tombstones dropped."""
    yield _metadata(stream) + b"\n"
    types = stream.types
    async for batch in stream.batches():
        chunk = []
        for ev in batch:
            if isinstance(ev, ResultRow):
                if not ev.tombstone:
                    chunk.append(dumps(row_to_wire(ev.columns, types)) + b"\n")
            elif isinstance(ev, QueryFailure):
                chunk.append(dumps(_error_element(ev.message)) + b"\n")
        if chunk:
            yield b"".join(chunk)


async def json_array_body(stream: QueryStream) -> AsyncIterator[bytes]:
    """``/query-stream`` with ``application/json``: ``[{metadata},[row],…]``."""
    yield b"[" + _metadata(stream)
    types = stream.types
    async for batch in stream.batches():
        chunk = []
        for ev in batch:
            if isinstance(ev, ResultRow):
                if not ev.tombstone:
                    chunk.append(b"," + dumps(row_to_wire(ev.columns, types)))
            elif isinstance(ev, QueryFailure):
                chunk.append(b"," + dumps(_error_element(ev.message)))
        if chunk:
            yield b"".join(chunk)
    yield b"]"


class QueryResponse:
    """A chunked 200 response fed by ``body``; whichever ends first, the body or the client's
    connection, ends the other, and ``on_close`` (which releases the query) runs in every case.

    When ``cut_off`` is set (the client fell too far behind a shared writer), the client has
    ``grace_s`` seconds to take what is left (its error); a client that still does not read is
    dropped: the response ends unfinished, which makes the server close the connection.
    """

    grace_s = SLOW_CLIENT_GRACE_S

    def __init__(self, body: AsyncIterator[bytes], media_type: str,
                 on_close: Callable[[], Awaitable[None]] | None = None, name: str = "",
                 cut_off: asyncio.Event | None = None) -> None:
        self.body = body
        self.media_type = media_type
        self.on_close = on_close
        self.name = name
        self.cut_off = cut_off

    @classmethod
    def for_stream(cls, stream: QueryStream, body: AsyncIterator[bytes], media_type: str) -> QueryResponse:
        return cls(body, media_type, stream.close, stream.query_id, stream.cut_off)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(_wait_for_disconnect(receive))
        cut = asyncio.ensure_future(self.cut_off.wait()) if self.cut_off is not None else None
        try:
            await asyncio.wait({pump, watch} | ({cut} if cut else set()), return_when=asyncio.FIRST_COMPLETED)
            if cut is not None and cut.done() and not pump.done() and not watch.done():
                await asyncio.wait({pump, watch}, timeout=self.grace_s, return_when=asyncio.FIRST_COMPLETED)
                if not pump.done() and not watch.done():
                    log.warning("Dropping the client of push query %s: it stopped reading", self.name)
                    drop = scope.get(DROP_CONNECTION)
                    if drop is not None and drop():
                        # the server sees the connection go: the response ends as a disconnect
                        await asyncio.wait({watch}, timeout=1.0)
            if pump.done() and not pump.cancelled():
                exc = pump.exception()
                if exc is not None and not isinstance(exc, OSError):
                    log.error("Error while streaming query %s", self.name, exc_info=exc)
        finally:
            tasks = [t for t in (pump, watch, cut) if t is not None]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._release()
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", self.media_type.encode())]})
        async for chunk in self.body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # the query is over: release it before the client sees the end of the response
        await self._release()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _release(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            await on_close()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
