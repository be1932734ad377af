"""Connector statements, proxied to a Kafka Connect cluster's REST API (``ksql.connect.url``).

Like ksqlDB, these statements are not written to the command topic: the Connect cluster keeps the
connectors, and a restarted server asks it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ksql.dialect import nodes
from ksql.errors import KsqlException

if TYPE_CHECKING:
    from ksql.engine.engine import ExecutionContext, KsqlEngine

Entity = dict[str, Any]
DEFAULT_CONNECT_URL = "http://localhost:8083"
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ConnectClient:
    """The few Connect REST calls ksqlDB's connector statements need."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
                resp = await client.request(method, self.url + path, json=body)
        except httpx.HTTPError as e:
            raise KsqlException(
                f"Could not reach Kafka Connect at {self.url}: {e or type(e).__name__}. "
                "Check that Connect is running and that 'ksql.connect.url' points at its REST API."
            ) from e
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text
        return resp.status_code, payload


def _client(engine: KsqlEngine, ctx: ExecutionContext) -> ConnectClient:
    url = engine.config.with_overrides(ctx.overrides).get("ksql.connect.url") or DEFAULT_CONNECT_URL
    return ConnectClient(str(url))


def _connect_error(what: str, status: int, payload: Any) -> KsqlException:
    message = payload.get("message") if isinstance(payload, dict) else payload
    return KsqlException(f"{what}: {message or f'HTTP {status}'}")


def _config_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


async def create(engine: KsqlEngine, stmt: nodes.CreateConnector, ctx: ExecutionContext) -> Entity:
    connect = _client(engine, ctx)
    config = {k: _config_value(v) for k, v in stmt.properties.items()}
    config.setdefault("name", stmt.name)
    status, payload = await connect.call("POST", "/connectors", {"name": stmt.name, "config": config})
    if status == 409 and stmt.if_not_exists:
        return {"@type": "warning_entity", "statementText": stmt.text,
                "message": f"Connector {stmt.name} already exists", "warnings": []}
    if status >= 300:
        raise _connect_error("Failed to create connector", status, payload)
    return {
        "@type": "connector_info",
        "statementText": stmt.text,
        "info": {
            "name": payload.get("name", stmt.name),
            "config": payload.get("config", config),
            "tasks": payload.get("tasks", []),
            "type": payload.get("type") or stmt.kind.lower(),
        },
        "warnings": [],
    }


async def drop(engine: KsqlEngine, stmt: nodes.DropConnector, ctx: ExecutionContext) -> Entity:
    status, payload = await _client(engine, ctx).call("DELETE", f"/connectors/{quote(stmt.name, safe='')}")
    if status == 404:
        if stmt.if_exists:
            return {"@type": "warning_entity", "statementText": stmt.text,
                    "message": f"Connector '{stmt.name}' does not exist.", "warnings": []}
        raise KsqlException(f"Connector '{stmt.name}' does not exist.")
    if status >= 300:
        raise _connect_error("Failed to drop connector", status, payload)
    return {"@type": "drop_connector", "statementText": stmt.text, "connectorName": stmt.name, "warnings": []}


def _state(status: dict[str, Any]) -> str | None:
    """ksqlDB's summary: the connector's state, with task counts when it runs."""
    connector = (status or {}).get("connector") or {}
    state = connector.get("state")
    tasks = (status or {}).get("tasks") or []
    if state != "RUNNING":
        return state  # type: ignore[no-any-return]
    running = sum(1 for t in tasks if t.get("state") == "RUNNING")
    label = "RUNNING" if running == len(tasks) else "WARNING"
    return f"{label} ({running}/{len(tasks)} tasks RUNNING)"


async def show(engine: KsqlEngine, stmt: nodes.Show, ctx: ExecutionContext) -> Entity:
    connect = _client(engine, ctx)
    if stmt.what == "CONNECTOR PLUGINS":
        status, payload = await connect.call("GET", "/connector-plugins")
        if status >= 300:
            raise _connect_error("Failed to list connector plugins", status, payload)
        plugins = [{"className": p.get("class"), "type": p.get("type"), "version": p.get("version")}
                   for p in payload or []]
        return {"@type": "connector_plugins_list", "statementText": stmt.text, "warnings": [],
                "connectorsPlugins": plugins}
    status, payload = await connect.call("GET", "/connectors?expand=info&expand=status")
    if status >= 300:
        raise _connect_error("Failed to list connectors", status, payload)
    wanted = stmt.what.split()[0].lower() if stmt.what != "CONNECTORS" else None
    connectors = []
    for name, entry in sorted((payload or {}).items()):
        info = entry.get("info") or {}
        kind = info.get("type") or (entry.get("status") or {}).get("type")
        if wanted is not None and kind != wanted:
            continue
        item = {"name": name, "type": kind, "className": (info.get("config") or {}).get("connector.class"),
                "state": _state(entry.get("status") or {})}
        connectors.append({k: v for k, v in item.items() if v is not None})
    return {"@type": "connector_list", "statementText": stmt.text, "warnings": [], "connectors": connectors}


async def describe(engine: KsqlEngine, stmt: nodes.Describe, ctx: ExecutionContext) -> Entity:
    from ksql.engine.listings import source_description

    assert stmt.name is not None
    connect = _client(engine, ctx)
    path = f"/connectors/{quote(stmt.name, safe='')}"
    status, info = await connect.call("GET", path)
    if status == 404:
        raise KsqlException(f"Connector '{stmt.name}' does not exist.")
    if status >= 300:
        raise _connect_error("Failed to describe connector", status, info)
    _, state = await connect.call("GET", path + "/status")
    code, topics_payload = await connect.call("GET", path + "/topics")
    topics: list[str] = []
    if code < 300 and isinstance(topics_payload, dict):
        topics = sorted((topics_payload.get(stmt.name) or {}).get("topics") or [])
    sources = [s for s in engine.metastore.sources.values() if s.topic in topics]
    return {
        "@type": "connector_description",
        "statementText": stmt.text,
        "connectorClass": (info.get("config") or {}).get("connector.class"),
        "status": state if isinstance(state, dict) else {},
        "sources": [await source_description(engine, s, False) for s in sorted(sources, key=lambda s: s.name)],
        "topics": topics,
        "warnings": [],
    }
