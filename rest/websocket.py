"""``GET /ws/query?request=<KsqlRequest JSON>``: ksqlDB's legacy WebSocket endpoint for queries.

The first message is the result's schema, a JSON array of ``{"name", "schema"}`` field infos (key
columns of a table pull query add ``"type":"KEY"``); then one ``{"row":{"columns":[…]}}`` message
per row. A stream pull query ends with ``{"error":"done"}``; the socket is then closed normally
(a push query with a LIMIT closes with its final message as the reason). Errors close the
socket: 1003 for a request that cannot be served, 1011 for a failure while running, with the
message as the reason. Closing the socket stops the query.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ksql.engine.transient import QueryEnd, QueryFailure, QueryStream, ResultRow
from ksql.schema import type_info
from rest.errors import RestError
from rest.values import dumps, row_to_wire

CANNOT_ACCEPT = 1003
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
_MAX_REASON_BYTES = 123  # a close frame's reason must fit in 125 bytes with the code

# (statement, streamsProperties, sessionVariables) -> the running query
StartQuery = Callable[[str, dict[str, Any], dict[str, str]], Awaitable[QueryStream]]


def _reason(message: str) -> str:
    raw = message.encode()
    if len(raw) <= _MAX_REASON_BYTES:
        return message
    return raw[:_MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def _request(websocket: WebSocket) -> tuple[str, dict[str, Any], dict[str, str]]:
    raw = websocket.query_params.get("request")
    if raw is None:
        raise ValueError("missing request parameter")
    body = orjson.loads(raw)
    if not isinstance(body, dict) or not isinstance(body.get("ksql"), str):
        raise ValueError('"ksql" field must be populated')
    props = body.get("streamsProperties") or {}
    variables = body.get("sessionVariables") or {}
    if not isinstance(props, dict) or not isinstance(variables, dict):
        raise ValueError("streamsProperties and sessionVariables must be JSON objects")
    return body["ksql"], props, {str(k): str(v) for k, v in variables.items()}


def schema_message(stream: QueryStream) -> bytes:
    fields = []
    for name, t in stream.columns:
        field: dict[str, Any] = {"name": name, "schema": type_info(t)}
        if stream.marks.get(name) == " KEY":
            field["type"] = "KEY"
        fields.append(field)
    return dumps(fields)


async def serve_ws_query(websocket: WebSocket, ready: bool, not_ready_reason: str, start: StartQuery) -> None:
    await websocket.accept()
    if not ready:
        await websocket.close(TRY_AGAIN_LATER, _reason(not_ready_reason))
        return
    try:
        sql, props, variables = _request(websocket)
    except (ValueError, orjson.JSONDecodeError) as e:
        await websocket.close(CANNOT_ACCEPT, _reason(f"Error parsing request: {e}"))
        return
    try:
        stream = await start(sql, props, variables)
    except RestError as e:
        await websocket.close(CANNOT_ACCEPT, _reason(e.message))
        return
    pump = asyncio.ensure_future(_pump(websocket, stream))
    watch = asyncio.ensure_future(_wait_for_disconnect(websocket))
    try:
        await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (pump, watch):
            t.cancel()
        await asyncio.gather(pump, watch, return_exceptions=True)
        await stream.close()


async def _pump(websocket: WebSocket, stream: QueryStream) -> None:
    await websocket.send_text(schema_message(stream).decode())
    types = stream.types
    code, reason = 1000, ""
    async for ev in stream.events():
        if isinstance(ev, ResultRow):
            row: dict[str, Any] = {"columns": row_to_wire(ev.columns, types)}
            if ev.tombstone:
                row["tombstone"] = True
            await websocket.send_text(dumps({"row": row}).decode())
        elif isinstance(ev, QueryEnd):
            if stream.kind == "stream_pull":
                await websocket.send_text('{"error":"done"}')
            elif stream.kind == "push":
                reason = ev.message or ""
        elif isinstance(ev, QueryFailure):
            code, reason = INTERNAL_ERROR, ev.message
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code, _reason(reason))


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
