"""``ksql-server``: run the REST server on the embedded log.

    ksql-server [--config FILE] [--listeners URL] [--data-dir DIR] [--bootstrap-servers HOSTS]

Settings come from (later wins): the properties file (ksqlDB property names), ``KSQL_*``
environment variables in the Confluent image convention (``KSQL_LISTENERS`` → ``listeners``,
``KSQL_KSQL_SERVICE_ID`` → ``ksql.service.id``), then the command-line flags. Topics live in
``<data-dir>/log``.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--bootstrap-servers", metavar="HOSTS", help="Kafka brokers (not available yet)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
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
    bootstrap = next((props[k] for k in _BOOTSTRAP_KEYS if props.get(k)), None)
    if bootstrap:
        raise ConfigError(
            f"Kafka backend not available yet: bootstrap servers '{bootstrap}' were configured, but this "
            "server only runs on its embedded log for now. Remove 'bootstrap.servers' (and "
            "KSQL_BOOTSTRAP_SERVERS / --bootstrap-servers) to use the embedded log under --data-dir.")
    return props


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        props = settings(args, os.environ)
        host, port = listener_address(props.get("listeners") or DEFAULT_LISTENER)
    except ConfigError as e:
        print(f"ksql-server: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")

    import uvicorn

    from ksql.engine.config import Config
    from ksql.engine.engine import KsqlEngine
    from ksql.topics.embedded import EmbeddedLog
    from rest.app import create_app

    data_dir = Path(args.data_dir or DEFAULT_DATA_DIR)
    try:
        backend = EmbeddedLog(data_dir / "log")
    except Exception as e:
        print(f"ksql-server: cannot open the embedded log in {data_dir / 'log'}: {e}", file=sys.stderr)
        return 1
    config = Config(props)
    from state.manager import StateManager

    # query state lives in RocksDB under the data dir, backed by changelog topics in the log
    state = StateManager("rocksdb", data_dir / "state")
    app = create_app(KsqlEngine(backend, config, state=state), config)
    logging.getLogger("rest").info("Listening on http://%s:%d, data in %s", host, port, data_dir.resolve())
    uvicorn.run(app, host=host, port=port, log_level=args.log_level, lifespan="on", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
