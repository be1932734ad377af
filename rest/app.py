"""The ksqlDB-compatible HTTP API: statements on ``/ksql``, queries on ``/query`` and
``/query-stream``, server info and health.

``create_app(engine, config)`` returns a Starlette app whose lifespan replays the command topic
(the server answers 503/50302 until that is done), then keeps the persistent queries running in
the background. Bad input is always answered with a ksqlDB error body, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ksql.dialect import nodes, split_statements
from ksql.engine.background import BackgroundRunner
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.engine.transient import PushQueryLimitError, QueryStream, TransientQueries, prepare
from ksql.errors import KsqlException, KsqlStatementException
from rest import errors as E
from rest.errors import RestError
from rest.inserts import inserts_stream_endpoint
from rest.meta import (
    SERVER_VERSION,
    is_valid_property_endpoint,
    metadata_endpoint,
    metadata_id_endpoint,
    prohibited,
    prohibited_error,
)
from rest.print_topic import print_topic
from rest.status import cluster_status_endpoint, status_endpoint, status_list_endpoint
from rest.streaming import (
    DELIMITED,
    DROP_CONNECTION,
    JSON,
    V1_JSON,
    QueryResponse,
    connection_dropper,
    delimited_body,
    json_array_body,
    v1_json_body,
)
from rest.values import dumps
from rest.websocket import serve_ws_query

log = logging.getLogger("rest")

_QUERY_ENDPOINT_MESSAGE = (
    "The following statement types should be issued to the websocket endpoint '/query':\n\t* PRINT\n\t* SELECT"
)
_LEADING_WORD = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.S)


class ServerState:
    """Everything the handlers share: the engine, its transient queries, the readiness state."""

    def __init__(self, engine: KsqlEngine, config: Config, cluster_id: str, start_engine: bool) -> None:
        self.engine = engine
        self.config = config
        self.cluster_id = cluster_id
        self.transient = TransientQueries(engine)
        self.runner = BackgroundRunner(engine)
        self.server_state = "INITIALIZING"  # INITIALIZING | READY | TERMINATING | TERMINATED
        self.not_ready_reason = "KSQL is not yet ready to serve requests."
        self.start_engine = start_engine
        # statements change the catalog and the command topic: one request at a time
        self.statement_lock = asyncio.Lock()
        # run first on shutdown, while the engine still works (the PostgreSQL listener's goodbye)
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    @property
    def ready(self) -> bool:
        return self.server_state == "READY"

    async def boot(self) -> None:
        try:
            if self.start_engine:
                await self.engine.start()
        except Exception as e:
            log.exception("Startup failed while replaying the command topic")
            self.not_ready_reason = f"KSQL failed to start: {e}"
            return
        self.runner.start()
        self.server_state = "READY"
        log.info("ksql server ready (service id %s)", self.config.service_id)

    async def shutdown(self) -> None:
        self.server_state = "TERMINATING"
        for hook in self.shutdown_hooks:
            await hook()
        await self.transient.close_all()
        await self.runner.stop()
        await self.engine.close()
        self.server_state = "TERMINATED"


# -- requests -----------------------------------------------------------------------------------
async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as e:
        raise RestError(E.BAD_REQUEST, f"Invalid JSON in request: {e}") from None
    if not isinstance(body, dict):
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: expected a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    v = body.get(name)
    if v is None:
        return default
    if not isinstance(v, kind):
        raise RestError(E.BAD_REQUEST, f"Invalid JSON in request: field '{name}' must be a {_KIND_NAMES[kind]}")
    return v


_KIND_NAMES = {str: "string", dict: "JSON object", int: "number"}


def _overrides(state: ServerState, props: dict[str, Any]) -> dict[str, Any]:
    bad = prohibited(state.config, list(props))
    if bad:
        raise prohibited_error(bad)
    return dict(props)


def _variables(body: dict[str, Any]) -> dict[str, str]:
    raw = _field(body, "sessionVariables", dict, {})
    return {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in raw.items()}


def _state(request: Request) -> ServerState:
    return request.app.state.ksql  # type: ignore[no-any-return]


def _json(obj: Any, status: int = 200, media_type: str = JSON) -> Response:
    return Response(dumps(obj), status_code=status, media_type=media_type)


# -- /ksql ----------------------------------------------------------------------------------------
async def ksql_endpoint(request: Request) -> Response:
    state = _state(request)
    body = await _json_body(request)
    sql = _field(body, "ksql", str, "")
    overrides = _overrides(state, _field(body, "streamsProperties", dict, {}))
    variables = _variables(body)
    if not sql.strip():
        return _json([])
    try:
        texts = split_statements(sql)
    except KsqlStatementException as e:
        raise RestError(E.BAD_STATEMENT, e.message, e.statement or sql.strip()) from None
    for text in texts:
        m = _LEADING_WORD.match(text)
        if m and m.group(1).upper() in ("SELECT", "PRINT"):
            raise RestError(E.QUERY_ENDPOINT, _QUERY_ENDPOINT_MESSAGE, text.strip())
    async with state.statement_lock:
        try:
            entities = await state.engine.execute(sql, overrides, variables)
        except KsqlStatementException as e:
            code = E.QUERY_ENDPOINT if e.message.startswith(_QUERY_ENDPOINT_MESSAGE[:40]) else E.BAD_STATEMENT
            raise RestError(code, e.message, e.statement or sql.strip()) from None
        except KsqlException as e:
            raise RestError(E.BAD_STATEMENT, e.message, sql.strip()) from None
        except Exception as e:
            raise _unexpected(e, sql.strip()) from e
    return _json(entities)


# -- /query, /query-stream ------------------------------------------------------------------------
async def _start_query(state: ServerState, sql: str, overrides: dict[str, Any], variables: dict[str, str],
                       with_statement_suffix: bool) -> QueryStream | nodes.Print:
    config = state.config.with_overrides(overrides)
    try:
        stmt = prepare(sql, config, variables)
    except KsqlStatementException as e:
        raise RestError(E.BAD_STATEMENT, _statement_message(e, with_statement_suffix), e.statement or sql.strip()) from None
    except Exception as e:
        raise _unexpected(e, sql.strip()) from e
    if isinstance(stmt, nodes.Print):
        return stmt
    if not isinstance(stmt, nodes.QueryStatement):
        raise RestError(E.BAD_REQUEST, f"Statement type `{type(stmt).__name__}' not supported for this resource")
    async with state.statement_lock:
        try:
            return await state.transient.start(stmt, overrides)
        except PushQueryLimitError as e:
            raise RestError(E.MAX_PUSH_QUERIES, e.message) from None
        except KsqlStatementException as e:
            raise RestError(E.BAD_STATEMENT, _statement_message(e, with_statement_suffix),
                            e.statement or stmt.text) from None
        except Exception as e:
            raise _unexpected(e, stmt.text) from e


def _unexpected(e: Exception, statement: str) -> Exception:
    """Bad input must not be a 500: a statement that trips over a bug is answered with a 400."""
    err = E.from_unexpected(e, statement)
    if err is None:
        return e
    log.error("Unexpected error processing %r", statement, exc_info=e)
    return err


def _statement_message(e: KsqlStatementException, with_suffix: bool) -> str:
    if with_suffix and e.statement and "\nStatement: " not in e.message:
        return f"{e.message}\nStatement: {e.statement}"
    return e.message


def _accepts(request: Request, default: str) -> str:
    accept = request.headers.get("accept", "")
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    for kind in kinds:
        if kind in (V1_JSON, JSON, DELIMITED):
            return kind
    return default


async def query_endpoint(request: Request) -> Response | QueryResponse:
    state = _state(request)
    body = await _json_body(request)
    sql = _field(body, "ksql", str, "")
    if not sql.strip():
        raise RestError(E.BAD_REQUEST, '"ksql" field must be populated')
    overrides = _overrides(state, _field(body, "streamsProperties", dict, {}))
    started = await _start_query(state, sql, overrides, _variables(body), with_statement_suffix=True)
    if isinstance(started, nodes.Print):
        return await print_topic(state.engine, started)
    media = _accepts(request, V1_JSON)
    if media == DELIMITED:
        return QueryResponse.for_stream(started, delimited_body(started), DELIMITED)
    return QueryResponse.for_stream(started, v1_json_body(started), media)


async def query_stream_endpoint(request: Request) -> Response | QueryResponse:
    state = _state(request)
    body = await _json_body(request)
    if "sql" not in body:
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: Missing required creator property 'sql'")
    sql = _field(body, "sql", str, "")
    overrides = _overrides(state, _field(body, "properties", dict, {}))
    started = await _start_query(state, sql, overrides, _variables(body), with_statement_suffix=True)
    media = _accepts(request, DELIMITED)
    if isinstance(started, nodes.Print):
        if media != DELIMITED:
            return PlainTextResponse("Not Acceptable", status_code=406)
        return await print_topic(state.engine, started)
    if media == DELIMITED:
        return QueryResponse.for_stream(started, delimited_body(started), DELIMITED)
    if media == JSON:
        return QueryResponse.for_stream(started, json_array_body(started), JSON)
    return QueryResponse.for_stream(started, v1_json_body(started), V1_JSON)


async def close_query_endpoint(request: Request) -> Response:
    state = _state(request)
    body = await _json_body(request)
    if "queryId" not in body:
        raise RestError(E.BAD_REQUEST, "Invalid JSON in request: Missing required creator property 'queryId'")
    qid = _field(body, "queryId", str, "")
    stream = state.transient.active.get(qid)
    if stream is None:
        raise RestError(E.BAD_REQUEST, f"No query with id {qid}")
    await stream.close()
    return Response(b"", status_code=200)


async def ws_query_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.ksql

    async def start(sql: str, props: dict[str, Any], variables: dict[str, str]) -> QueryStream:
        started = await _start_query(state, sql, _overrides(state, props), variables, with_statement_suffix=True)
        if isinstance(started, nodes.Print):
            raise RestError(E.BAD_REQUEST, "PRINT is not supported on /ws/query: use /query")
        return started

    await serve_ws_query(websocket, state.ready, state.not_ready_reason, start)


# -- info and health ------------------------------------------------------------------------------
async def info_endpoint(request: Request) -> Response:
    state = _state(request)
    return _json({"KsqlServerInfo": {
        "version": SERVER_VERSION,
        "kafkaClusterId": state.cluster_id,
        "ksqlServiceId": state.config.service_id,
        "serverStatus": "RUNNING" if state.runner.running else "ERROR",
    }}, media_type=V1_JSON)


async def healthcheck_endpoint(request: Request) -> Response:
    state = _state(request)
    try:
        kafka_ok = await state.engine.backend.describe_topic(state.engine.command_topic) is not None \
            or not state.engine.persist_commands
    except Exception:
        kafka_ok = False
    runner_ok = state.runner.running
    healthy = kafka_ok and runner_ok
    return _json({
        "isHealthy": healthy,
        "details": {"metastore": {"isHealthy": True}, "kafka": {"isHealthy": kafka_ok},
                    "commandRunner": {"isHealthy": runner_ok}},
        "serverState": state.server_state,
    }, status=200 if healthy else 503, media_type=V1_JSON)


async def container_health(request: Request) -> Response:
    return _json({})


async def root_endpoint(request: Request) -> Response:
    return RedirectResponse("/info", status_code=307)


# -- plumbing -------------------------------------------------------------------------------------
async def _rest_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RestError)
    return exc.response()


async def _not_found(request: Request, exc: Exception) -> Response:
    # a wrong method on a known path is a 404 too, as in ksqlDB
    return PlainTextResponse("Not Found", status_code=404)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return PlainTextResponse("Not Found", status_code=404)
    return PlainTextResponse(exc.detail, status_code=exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("Unhandled error serving %s %s", request.method, request.url.path, exc_info=exc)
    return E.error_response(
        E.SERVER_ERROR,
        "The server encountered an internal error when processing the query. Please consult the server "
        f"logs for more information. ({type(exc).__name__}: {exc})")


class _ReadinessGate:
    """503/50302 on every route but the container health checks until startup is done."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.state.ready and not scope["path"].startswith("/chc/"):
            code, message = E.NOT_READY, self.state.not_ready_reason
            if self.state.server_state == "TERMINATING":
                code, message = E.SHUTTING_DOWN, "The server is shutting down"
            elif self.state.server_state == "TERMINATED":
                code, message = 50304, "The server is shut down"
            await E.error_response(code, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _App(Starlette):
    """Starlette with a way for a response to cut its connection (the middleware wraps ``send``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[DROP_CONNECTION] = connection_dropper(send)
        await super().__call__(scope, receive, send)


ROUTES = [
    Route("/", root_endpoint, methods=["GET"]),
    Route("/ksql", ksql_endpoint, methods=["POST"]),
    Route("/query", query_endpoint, methods=["POST"]),
    Route("/query-stream", query_stream_endpoint, methods=["POST"]),
    Route("/close-query", close_query_endpoint, methods=["POST"]),
    Route("/inserts-stream", inserts_stream_endpoint, methods=["POST"]),
    Route("/status", status_list_endpoint, methods=["GET"]),
    Route("/status/{type}/{entity}/{action}", status_endpoint, methods=["GET"]),
    Route("/clusterStatus", cluster_status_endpoint, methods=["GET"]),
    Route("/info", info_endpoint, methods=["GET"]),
    Route("/healthcheck", healthcheck_endpoint, methods=["GET"]),
    Route("/chc/ready", container_health, methods=["GET"]),
    Route("/chc/live", container_health, methods=["GET"]),
    Route("/is_valid_property/{name:path}", is_valid_property_endpoint, methods=["GET"]),
    Route("/v1/metadata", metadata_endpoint, methods=["GET"]),
    Route("/v1/metadata/id", metadata_id_endpoint, methods=["GET"]),
    WebSocketRoute("/ws/query", ws_query_endpoint),
]


def create_app(engine: KsqlEngine, config: Config | None = None, *, cluster_id: str | None = None,
               start_engine: bool = True) -> Starlette:
    """The server app for ``engine``. Its lifespan starts the engine (command-topic replay) unless
    ``start_engine`` is false, runs the persistent queries, and closes everything on shutdown."""
    config = config or engine.config
    state = ServerState(engine, config, cluster_id or _cluster_id(config), start_engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        boot = asyncio.create_task(state.boot(), name="ksql-boot")
        try:
            yield
        finally:
            boot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await boot
            await state.shutdown()

    app = _App(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={RestError: _rest_error, HTTPException: _http_error, 404: _not_found,
                            405: _not_found, Exception: _internal_error},
    )
    app.state.ksql = state
    app.add_middleware(_ReadinessGate, state=state)
    return app


def _cluster_id(config: Config) -> str:
    # stable per service id; a Kafka cluster id is 22 url-safe base64 characters
    import base64

    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"ksql-embedded:{config.service_id}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
