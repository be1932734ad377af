"""Command status and cluster status: ``GET /status``, ``/status/{type}/{entity}/{action}`` and
``/clusterStatus``.

A command id is ``<type>/<entity>/<action>`` as ``/ksql`` returned it (``stream/`S`/create``);
statuses cover the commands replayed from the command topic at startup as well. This server is a
cluster of one: ``/clusterStatus`` lists it with the queries it runs, their stores and the input
partitions they own (all of them active, no standbys, no lag reporting).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ksql.engine.engine import KsqlEngine
from rest import errors as E
from rest.errors import RestError
from rest.streaming import V1_JSON
from rest.values import dumps


def _engine(request: Request) -> KsqlEngine:
    return request.app.state.ksql.engine  # type: ignore[no-any-return]


def _json(obj: Any) -> Response:
    return Response(dumps(obj), media_type=V1_JSON)


async def status_list_endpoint(request: Request) -> Response:
    statuses = _engine(request).command_statuses
    return _json({"commandStatuses": {cid: s.get("status") for cid, s in statuses.items()}})


async def status_endpoint(request: Request) -> Response:
    p = request.path_params
    statuses = _engine(request).command_statuses
    entity = p["entity"]
    # ksqlDB quotes the entity of CREATE commands (``stream/`S`/create``); older clients may not
    for e in (entity, f"`{entity}`", entity.strip("`")):
        status = statuses.get(f"{p['type']}/{e}/{p['action']}")
        if status is not None:
            return _json({"status": status.get("status"), "message": status.get("message"),
                          "queryId": status.get("queryId")})
    raise RestError(E.NOT_FOUND, "Command not found")


def _host(request: Request) -> str:
    advertised = request.app.state.ksql.config.get("ksql.advertised.listener")
    if advertised:
        url = urlsplit(str(advertised))
        if url.hostname:
            return f"{url.hostname}:{url.port or 8088}"
    return request.url.netloc or "localhost:8088"


async def cluster_status_endpoint(request: Request) -> Response:
    engine = _engine(request)
    now = int(time.time() * 1000)
    per_query: dict[str, Any] = {}
    for qid, q in engine.queries.items():
        task = q.task
        per_query[qid] = {
            "activeStores": sorted(task.store_names),
            "activePartitions": [{"topic": t, "partition": p}
                                 for t, n in sorted(task.partitions.items()) for p in range(n)],
            "standByStores": [],
            "standByPartitions": [],
        }
    host = {
        "hostAlive": True,
        "lastStatusUpdateMs": now,
        "activeStandbyPerQuery": per_query,
        "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": now},
    }
    return _json({"clusterStatus": {_host(request): host}})
