"""Engine configuration: ksqlDB property names, defaults, and how overrides are read."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "ksql.service.id": "default_",
    "ksql.streams.auto.offset.reset": "latest",
    "ksql.streams.cache.max.bytes.buffering": 10_000_000,
    "ksql.streams.commit.interval.ms": 2000,
    "ksql.streams.num.stream.threads": 4,
    "ksql.streams.processing.guarantee": "at_least_once",
    "ksql.internal.topic.replicas": 1,
    "ksql.fail.on.deserialization.error": False,
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.output.topic.name.prefix": "",
    "ksql.query.pull.table.scan.enabled": True,
    "ksql.variable.substitution.enable": True,
    "ksql.suppress.enabled": True,
    "ksql.headers.columns.enabled": True,
    "ksql.query.push.v2.enabled": False,
    "ksql.server.command.response.timeout.ms": 5000,
    "ksql.logging.processing.topic.name": "",
    "ksql.functions.collect_set.limit": 1000,
    "ksql.functions.collect_list.limit": 1000,
}

DENYLIST = {"ksql.service.id"}


class Config:
    """Layered properties: defaults < server file < per-request overrides."""

    def __init__(self, props: dict[str, Any] | None = None) -> None:
        self.props: dict[str, Any] = dict(DEFAULTS)
        for k, v in (props or {}).items():
            self.props[normalize(k)] = v

    def with_overrides(self, overrides: dict[str, Any] | None) -> Config:
        if not overrides:
            return self
        c = Config()
        c.props = dict(self.props)
        for k, v in overrides.items():
            c.props[normalize(k)] = v
        return c

    def get(self, name: str, default: Any = None) -> Any:
        return self.props.get(normalize(name), default)

    def get_int(self, name: str, default: int = 0) -> int:
        v = self.get(name, default)
        try:
            return int(v)
        except (TypeError, ValueError):
            return default

    def get_bool(self, name: str, default: bool = False) -> bool:
        v = self.get(name, default)
        if isinstance(v, str):
            return v.strip().lower() == "true"
        return bool(v)

    @property
    def service_id(self) -> str:
        return str(self.get("ksql.service.id"))

    @property
    def bootstrap_servers(self) -> str | None:
        """Kafka brokers (``bootstrap.servers`` / ``ksql.streams.bootstrap.servers``); None: embedded log."""
        v = self.get("ksql.streams.bootstrap.servers")
        return str(v).strip() or None if v is not None else None

    @property
    def processing_guarantee(self) -> str:
        """``at_least_once`` or ``exactly_once_v2`` (``exactly_once`` is taken as the latter);
        ValueError for anything else."""
        value = str(self.get("ksql.streams.processing.guarantee") or "at_least_once").strip().lower()
        guarantee = PROCESSING_GUARANTEES.get(value)
        if guarantee is None:
            raise ValueError(
                f"Invalid value '{value}' for processing.guarantee: use at_least_once or exactly_once_v2 "
                "(exactly_once is accepted as exactly_once_v2).")
        return guarantee


PROCESSING_GUARANTEES = {
    "at_least_once": "at_least_once",
    "exactly_once_v2": "exactly_once_v2",
    "exactly_once": "exactly_once_v2",  # deprecated in Kafka Streams; the same behaviour here
    "exactly_once_beta": "exactly_once_v2",
}


_STREAMS_PROPS = {
    "auto.offset.reset", "cache.max.bytes.buffering", "commit.interval.ms", "num.stream.threads",
    "processing.guarantee", "state.dir", "topology.optimization", "bootstrap.servers",
}


def normalize(name: str) -> str:
    """Streams/consumer settings may be given bare or with the ``ksql.streams.`` prefix."""
    n = name.strip()
    if n in _STREAMS_PROPS:
        return "ksql.streams." + n
    return n
