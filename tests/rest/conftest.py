"""A real server for end-to-end REST tests: the app on uvicorn (HTTP/1.1) or hypercorn (HTTP/1.1
and cleartext HTTP/2) in a thread, over an embedded log in a temporary directory."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from testlib import eventually, free_port

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.embedded import EmbeddedLog
from rest.app import ServerState, create_app


@dataclass
class LiveServer:
    host: str
    port: int
    engine: KsqlEngine
    app: Any
    http: httpx.Client
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's event loop (to look at its state safely)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def task_names(self) -> list[str]:
        async def names() -> list[str]:
            return [t.get_name() for t in asyncio.all_tasks()]

        return self.call(names())  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> ServerState:
        return self.app.state.ksql  # type: ignore[no-any-return]

    def ok(self, sql: str, **extra: Any) -> list[dict[str, Any]]:
        r = self.http.post("/ksql", json={"ksql": sql, **extra})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live_server(props={}, http2=False)``: start a server; stopped at the end of the test."""
    stops: list[Callable[[], None]] = []

    def start(props: dict[str, Any] | None = None, http2: bool = False) -> LiveServer:
        engine = KsqlEngine(EmbeddedLog(tmp_path / f"log{len(stops)}"), Config(props or {}))
        app = create_app(engine)
        port = free_port()
        loops: list[asyncio.AbstractEventLoop] = []
        if http2:
            from rest import http2 as h2

            stop = threading.Event()

            async def trigger() -> None:
                while not stop.is_set():
                    await asyncio.sleep(0.05)

            async def serve_h2() -> None:
                loops.append(asyncio.get_running_loop())
                await h2.serve(app, "127.0.0.1", port, log_level="warning", shutdown_trigger=trigger)

            thread = threading.Thread(target=lambda: asyncio.run(serve_h2()), daemon=True)
            stops.append(lambda: (stop.set(), thread.join(10)))
        else:
            uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               timeout_graceful_shutdown=1, backlog=4096))

            async def serve() -> None:
                loops.append(asyncio.get_running_loop())
                await uv.serve()

            thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)

            def stop_uvicorn() -> None:
                uv.should_exit = True
                thread.join(10)

            stops.append(stop_uvicorn)
        thread.start()
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        stops.append(http.close)
        eventually(lambda: _ready(http), timeout=10)
        return LiveServer("127.0.0.1", port, engine, app, http, loops[0])

    yield start
    for stop_fn in reversed(stops):
        stop_fn()


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/info").status_code == 200
    except httpx.TransportError:
        return False
