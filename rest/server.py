"""``ksql-server``: run the REST server, on Kafka or on the embedded log.

    ksql-server [--config FILE] [--listeners URL] [--data-dir DIR] [--bootstrap-servers HOSTS]
                [--pg-port PORT] [--pg-password PASSWORD]

Settings come from (later wins): the properties file (ksqlDB property names), ``KSQL_*``
environment variables in the Confluent image convention (``KSQL_LISTENERS`` → ``listeners``,
``KSQL_KSQL_SERVICE_ID`` → ``ksql.service.id``), then the command-line flags. With
``bootstrap.servers`` (or ``--bootstrap-servers``, ``KSQL_BOOTSTRAP_SERVERS``) topics, the command
topic and changelogs live on that Kafka cluster; without, in the embedded log in ``<data-dir>/log``.
Query state (RocksDB) is kept in ``<data-dir>/state`` either way. ``processing.guarantee``
(``ksql.streams.`` prefix optional) is ``at_least_once`` (default) or ``exactly_once_v2``. PostgreSQL clients connect on ``--pg-port`` (``ksql.pg.*`` settings: see
``rest.pgwire.server``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_LISTENER = "http://0.0.0.0:8088"
DEFAULT_DATA_DIR = "./ksql-data"
_BOOTSTRAP_KEYS = ("bootstrap.servers", "ksql.streams.bootstrap.servers")


class ConfigError(Exception):
    pass


def load_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` syntax: ``key=value``, ``key: value`` or ``key value``; ``#``/``!``
    comments; a trailing backslash continues the line; backslash escapes in keys and values."""
    props: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip() if pending else raw.strip()
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        key, value = _split_entry(line.strip())
        props[_unescape(key)] = _unescape(value)
    return props


def _split_entry(line: str) -> tuple[str, str]:
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t":
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return key, rest


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt == "u" and len(s) >= i + 6:
                try:
                    out.append(chr(int(s[i + 2:i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def env_properties(environ: Mapping[str, str]) -> dict[str, str]:
    """``KSQL_<NAME>`` variables: ``_`` → ``.``, ``__`` → ``_``, ``___`` → ``-``, lower-cased.
    Only names that map onto ``ksql.*``, ``listeners`` or ``bootstrap.servers`` are taken, so
    unrelated variables such as ``KSQL_HOME`` are left alone."""
    props: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith("KSQL_"):
            continue
        key = name[5:].lower().replace("___", "\0").replace("__", "\1").replace("_", ".")
        key = key.replace("\0", "-").replace("\1", "_")
        if key.startswith("ksql.") or key in ("listeners", *_BOOTSTRAP_KEYS):
            props[key] = value
    return props


def listener_address(listeners: str) -> tuple[str, int]:
    first = listeners.split(",")[0].strip()
    url = urlsplit(first)
    if url.scheme != "http":
        raise ConfigError(f"Unsupported listener '{first}': only http:// listeners are supported.")
    return url.hostname or "0.0.0.0", url.port or 8088


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ksql-server", description="Run the ksql REST server.")
    p.add_argument("--config", metavar="FILE", help="properties file with ksqlDB property names")
    p.add_argument("--listeners", metavar="URL", help=f"where to listen (default {DEFAULT_LISTENER})")
    p.add_argument("--data-dir", metavar="DIR", help=f"where topics and state live (default {DEFAULT_DATA_DIR})")
    p.add_argument("--bootstrap-servers", metavar="HOSTS",
                   help="Kafka brokers host:port[,...] (default: the embedded log under --data-dir)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--pg-port", metavar="PORT", type=int,
                   help="PostgreSQL wire protocol port (ksql.pg.port; default 5433, 0 disables)")
    p.add_argument("--pg-password", metavar="PASSWORD",
                   help="password PostgreSQL clients must give (ksql.pg.password; default: no password)")
    p.add_argument("--http2", action="store_true",
                   help="serve HTTP/2 (cleartext, prior knowledge) next to HTTP/1.1, as /inserts-stream needs; "
                        "runs on hypercorn (pip install 'ksql-py[http2]')")
    return p


def settings(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    if args.config:
        try:
            props.update(load_properties(Path(args.config).read_text()))
        except OSError as e:
            raise ConfigError(f"Cannot read the config file {args.config}: {e.strerror}") from None
    props.update(env_properties(environ))
    if args.listeners:
        props["listeners"] = args.listeners
    if args.bootstrap_servers:
        props["bootstrap.servers"] = args.bootstrap_servers
    if args.pg_port is not None:
        props["ksql.pg.port"] = str(args.pg_port)
    if args.pg_password:
        props["ksql.pg.password"] = args.pg_password
    from ksql.engine.config import Config

    try:
        guarantee = Config(props).processing_guarantee  # refuse a bad value before anything starts
    except ValueError as e:
        raise ConfigError(str(e)) from None
    props["ksql.streams.processing.guarantee"] = guarantee
    return props


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rest.pgwire import PgConfigError, PgServer, pg_settings, serve
    try:
        props = settings(args, os.environ)
        host, port = listener_address(props.get("listeners") or DEFAULT_LISTENER)
        pg = pg_settings(props, host)
    except (ConfigError, PgConfigError) as e:
        print(f"ksql-server: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    from rest import http2

    if args.http2 and not http2.available():
        print(f"ksql-server: {http2.INSTALL_HINT}", file=sys.stderr)
        return 2

    import uvicorn

    from ksql.engine.config import Config
    from ksql.engine.engine import KsqlEngine
    from ksql.topics import open_backend
    from rest.app import create_app

    data_dir = Path(args.data_dir or DEFAULT_DATA_DIR)
    config = Config(props)
    bootstrap = config.bootstrap_servers
    try:
        backend = open_backend(bootstrap, data_dir / "log", processing_guarantee=config.processing_guarantee,
                               client_id=f"ksql-{config.service_id}")
    except Exception as e:
        print(f"ksql-server: cannot open the embedded log in {data_dir / 'log'}: {e}", file=sys.stderr)
        return 1
    from state.manager import StateManager

    # query state lives in RocksDB under the data dir, backed by changelog topics (Kafka or the log)
    state = StateManager("rocksdb", data_dir / "state")
    app = create_app(KsqlEngine(backend, config, state=state), config)
    logging.getLogger("rest").info("Listening on http://%s:%d%s, data in %s%s", host, port,
                                   " (HTTP/1.1 and HTTP/2)" if args.http2 else "", data_dir.resolve(),
                                   f", topics on Kafka at {bootstrap} ({config.processing_guarantee})"
                                   if bootstrap else "")
    pg_server = PgServer(app.state.ksql, pg) if pg is not None else None
    if args.http2:
        http = http2.serve(app, host, port, log_level=args.log_level)
    else:
        http = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=args.log_level, lifespan="on",
                                             timeout_graceful_shutdown=5)).serve()
    try:
        asyncio.run(serve(http, pg_server))
    except PgConfigError as e:
        print(f"ksql-server: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
