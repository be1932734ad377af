"""Serving the app over HTTP/2 as well as HTTP/1.1, with hypercorn (``ksql-server --http2``).

uvicorn speaks HTTP/1.1 only; ksqlDB's ``/inserts-stream`` needs HTTP/2, and ``/query-stream``
may use it. Hypercorn answers both on one port: a connection that opens with the HTTP/2 preface
(cleartext "prior knowledge", what ``curl --http2-prior-knowledge`` or ``httpx`` with
``http1=False, http2=True`` send) or asks for an ``h2c`` upgrade speaks HTTP/2, any other
HTTP/1.1. It is an optional dependency: ``pip install 'ksql-py[http2]'``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

INSTALL_HINT = "HTTP/2 needs hypercorn: pip install 'ksql-py[http2]' (or: pip install hypercorn)"


def available() -> bool:
    try:
        import hypercorn  # noqa: F401
    except ImportError:
        return False
    return True


def _config(host: str, port: int, log_level: str) -> Any:
    from hypercorn.config import Config as HypercornConfig

    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.loglevel = log_level.upper()
    config.accesslog = None
    config.graceful_timeout = 5.0
    # push queries and insert streams stay open for as long as their clients want
    config.keep_alive_timeout = 3600.0
    return config


async def serve(app: Any, host: str, port: int, *, log_level: str = "info",
                shutdown_trigger: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns (default: SIGINT/SIGTERM)."""
    from hypercorn.asyncio import serve as hypercorn_serve

    await hypercorn_serve(app, _config(host, port, log_level), shutdown_trigger=shutdown_trigger)
