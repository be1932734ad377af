"""One client connection: startup and authentication, then the simple and extended query
protocols over prepared statements and portals.

States of a connection: startup → authenticating → ready ⇄ (running a query | skipping to Sync
after an error in the extended protocol) → closed. The transaction status reported in
ReadyForQuery is ``I`` (idle), ``T`` (in BEGIN ... COMMIT) or ``E`` (failed: only COMMIT/ROLLBACK
are accepted until the block ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ksql.catalog import DataSource
from ksql.engine.transient import QueryStream
from ksql.errors import KsqlException
from ksql.schema import SYSTEM_COLUMN_NAMES
from rest.pgwire import protocol as P
from rest.pgwire import types as T
from rest.pgwire.catalog_query import CatalogStatement
from rest.pgwire.catalog_tables import SessionInfo
from rest.pgwire.commands import REPORTED, Command, Settings
from rest.pgwire.errors import (
    ACTIVE_SQL_TRANSACTION,
    ADMIN_SHUTDOWN,
    CANNOT_CONNECT_NOW,
    DUPLICATE_CURSOR,
    DUPLICATE_PREPARED_STATEMENT,
    IN_FAILED_SQL_TRANSACTION,
    INTERNAL_ERROR,
    INVALID_AUTHORIZATION,
    INVALID_CURSOR_NAME,
    INVALID_PASSWORD,
    INVALID_SQL_STATEMENT_NAME,
    NO_ACTIVE_SQL_TRANSACTION,
    PROTOCOL_VIOLATION,
    QUERY_CANCELED,
    SYNTAX_ERROR,
    FatalError,
    PgError,
    from_ksql,
    unsupported,
)
from rest.pgwire.sqltext import split, text_of
from rest.pgwire.statements import (
    Column,
    CommandStatement,
    Empty,
    Prepared,
    Result,
    parse_pull,
    plan_columns,
    prepare_statement,
)

if TYPE_CHECKING:
    from rest.pgwire.server import PgServer

log = logging.getLogger("rest.pgwire")

FLUSH_BYTES = 64 * 1024


class Portal:
    """A bound statement: parameters fixed, result formats chosen; read in one or several Executes."""

    def __init__(self, name: str, prepared: Prepared, params: list[Any], formats: list[int]) -> None:
        self.name = name
        self.prepared = prepared
        self.params = params
        self.formats = formats
        self.result: Result | None = None
        self.rows: AsyncIterator[list[Any]] | None = None
        self.done = False
        self.hold = False  # a WITH HOLD cursor outlives its transaction

    async def start(self, session: Session) -> Result:
        if self.result is None:
            self.result = await self.prepared.start(session, self.params)
            if self.result.columns is not None:
                self.rows = self.result.rows().__aiter__()
        return self.result

    def column_formats(self, n: int) -> list[int]:
        if not self.formats:
            return [0] * n
        if len(self.formats) == 1:
            return self.formats * n
        if len(self.formats) != n:
            raise PgError(PROTOCOL_VIOLATION, f"bind message has {len(self.formats)} result formats but query has "
                                              f"{n} columns")
        return self.formats

    async def close(self) -> None:
        self.done = True
        if self.result is not None:
            await self.result.close()


class Session(SessionInfo):
    def __init__(self, server: PgServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 pid: int, secret: int) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.pid = pid
        self.secret = secret
        self.user = ""
        self.database = ""
        self.application_name = ""
        self.settings = Settings("", {})
        self.statements: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.tx = b"I"
        self._skipping = False  # after an error in the extended protocol: discard until Sync
        self._out: list[bytes] = []
        self._out_size = 0
        self._running: asyncio.Task[Any] | None = None
        self._cancel_requested = False

    # -- SessionInfo, for the catalog ---------------------------------------------------------
    def setting(self, name: str) -> str | None:
        return self.settings.get(name)

    def set_setting(self, name: str, value: str) -> None:
        self._set(name, value)

    def all_settings(self) -> list[tuple[str, str]]:
        return self.settings.items()

    # -- the connection ----------------------------------------------------------------------
    async def run(self, startup: dict[str, str], minor: int) -> None:
        try:
            await self._startup(startup, minor)
            await self._loop()
        except FatalError as e:
            self._send(P.error_response(e))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._flush()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await self._close_all()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def terminate(self, reason: PgError) -> None:
        """Server shutdown: tell the client, then drop the connection."""
        self._send(P.error_response(reason))
        with contextlib.suppress(Exception):
            await self._flush()
        self.writer.close()

    def cancel(self) -> None:
        """A CancelRequest for this connection: stop the statement it is running, if any."""
        if self._running is not None and not self._running.done():
            self._cancel_requested = True
            self._running.cancel()

    async def _startup(self, params: dict[str, str], minor: int) -> None:
        self.user = params.get("user", "")
        if not self.user:
            raise FatalError(INVALID_AUTHORIZATION, "no PostgreSQL user name specified in startup packet")
        if params.get("replication", "false").lower() not in ("false", "0", "off", "no"):
            raise FatalError("0A000", "replication connections are not supported")
        self.database = params.get("database") or self.user
        self.application_name = params.get("application_name", "")
        startup = {k: v for k, v in params.items() if k not in ("user", "database")}
        try:
            self.settings = Settings(self.user, startup)
        except PgError as e:
            raise FatalError(e.code, e.message) from None
        unknown = [k for k in params if k.startswith("_pq_.")]
        if minor > 0 or unknown:
            self._send(P.negotiate_protocol_version(0, unknown))
        await self._authenticate()
        if not self.server.state.ready:
            raise FatalError(CANNOT_CONNECT_NOW, "the database system is starting up",
                             hint="The server is replaying its command topic; try again shortly.")
        self._send(P.AUTH_OK)
        for name in REPORTED:
            self._send(P.parameter_status(name, self.settings.get(name) or ""))
        self._send(P.backend_key_data(self.pid, self.secret))
        self._send(P.ready_for_query(self.tx))
        await self._flush()

    async def _authenticate(self) -> None:
        password = self.server.settings.password
        if not password:
            return
        method = self.server.settings.auth_method
        salt = os.urandom(4)
        self._send(P.auth_md5(salt) if method == "md5" else P.AUTH_CLEARTEXT)
        await self._flush()
        kind, body = await P.read_message(self.reader)
        if kind != b"p":
            raise FatalError(PROTOCOL_VIOLATION, f"expected password response, got message type {kind!r}")
        given = P.Reader(body).cstr()
        if method == "md5":
            inner = hashlib.md5((password + self.user).encode()).hexdigest()
            expected = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
        else:
            expected = password
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise FatalError(INVALID_PASSWORD, f'password authentication failed for user "{self.user}"')

    async def _loop(self) -> None:
        while True:
            kind, body = await P.read_message(self.reader)
            if kind == b"X":
                return
            if self._skipping and kind != b"S":
                if kind == b"H":
                    await self._flush()  # the error must still reach a client waiting on Flush
                continue
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise FatalError(PROTOCOL_VIOLATION, f"invalid frontend message type {kind.decode(errors='replace')}")
            try:
                await handler(self, body)
            except PgError as e:
                if isinstance(e, FatalError):
                    raise
                self._send(P.error_response(e))
                self._skipping = True
                if self.tx == b"T":
                    self.tx = b"E"
            except KsqlException as e:
                self._send(P.error_response(from_ksql(e)))
                self._skipping = True
            except Exception as e:  # a bug of ours: report it, keep the connection
                log.exception("Error serving a PostgreSQL client")
                self._send(P.error_response(_internal(e)))
                self._skipping = True
            if kind in (b"S", b"Q", b"H") or self._out_size >= FLUSH_BYTES:
                await self._flush()

    def _send(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    async def _flush(self) -> None:
        if self._out:
            self.writer.write(b"".join(self._out))
            self._out.clear()
            self._out_size = 0
        await self.writer.drain()

    async def _guard(self, work: Awaitable[Any]) -> Any:
        """Run one statement so that a CancelRequest or statement_timeout can stop it."""
        task = asyncio.ensure_future(work)
        self._running = task
        timeout = self.settings.statement_timeout()
        try:
            async with asyncio.timeout(timeout):
                return await task
        except TimeoutError:
            raise PgError(QUERY_CANCELED, "canceling statement due to statement timeout") from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._cancel_requested and task.cancelled() and not (current and current.cancelling()):
                raise PgError(QUERY_CANCELED, "canceling statement due to user request") from None
            raise
        finally:
            self._running = None
            self._cancel_requested = False

    async def _close_all(self, keep_held: bool = False) -> None:
        for name in [n for n, p in self.portals.items() if not (keep_held and p.hold)]:
            await self.portals.pop(name).close()

    # -- simple query protocol ---------------------------------------------------------------
    async def _query(self, body: bytes) -> None:
        sql = P.Reader(body).cstr()
        self._skipping = False
        try:
            statements = split(sql)
        except PgError as e:
            statements = []
            self._fail(e)
        else:
            if not statements:
                self._send(P.EMPTY_QUERY)
        for tokens in statements:
            try:
                self._check_tx(tokens[0].upper)
                prepared = prepare_statement(self, text_of(sql, tokens), tokens, [])
                if prepared.param_types:
                    raise PgError("42P02", "there is no parameter $1")
                portal = Portal("", prepared, [], [])
                try:
                    await self._guard(self._execute_portal(portal, 0, describe=True))
                finally:
                    await portal.close()
            except PgError as e:
                self._fail(e)
                break
            except KsqlException as e:
                self._fail(from_ksql(e))
                break
            except Exception as e:  # a bug of ours: report it, keep the connection
                log.exception("Error serving a PostgreSQL client")
                self._fail(_internal(e))
                break
        self._send(P.ready_for_query(self.tx))

    def _fail(self, e: PgError) -> None:
        self._send(P.error_response(e))
        if self.tx == b"T":
            self.tx = b"E"

    def _check_tx(self, verb: str) -> None:
        if self.tx == b"E" and verb not in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            raise PgError(IN_FAILED_SQL_TRANSACTION,
                          "current transaction is aborted, commands ignored until end of transaction block")

    async def _execute_portal(self, portal: Portal, max_rows: int, describe: bool = False) -> None:
        if isinstance(portal.prepared, Empty):
            self._send(P.EMPTY_QUERY)
            return
        if portal.done:
            self._send(P.command_complete("SELECT 0" if portal.rows is not None else
                                          (portal.result.tag if portal.result else "")))
            return
        result = await portal.start(self)
        if result.columns is None or portal.rows is None:
            portal.done = True
            self._send(P.command_complete(result.tag))
            return
        formats = portal.column_formats(len(result.columns))
        if describe:
            self._send(P.row_description([c.field for c in result.columns], formats))
        encoders = [c.binary if f == 1 else c.text for c, f in zip(result.columns, formats, strict=True)]
        n = 0
        async for row in _take(portal.rows, max_rows):
            self._send(P.data_row([None if v is None else enc(v) for v, enc in zip(row, encoders, strict=True)]))
            n += 1
            if self._out_size >= FLUSH_BYTES:
                await self._flush()
        if max_rows > 0 and n >= max_rows:
            self._send(P.PORTAL_SUSPENDED)
            return
        portal.done = True
        self._send(P.command_complete(f"{result.tag} {n}"))
        await portal.close()

    # -- extended query protocol -------------------------------------------------------------
    async def _parse(self, body: bytes) -> None:
        r = P.Reader(body)
        name, sql = r.cstr(), r.cstr()
        declared = [r.uint32() for _ in range(r.int16())]
        if name and name in self.statements:
            raise PgError(DUPLICATE_PREPARED_STATEMENT, f'prepared statement "{name}" already exists')
        statements = split(sql)
        if len(statements) > 1:
            raise PgError(SYNTAX_ERROR, "cannot insert multiple commands into a prepared statement")
        tokens = statements[0] if statements else []
        if tokens:
            self._check_tx(tokens[0].upper)
        prepared = prepare_statement(self, text_of(sql, tokens), tokens, declared)
        self.statements[name] = prepared
        self._send(P.PARSE_COMPLETE)

    async def _bind(self, body: bytes) -> None:
        r = P.Reader(body)
        portal_name, stmt_name = r.cstr(), r.cstr()
        param_formats = [r.int16() for _ in range(r.int16())]
        raw = []
        for _ in range(r.int16()):
            n = r.int32()
            raw.append(None if n < 0 else r.take(n))
        result_formats = [r.int16() for _ in range(r.int16())]
        prepared = self.statements.get(stmt_name)
        if prepared is None:
            raise PgError(INVALID_SQL_STATEMENT_NAME, f'prepared statement "{stmt_name}" does not exist')
        if portal_name and portal_name in self.portals:
            raise PgError(DUPLICATE_CURSOR, f'cursor "{portal_name}" already exists')
        types = prepared.param_types
        if len(raw) != len(types):
            raise PgError(PROTOCOL_VIOLATION, f"bind message supplies {len(raw)} parameters, but prepared "
                                              f'statement "{stmt_name}" requires {len(types)}')
        if len(param_formats) not in (0, 1, len(raw)):
            raise PgError(PROTOCOL_VIOLATION, f"bind message has {len(param_formats)} parameter formats but "
                                              f"{len(raw)} parameters")
        params: list[Any] = []
        for i, (data, oid) in enumerate(zip(raw, types, strict=True)):
            fmt = param_formats[0] if len(param_formats) == 1 else (param_formats[i] if param_formats else 0)
            if data is None:
                params.append(None)
            elif fmt == 1:
                params.append(T.decode_binary(oid, data))
            else:
                params.append(T.decode_text(oid, data.decode("utf-8", "replace")))
        old = self.portals.pop(portal_name, None)
        if old is not None:
            await old.close()
        self.portals[portal_name] = Portal(portal_name, prepared, params, result_formats)
        self._send(P.BIND_COMPLETE)

    async def _describe(self, body: bytes) -> None:
        r = P.Reader(body)
        what, name = r.byte(), r.cstr()
        if what == b"S":
            prepared = self.statements.get(name)
            if prepared is None:
                raise PgError(INVALID_SQL_STATEMENT_NAME, f'prepared statement "{name}" does not exist')
            self._send(P.parameter_description([t or T.TEXT for t in prepared.param_types]))
            fields = await self._guard(prepared.describe(self))
            self._send(P.row_description(fields, [0] * len(fields)) if fields is not None else P.NO_DATA)
            return
        portal = self.portals.get(name)
        if portal is None:
            raise PgError(INVALID_CURSOR_NAME, f'portal "{name}" does not exist')
        if portal.prepared.describe_by_running:
            result = await self._guard(portal.start(self))
            fields = [c.field for c in result.columns] if result.columns is not None else None
        else:
            fields = await portal.prepared.describe(self)
        if fields is None:
            self._send(P.NO_DATA)
        else:
            self._send(P.row_description(fields, portal.column_formats(len(fields))))

    async def _execute(self, body: bytes) -> None:
        r = P.Reader(body)
        name, max_rows = r.cstr(), r.int32()
        portal = self.portals.get(name)
        if portal is None:
            raise PgError(INVALID_CURSOR_NAME, f'portal "{name}" does not exist')
        if isinstance(portal.prepared, CommandStatement):
            self._check_tx(portal.prepared.command.tag.split()[0])
        else:
            self._check_tx("SELECT")
        await self._guard(self._execute_portal(portal, max_rows))

    async def _close(self, body: bytes) -> None:
        r = P.Reader(body)
        what, name = r.byte(), r.cstr()
        if what == b"S":
            self.statements.pop(name, None)
        else:
            portal = self.portals.pop(name, None)
            if portal is not None:
                await portal.close()
        self._send(P.CLOSE_COMPLETE)

    async def _sync(self, body: bytes) -> None:
        self._skipping = False
        if self.tx == b"I":
            await self._close_all(keep_held=True)  # the implicit transaction ends: its portals go with it
        self._send(P.ready_for_query(self.tx))

    async def _flush_message(self, body: bytes) -> None:
        await self._flush()

    async def _unsupported_message(self, body: bytes) -> None:
        raise unsupported("COPY and the function-call protocol are not supported")

    # -- commands -----------------------------------------------------------------------------
    async def run_command(self, cmd: Command) -> tuple[list[list[Any]] | None, str]:
        """Run a session command: its rows (SHOW) and its command tag."""
        verb = cmd.verb
        if verb == "SET":
            assert cmd.name is not None
            self._set(cmd.name, cmd.value)
        elif verb == "SHOW":
            if cmd.name is None:
                return [[n, v, ""] for n, v in self.settings.items()], cmd.tag
            value = self.settings.get(cmd.name)
            if value is None:
                raise PgError("42704", f'unrecognized configuration parameter "{cmd.name}"')
            return [[value]], cmd.tag
        elif verb == "RESET":
            if cmd.name is None:
                for name in self.settings.reset_all():
                    self._send(P.parameter_status(name, self.settings.get(name) or ""))
            else:
                self._set(cmd.name, None)
        elif verb == "BEGIN":
            if self.tx != b"I":
                self._send(P.notice_response("WARNING", ACTIVE_SQL_TRANSACTION,
                                             "there is already a transaction in progress"))
            else:
                self.tx = b"T"
        elif verb in ("COMMIT", "ROLLBACK"):
            if self.tx == b"I":
                self._send(P.notice_response("WARNING", NO_ACTIVE_SQL_TRANSACTION,
                                             "there is no transaction in progress"))
            failed = self.tx == b"E"
            self.tx = b"I"
            await self._end_transaction(keep_held=verb == "COMMIT" and not failed)
            if failed and verb == "COMMIT":
                return None, "ROLLBACK"
        elif verb == "DISCARD":
            if cmd.name == "ALL":
                if self.tx != b"I":
                    raise PgError(ACTIVE_SQL_TRANSACTION, "DISCARD ALL cannot run inside a transaction block")
                self.statements.clear()
                await self._end_transaction()
                for name in self.settings.reset_all():
                    self._send(P.parameter_status(name, self.settings.get(name) or ""))
        elif verb == "DEALLOCATE":
            if cmd.name is None:
                self.statements = {k: v for k, v in self.statements.items() if k == ""}
            elif self.statements.pop(cmd.name, None) is None:
                raise PgError(INVALID_SQL_STATEMENT_NAME, f'prepared statement "{cmd.name}" does not exist')
        elif verb == "CLOSE":
            if cmd.name is None:
                await self._end_transaction(keep_unnamed=True)
            elif cmd.name not in self.portals:
                raise PgError(INVALID_CURSOR_NAME, f'cursor "{cmd.name}" does not exist')
            else:
                await self._drop_portal(cmd.name)
        return None, cmd.tag

    def _set(self, name: str, value: str | None) -> None:
        reported = self.settings.set(name, value)
        if name.lower() == "application_name":
            self.application_name = self.settings.get(name) or ""
        if reported is not None:
            self._send(P.parameter_status(reported, self.settings.get(name) or ""))

    async def _end_transaction(self, keep_unnamed: bool = False, keep_held: bool = False) -> None:
        for name in [n for n, p in self.portals.items() if not (keep_unnamed and n == "" or keep_held and p.hold)]:
            await self._drop_portal(name)

    async def _drop_portal(self, name: str) -> None:
        portal = self.portals.pop(name, None)
        if portal is not None:
            await portal.close()

    # -- cursors ----------------------------------------------------------------------------------
    async def declare(self, name: str, query: Prepared, params: list[Any], hold: bool) -> None:
        if self.tx == b"I" and not hold:
            raise PgError(NO_ACTIVE_SQL_TRANSACTION, "DECLARE CURSOR can only be used in transaction blocks")
        if name in self.portals:
            raise PgError(DUPLICATE_CURSOR, f'cursor "{name}" already exists')
        portal = Portal(name, query, params, [])
        portal.hold = hold
        self.portals[name] = portal

    def _cursor(self, name: str) -> Portal:
        portal = self.portals.get(name)
        if portal is None or name == "":
            raise PgError(INVALID_CURSOR_NAME, f'cursor "{name}" does not exist')
        return portal

    async def cursor_columns(self, name: str) -> list[Column] | None:
        return (await self._cursor(name).start(self)).columns

    async def fetch(self, name: str, count: int | None) -> tuple[list[Column] | None, list[list[Any]]]:
        portal = self._cursor(name)
        result = await portal.start(self)
        rows: list[list[Any]] = []
        if portal.rows is not None and not portal.done:
            async for row in _take(portal.rows, count or 0):
                rows.append(row)
            if count is None or len(rows) < count:
                portal.done = True
        return result.columns, rows

    # -- what statements need from the server ---------------------------------------------------
    def find_source(self, ident: str) -> DataSource | None:
        ms = self.server.state.engine.metastore
        return ms.get_source(ident) or ms.get_source(ident.upper())

    def resolve_name(self, ident: str) -> str:
        """A quoted identifier as ksql should read it (see ``sqltext``)."""
        ms = self.server.state.engine.metastore
        if ms.get_source(ident) is not None:
            return ident
        if ms.get_source(ident.upper()) is not None:
            return ident.upper()
        names = set(SYSTEM_COLUMN_NAMES)
        for src in ms.sources.values():
            names.update(c.name for c in src.schema.columns)
        if ident in names:
            return ident
        return ident.upper() if ident.upper() in names else ident

    async def run_pull(self, text: str) -> QueryStream:
        state = self.server.state
        if not state.ready:
            raise PgError(ADMIN_SHUTDOWN, "the server is shutting down")
        stmt = parse_pull(text, state.engine.config)
        async with state.statement_lock:
            try:
                return await state.transient.start(stmt, {})
            except KsqlException as e:
                err = from_ksql(e)
                err.detail = f"ksql statement: {text}"
                raise err from None

    def plan_columns(self, text: str) -> list[Column]:
        return plan_columns(self.server.state.engine, text)

    def prepare_catalog(self, text: str, declared: list[int]) -> CatalogStatement:
        return self.server.catalog.prepare(text, declared)

    def run_catalog(self, stmt: CatalogStatement, params: list[Any]) -> tuple[list[Any], list[Any]]:
        return self.server.catalog.run(stmt, params, self, list(self.server.sessions.values()))


def _internal(e: Exception) -> PgError:
    return PgError(INTERNAL_ERROR, f"internal error: {type(e).__name__}: {e}",
                   hint="This is a bug of the server; its log has the details.")


async def _take(rows: AsyncIterator[list[Any]], limit: int) -> AsyncIterator[list[Any]]:
    n = 0
    while limit <= 0 or n < limit:
        try:
            row = await rows.__anext__()
        except StopAsyncIteration:
            return
        n += 1
        yield row


_HANDLERS: dict[bytes, Callable[[Session, bytes], Awaitable[None]]] = {
    b"Q": Session._query,
    b"P": Session._parse,
    b"B": Session._bind,
    b"D": Session._describe,
    b"E": Session._execute,
    b"C": Session._close,
    b"S": Session._sync,
    b"H": Session._flush_message,
    b"d": Session._unsupported_message,
    b"c": Session._unsupported_message,
    b"f": Session._unsupported_message,
    b"F": Session._unsupported_message,
}

