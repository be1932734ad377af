"""Runs ksqlDB REST query-validation test (RQTT) cases against a real server.

One uvicorn server serves the whole run (in a thread of this process); every case gets a fresh
engine on a fresh embedded log (a folder of the run's temporary data dir) behind that server, so
cases cannot see each other's sources, topics or query ids. A case is run the way ksqlDB's
RestTestExecutor runs it:

1. the topics the case names are created;
2. all statements before the first ``SELECT `` go to ``/ksql`` as one request;
3. the inputs are produced (with ``waitForActivePushQuery``: once the push query's header arrived);
4. the runner waits until every persistent query has consumed all of its input;
5. each ``SELECT`` goes to ``/query`` and its whole response is read;
6. output topics are compared with ``outputs``; the entities and query responses with ``responses``
   (subset match, query rows as a multiset unless ``outputConditions.verifyOrder``);
   an error answer is compared with ``expectedError`` (type, message substring, HTTP status).
The case's ``properties`` go with every request as ``streamsProperties``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.schemaregistry import InMemorySchemaRegistry
from ksql.testing.qtt import (
    CaseFailure,
    CaseResult,
    _check_outputs,
    _create_topics,
    _produce_inputs,
    _subst,
    cases_of,
)
from ksql.testing.schemas import seed_topic_schemas
from ksql.testing.test_functions import test_functions as extension_functions
from ksql.topics.embedded import EmbeddedLog

T = TypeVar("T")

# the server settings of ksqlDB's REST test harness
SERVER_PROPS: dict[str, Any] = {
    "ksql.service.id": "rqtt_",
    "ksql.streams.auto.offset.reset": "earliest",
    "ksql.streams.cache.max.bytes.buffering": 0,
    "ksql.streams.commit.interval.ms": 2000,
    "ksql.streams.processing.guarantee": "exactly_once_v2",
    "ksql.streams.num.stream.threads": 1,
    "ksql.query.pull.table.scan.enabled": True,
    "ksql.query.push.v2.enabled": True,
    "ksql.headers.columns.enabled": True,
}

QUERY_READ_TIMEOUT_S = 5.0  # a push query that stops producing rows before its LIMIT
CATCH_UP_TIMEOUT_S = 10.0
CASE_TIMEOUT_S = 60.0
DEFAULT_PARTITIONS = 4  # of a topic the harness creates without a partition count

_STATEMENT_ERROR = "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage"
_ERROR = "io.confluent.ksql.rest.entity.KsqlErrorMessage"
_PROTOBUF = "application/vnd.ksql.v1+protobuf"


def find_rqtt_dir(start: Path) -> Path:
    """The public RQTT files: ``shared/ksql-qtt/rqtt`` beside the repository checkout."""
    for parent in [start, *start.parents]:
        candidate = parent / "shared" / "ksql-qtt" / "rqtt"
        if candidate.is_dir():
            return candidate
    return start / "shared" / "ksql-qtt" / "rqtt"


# -- the server -----------------------------------------------------------------------------------
class _Dispatch:
    """The ASGI app uvicorn serves: forwards each request to the current case's app."""

    def __init__(self) -> None:
        self.app: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    self.loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        app = self.app
        if app is None:
            from rest.errors import NOT_READY, error_response

            await error_response(NOT_READY, "No test case is running.")(scope, receive, send)
            return
        await app(scope, receive, send)


class _Case:
    """The engine and app of one case, on the server's event loop."""

    def __init__(self, engine: KsqlEngine, app: Any, lifespan: Any, folder: Path) -> None:
        self.engine = engine
        self.app = app
        self.lifespan = lifespan
        self.folder = folder


