"""The PostgreSQL listener: accepts connections in the REST server's event loop, next to uvicorn,
and serves them from the same engine and transient queries.

Settings (properties file, ``KSQL_*`` environment variables or flags):

==========================  ===================  ==============================================
``ksql.pg.port``            ``--pg-port``        port to listen on; 5433 by default, 0 disables
``ksql.pg.host``                                 interface; the HTTP listener's by default
``ksql.pg.password``        ``--pg-password``    require this password (any user); unset: trust
``ksql.pg.auth.method``                          ``md5`` (default) or ``password`` (cleartext)
``ksql.pg.max.connections``                      500 by default
==========================  ===================  ==============================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import struct
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest.pgwire import protocol as P
from rest.pgwire.catalog import Catalog
from rest.pgwire.errors import ADMIN_SHUTDOWN, PROTOCOL_VIOLATION, FatalError
from rest.pgwire.session import Session

if TYPE_CHECKING:
    from rest.app import ServerState

log = logging.getLogger("rest.pgwire")

DEFAULT_PORT = 5433
AUTH_METHODS = ("md5", "password")


class PgConfigError(Exception):
    pass


@dataclass(frozen=True)
class PgSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0 here means any free port; the configuration's 0 means no listener
    password: str | None = None
    auth_method: str = "md5"
    max_connections: int = 500
    # set explicitly by the operator: failing to listen there is an error, not a warning
    explicit: bool = False


def pg_settings(props: Mapping[str, Any], default_host: str) -> PgSettings | None:
    """The listener's settings from server properties; None when it is disabled (port 0)."""
    raw = props.get("ksql.pg.port")
    try:
        port = DEFAULT_PORT if raw in (None, "") else int(str(raw))
    except ValueError:
        raise PgConfigError(f"ksql.pg.port must be a port number (0 disables the listener), not '{raw}'") from None
    if port == 0:
        return None
    if not 0 < port < 65536:
        raise PgConfigError(f"ksql.pg.port {port} is out of range (1-65535; 0 disables the listener)")
    method = str(props.get("ksql.pg.auth.method") or "md5").lower()
    if method not in AUTH_METHODS:
        raise PgConfigError(f"ksql.pg.auth.method must be one of {', '.join(AUTH_METHODS)}, not '{method}'")
    try:
        max_conn = int(str(props.get("ksql.pg.max.connections") or 500))
    except ValueError:
        raise PgConfigError("ksql.pg.max.connections must be a number") from None
    return PgSettings(host=str(props.get("ksql.pg.host") or default_host), port=port,
                      password=str(props["ksql.pg.password"]) if props.get("ksql.pg.password") else None,
                      auth_method=method, max_connections=max_conn, explicit=raw not in (None, ""))


class PgServer:
    def __init__(self, state: ServerState, settings: PgSettings) -> None:
        self.state = state
        self.settings = settings
        self.catalog = Catalog(lambda: state.engine.metastore.sources.values())
        self.sessions: dict[int, Session] = {}
        self.port = settings.port
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pid = random.randint(1_000, 30_000)
        self._closed = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.settings.host, self.settings.port)
        self.port = self._server.sockets[0].getsockname()[1]
        # the HTTP server's shutdown may end the process before ``serve`` returns: say goodbye to
        # the clients as the engine starts shutting down
        self.state.shutdown_hooks.append(self.close)
        log.info("PostgreSQL protocol on %s:%d (%s)", self.settings.host, self.port,
                 f"{self.settings.auth_method} password" if self.settings.password else "trust")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        bye = FatalError(ADMIN_SHUTDOWN, "terminating connection due to administrator command")
        for s in list(self.sessions.values()):
            await s.terminate(bye)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            code, body = await P.read_startup(reader)
            while code in (P.SSL_REQUEST, P.GSSENC_REQUEST):
                writer.write(P.SSL_REFUSED)
                await writer.drain()
                code, body = await P.read_startup(reader)
            if code == P.CANCEL_REQUEST:
                self._cancel(body)
                return
            if code >> 16 != 3:
                raise FatalError(PROTOCOL_VIOLATION, f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                                                     "server supports 3.0")
            if len(self.sessions) >= self.settings.max_connections:
                raise FatalError("53300", "sorry, too many clients already")
            self._pid = self._pid + 1 if self._pid < 2**31 - 1 else 1_000
            session = Session(self, reader, writer, self._pid, secrets.randbits(31))
            self.sessions[session.pid] = session
            try:
                await session.run(P.startup_params(body), code & 0xFFFF)
            finally:
                self.sessions.pop(session.pid, None)
        except FatalError as e:
            with contextlib.suppress(Exception):
                writer.write(P.error_response(e))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("PostgreSQL connection failed")
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _cancel(self, body: bytes) -> None:
        if len(body) < 8:
            return
        pid, secret = struct.unpack_from("!ii", body)
        session = self.sessions.get(pid)
        if session is not None and session.secret == secret:
            session.cancel()


async def serve(http: Coroutine[Any, Any, Any], pg: PgServer | None) -> None:
    """Run the HTTP server (uvicorn's or hypercorn's ``serve()``) and the PostgreSQL listener in
    this event loop until the HTTP server stops."""
    if pg is not None:
        try:
            await pg.start()
        except OSError as e:
            where = f"{pg.settings.host}:{pg.settings.port}"
            if pg.settings.explicit:
                http.close()
                raise PgConfigError(f"cannot listen for PostgreSQL clients on {where}: {e.strerror}. "
                                    "Pick another --pg-port, or --pg-port 0 to disable it.") from None
            log.error("Not serving the PostgreSQL protocol: %s is busy (%s). Set --pg-port to another port, "
                      "or --pg-port 0 to silence this.", where, e.strerror)
            pg = None
    try:
        await http
    finally:
        if pg is not None:
            await pg.close()