class RqttServer:
    """A real REST server for a run of RQTT cases; ``open_case``/``close_case`` swap its engine."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._tmp = None if data_dir is not None else tempfile.mkdtemp(prefix="rqtt-")
        self.data_dir = Path(data_dir or self._tmp or ".")
        self.dispatch = _Dispatch()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.http: httpx.Client | None = None  # one client (and connection) for the whole run
        self._cases = 0

    def start(self) -> None:
        import uvicorn

        port = _free_port()
        self._server = uvicorn.Server(uvicorn.Config(
            self.dispatch, host="127.0.0.1", port=port, log_level="error", lifespan="on",
            timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, name="rqtt-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not (self._server.started and self.dispatch.loop is not None):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the REST server did not start")
            time.sleep(0.005)
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(30.0, read=QUERY_READ_TIMEOUT_S))

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> RqttServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's event loop (engine state is only touched there)."""
        assert self.dispatch.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.dispatch.loop).result(timeout)

    def open_case(self, props: dict[str, Any] | None = None) -> _Case:
        self._cases += 1
        folder = self.data_dir / f"case-{self._cases}"
        case = self.call(self._open(folder, {**SERVER_PROPS, **(props or {})}))
        self.dispatch.app = case.app
        return case

    def close_case(self, case: _Case) -> None:
        self.dispatch.app = None
        try:
            self.call(case.lifespan.__aexit__(None, None, None))
        finally:
            shutil.rmtree(case.folder, ignore_errors=True)

    async def _open(self, folder: Path, props: dict[str, Any]) -> _Case:
        from rest.app import create_app

        config = Config(props)
        # AVRO/PROTOBUF/JSON_SR: an in-process schema registry per case (ksqlDB's harness mocks one)
        engine = KsqlEngine(EmbeddedLog(folder / "log"), config, schema_registry=InMemorySchemaRegistry())
        app = create_app(engine, config)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        state = app.state.ksql
        deadline = time.monotonic() + 10
        while not state.ready:
            if time.monotonic() > deadline:
                await lifespan.__aexit__(None, None, None)
                raise RuntimeError(f"the engine did not start: {state.not_ready_reason}")
            await asyncio.sleep(0.001)
        return _Case(engine, app, lifespan, folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- running cases --------------------------------------------------------------------------------
class _Responses:
    """What the server answered: one entry per entity / query, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []  # ("admin", entity) | ("query", elements)
        self.error: tuple[int, dict[str, Any]] | None = None  # (HTTP status, error body)


def run_case(server: RqttServer, case: dict[str, Any], fmt: str | None,
             test_functions: bool = True) -> tuple[str, str]:
    """Returns (status, detail) with status pass | fail | error | skip."""
    if case.get("enabled") is False:
        return "skip", "disabled in the test file"
    scope = extension_functions() if test_functions else contextlib.nullcontext()
    try:
        with scope:
            _run(server, case, fmt)
    except CaseFailure as e:
        return "fail", str(e)
    except Exception as e:  # a runner or server bug, reported with its trace
        return "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
    return "pass", ""


def _run(server: RqttServer, case: dict[str, Any], fmt: str | None) -> None:
    statements = [_subst(s, fmt) for s in case["statements"]]
    props = dict(case.get("properties") or {})
    expected_error = case.get("expectedError")
    wait_for_push = bool((case.get("inputConditions") or {}).get("waitForActivePushQuery"))
    first_query = next((i for i, s in enumerate(statements) if s.startswith("SELECT ")), len(statements))
    admin, queries = statements[:first_query], statements[first_query:]
    if any(not s.startswith("SELECT ") for s in queries):
        raise CaseFailure("Invalid test case: a statement follows the queries but is not a query")
    if wait_for_push and len(queries) != 1:
        raise CaseFailure("Invalid test case: waitForActivePushQuery needs exactly one query")
    expected = [_subst_json(r, fmt) for r in case.get("responses") or []]

    ctx = server.open_case()
    try:
        server.call(_create_topics(ctx.engine, case, statements, DEFAULT_PARTITIONS))
        if ctx.engine.schema_registry is not None:
            seed_topic_schemas(ctx.engine.schema_registry, case, statements, ctx.engine.config)
        got = _send(server, ctx, case, admin, queries, props)
        if got.error is not None:
            if expected_error is None:
                status, body = got.error
                raise CaseFailure(f"Server failed to execute statement\nstatement: {body.get('statementText', '')}"
                                  f"\nreason: {status} {body.get('message', body)}")
            _check_error(got.error, expected_error, statements[-1])
            return
        if expected_error is not None:
            raise CaseFailure(f"Expected last statement to return an error: {expected_error}")
        if case.get("outputs"):
            _catch_up(server, ctx)
            server.call(_check_outputs(ctx.engine, case))
        _check_responses(got.items, expected, statements, bool((case.get("outputConditions") or {}).get("verifyOrder")))
    finally:
        server.close_case(ctx)


def _send(server: RqttServer, ctx: _Case, case: dict[str, Any], admin: list[str], queries: list[str],
          props: dict[str, Any]) -> _Responses:
    """The requests of a case, with the inputs produced in between; stops at the first error."""
    http = server.http
    assert http is not None, "the server is not started"
    got = _Responses()
    if admin:
        r = http.post("/ksql", json={"ksql": "\n".join(admin), "streamsProperties": props})
        body = _loads(r.content)
        if r.status_code != 200 or not isinstance(body, list):
            got.error = (r.status_code, body if isinstance(body, dict) else {"message": str(body)})
            return got
        got.items += [("admin", e) for e in body]
    wait_for_push = bool((case.get("inputConditions") or {}).get("waitForActivePushQuery"))
    if not wait_for_push:
        server.call(_produce_inputs(ctx.engine, case))
    if queries:
        _catch_up(server, ctx)
    started = time.monotonic()
    for sql in queries:
        if time.monotonic() - started > CASE_TIMEOUT_S:
            raise CaseFailure(f"timed out after {CASE_TIMEOUT_S}s")
        produce = (lambda: server.call(_produce_inputs(ctx.engine, case))) if wait_for_push else None
        status, elements, err = _query(http, sql, props, produce, case.get("expectedError") is not None)
        if err is not None:
            got.error = (status, err)
            return got
        got.items.append(("query", elements))
    if case.get("testPullWithProtoFormat"):
        got.items += _proto_reruns(http, queries, props)
    return got


def _subst_json(value: Any, fmt: str | None) -> Any:
    if fmt is None:
        return value
    if isinstance(value, str):
        return value.replace("{FORMAT}", fmt)
    if isinstance(value, list):
        return [_subst_json(v, fmt) for v in value]
    if isinstance(value, dict):
        return {k: _subst_json(v, fmt) for k, v in value.items()}
    return value


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return {"message": raw.decode(errors="replace")}


def _query(http: httpx.Client, sql: str, props: dict[str, Any], after_header: Any = None,
           error_expected: bool = False) -> tuple[int, list[Any], dict[str, Any] | None]:
    """POST one query to /query; returns (status, response elements, error body or None).
    ``error_expected``: a 200 answer already fails the case, so its rows are not waited for."""
    body = {"ksql": sql, "streamsProperties": props}
    chunks: list[bytes] = []
    try:
        with http.stream("POST", "/query", json=body) as r:
            if r.status_code != 200:
                r.read()
                return r.status_code, [], _loads(r.content)
            if error_expected:
                return 200, [], None
            header_seen = after_header is None
            for chunk in r.iter_bytes():
                chunks.append(chunk)
                if not header_seen and b"\n" in b"".join(chunks):
                    header_seen = True
                    after_header()
            if not header_seen:
                after_header()
    except httpx.ReadTimeout:
        raise CaseFailure(f"Query did not complete within {QUERY_READ_TIMEOUT_S}s of its last row: {sql}\n"
                          f"got so far: {b''.join(chunks).decode(errors='replace')[:1500]}") from None
    text = b"".join(chunks)
    try:
        elements = json.loads(text, parse_float=Decimal)
    except ValueError:
        raise CaseFailure(f"Query response is not a JSON array: {text.decode(errors='replace')[:1500]}") from None
    if not isinstance(elements, list):
        raise CaseFailure(f"Query response is not a JSON array: {elements!r}"[:1500])
    return 200, elements, None


def _proto_reruns(http: httpx.Client, queries: list[str], props: dict[str, Any]) -> list[tuple[str, Any]]:
    """The protobuf re-run of every query, as ``queryProto`` responses (rows left as the server sent them)."""
    out: list[tuple[str, Any]] = []
    for sql in queries:
        r = http.post("/query", json={"ksql": sql, "streamsProperties": props}, headers={"Accept": _PROTOBUF})
        elements = _loads(r.content)
        if r.status_code != 200 or not isinstance(elements, list) or not any(
                isinstance(e, dict) and "protoSchema" in (e.get("header") or {}) for e in elements):
            raise CaseFailure(f"The server does not answer queries in protobuf ({_PROTOBUF}): "
                              f"{r.status_code} {r.text[:300]}")
        out.append(("queryProto", elements))
    return out


# -- topics, inputs, waiting ------------------------------------------------------------------------
async def _lagging(engine: KsqlEngine) -> list[str]:
    """The running persistent queries that have not committed all of their input yet."""
    behind: list[str] = []
    for qid, q in list(engine.queries.items()):
        if q.info.state != "RUNNING":
            continue
        task = q.task
        tps = [(t, p) for t, n in task.partitions.items() for p in range(n)]
        if not tps:
            continue
        ends = await engine.backend.end_offsets(tps)
        committed = await engine.backend.committed(task.group)
        if any(committed.get(tp, 0) < ends.get(tp, 0) for tp in tps):
            behind.append(qid)
    return behind


def _catch_up(server: RqttServer, case: _Case) -> None:
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while True:
        behind = server.call(_lagging(case.engine))
        if not behind:
            return
        if time.monotonic() > deadline:
            raise CaseFailure(f"Timed out waiting for queries to process their input: {behind}")
        time.sleep(0.003)


# -- judging ---------------------------------------------------------------------------------------
def _check_error(got: tuple[int, dict[str, Any]], expected: dict[str, Any], last_statement: str) -> None:
    status, body = got
    problems = []
    etype = expected.get("type")
    if etype == _STATEMENT_ERROR:
        if body.get("@type") != "statement_error":
            problems.append(f"error type {body.get('@type')} is not a statement_error")
        elif last_statement not in str(body.get("statementText", "")):
            problems.append(f"statementText {body.get('statementText')!r} does not contain {last_statement!r}")
    elif etype == _ERROR:
        if body.get("@type") not in ("generic_error", "statement_error"):
            problems.append(f"error type {body.get('@type')} is not an error message")
    msg = expected.get("message")
    if msg is not None and msg not in str(body.get("message", "")):
        problems.append(f"message does not contain {msg!r}")
    if expected.get("status") is not None and int(expected["status"]) != status:
        problems.append(f"HTTP status {status} != expected {expected['status']}")
    if problems:
        raise CaseFailure("Expected error mismatch: " + "; ".join(problems)
                          + f"\nActual: {status} {json.dumps(body, default=str)[:1500]}")


def _check_responses(actual: list[tuple[str, Any]], expected: list[dict[str, Any]], statements: list[str],
                     verify_order: bool) -> None:
    if len(actual) < len(expected):
        raise CaseFailure(f"Not enough responses: expected {len(expected)}, got {len(actual)}: "
                          f"{_show([a for _, a in actual])}")
    for idx, exp in enumerate(expected):
        if len(exp) != 1:
            raise CaseFailure(f"Invalid test case: responses[{idx}] must have exactly one key")
        ((kind, payload),) = exp.items()
        got_kind, got = actual[idx]
        path = f"responses[{idx}]->{kind}"
        if kind != got_kind:
            raise CaseFailure(f"{path}: expected a {kind} response but got {got_kind}: {_show(got)}")
        if kind == "admin":
            _match_fields(got, payload, statements, idx, path)
        else:
            _match_query(got, payload, statements, idx, path, verify_order)


def _match_query(actual: list[Any], expected: list[Any], statements: list[str], idx: int, path: str,
                 verify_order: bool) -> None:
    if len(actual) != len(expected):
        raise CaseFailure(f"{path}: row count mismatch: expected {len(expected)} elements, got {len(actual)}"
                          f"\nExpected: {_show(expected)}\nGot: {_show(actual)}")
    rows_exp = [i for i, e in enumerate(expected) if isinstance(e, dict) and "row" in e]
    rows_act = [i for i, a in enumerate(actual) if isinstance(a, dict) and "row" in a]
    unordered = not verify_order and len(rows_exp) > 1 and rows_exp == rows_act
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if unordered and i in rows_exp:
            continue
        _match_fields(a, e, statements, idx, f"{path}[{i}]")
    if not unordered:
        return
    # rows as a multiset: each expected row takes the first unused actual row it matches
    free = list(rows_act)
    for i in rows_exp:
        for j in free:
            try:
                _match_fields(actual[j], expected[i], statements, idx, f"{path}[{j}]")
            except CaseFailure:
                continue
            free.remove(j)
            break
        else:
            raise CaseFailure(f"{path}: no row matches expected {_show(expected[i])}"
                              f"\nExpected: {_show(expected)}\nGot: {_show(actual)}")


def _match_fields(actual: Any, expected: Any, statements: list[str], idx: int, path: str) -> None:
    if not isinstance(expected, dict):
        raise CaseFailure(f"Invalid test case: {path} must be a JSON object")
    if not isinstance(actual, dict):
        raise CaseFailure(f"Response mismatch at {path}: expected an object, got {_show(actual)}")
    for raw_key, raw_value in expected.items():
        key, _, op = raw_key.partition("|")
        value = raw_value
        if isinstance(value, str) and idx < len(statements):
            value = value.replace("{STATEMENT}", statements[idx])
        if key not in actual:
            raise CaseFailure(f"Response mismatch at {path}: no field {key!r} in {_show(actual)}")
        got = actual[key]
        sub = f"{path}->{key}"
        if isinstance(value, dict):
            _match_fields(got, value, statements, idx, sub)
        elif op.upper() == "STARTS_WITH":
            if not (isinstance(got, str) and isinstance(value, str) and got.startswith(value)):
                raise CaseFailure(f"Response mismatch at {sub}: {got!r} does not start with {value!r}")
        elif not _same(value, got):
            raise CaseFailure(f"Response mismatch at {sub}: expected {_show(value)} but was {_show(got)}")


def _same(expected: Any, actual: Any) -> bool:
    """Full equality of JSON values; numbers by value (booleans are not numbers)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, Decimal)) and isinstance(actual, (int, Decimal)):
        return Decimal(expected) == Decimal(actual)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            _same(v, actual[k]) for k, v in expected.items())
    return type(expected) is type(actual) and bool(expected == actual)


def _show(value: Any) -> str:
    return json.dumps(value, default=str)[:1500]


# -- files -------------------------------------------------------------------------------------------
def run_files(paths: list[Path], name_filter: str | None = None, test_functions: bool = True) -> list[CaseResult]:
    """Every case of the given files (folders: their ``*.json``), all on one server."""
    results: list[CaseResult] = []
    with RqttServer() as server:
        for fname, case, fmt in cases_of(paths, results):
            if name_filter and name_filter not in case["name"]:
                continue
            status, detail = run_case(server, case, fmt, test_functions)
            results.append(CaseResult(fname, case["name"], fmt, status, detail))
    return results
