"""Server metadata and property checks: ``GET /is_valid_property/{name}``, ``/v1/metadata`` and
``/v1/metadata/id``.

A property name is valid when ksqlDB would recognise it as a ksql, Kafka Streams, consumer,
producer or admin client setting (bare, or with the ``ksql.streams.`` prefix and the Streams
client prefixes such as ``consumer.``), and it is not one the server forbids overriding
(``ksql.properties.overrides.denylist``). The shell asks before a ``SET``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ksql.engine.config import DEFAULTS, DENYLIST, Config, normalize
from rest import errors as E
from rest.errors import RestError
from rest.streaming import V1_JSON
from rest.values import dumps

SERVER_VERSION = "7.9.0"

# ksqlDB settings besides those in DEFAULTS; names under a listed prefix are recognised too
_KSQL_PROPS = {
    "ksql.persistent.prefix", "ksql.transient.prefix", "ksql.sink.window.change.log.additional.retention",
    "ksql.internal.topic.min.insync.replicas", "ksql.sink.replicas", "ksql.schema.registry.url",
    "ksql.fail.on.production.error", "ksql.timestamp.throw.on.invalid", "ksql.nested.error.set.null",
    "ksql.query.persistent.active.limit", "ksql.query.persistent.max.bytes.buffering.total",
    "ksql.query.transient.max.bytes.buffering.total", "ksql.query.error.max.queue.size",
    "ksql.query.retry.backoff.initial.ms", "ksql.query.retry.backoff.max.ms",
    "ksql.query.status.running.threshold.seconds", "ksql.query.stream.pull.query.enabled",
    "ksql.suppress.buffer.size.bytes", "ksql.rowpartition.rowoffset.enabled", "ksql.cast.strings.preserve.nulls",
    "ksql.udfs.enabled", "ksql.udf.enable.security.manager", "ksql.udf.collect.metrics", "ksql.extension.dir",
    "ksql.connect.url", "ksql.connect.worker.config", "ksql.connect.request.timeout.ms",
    "ksql.metric.reporters", "ksql.access.validator.enable", "ksql.security.extension.class",
    "ksql.shutdown.timeout.ms", "ksql.readonly.topics", "ksql.create.or.replace.enabled",
    "ksql.source.table.materialization.enabled", "ksql.shared.runtime.enabled", "ksql.shared.runtimes.count",
    "ksql.persistence.default.format.value", "ksql.persistence.wrap.single.values", "ksql.key.format.enabled",
    "ksql.properties.overrides.denylist", "ksql.lambdas.enabled", "ksql.error.classifier.regex",
    "ksql.endpoint.migrate.query", "ksql.new.query.planner.enabled", "ksql.max.push.queries",
    "ksql.healthcheck.interval.ms", "ksql.advertised.listener", "ksql.internal.listener",
    "ksql.websocket.connection.max.timeout.ms", "ksql.query.push.v2.interpreter.enabled",
    "ksql.query.push.v2.new.latest.delay.ms", "ksql.query.push.v2.alos.enabled",
    "ksql.query.push.v2.catchup.consumer.msg.window", "ksql.query.push.v2.continuation.tokens.enabled",
    "ksql.query.push.v2.max.hourly.bandwidth.megabytes", "ksql.query.push.v2.registry.installed",
    "ksql.query.cleanup.shutdown.timeout.ms", "ksql.output.topic.name.prefix", "ksql.string.case.config.toggle",
}
_KSQL_PREFIXES = ("ksql.functions.", "ksql.query.pull.", "ksql.logging.processing.", "ksql.metrics.",
                  "ksql.schema.registry.", "ksql.connect.basic.auth.", "ksql.authorization.cache.",
                  "ksql.heartbeat.", "ksql.lag.reporting.", "ksql.server.")

# Kafka Streams, consumer, producer and admin client settings
_CLIENT_PROPS = {
    # common client settings
    "bootstrap.servers", "client.id", "client.rack", "client.dns.lookup", "connections.max.idle.ms",
    "receive.buffer.bytes", "send.buffer.bytes", "request.timeout.ms", "default.api.timeout.ms",
    "metadata.max.age.ms", "metadata.max.idle.ms", "metric.reporters", "metrics.num.samples",
    "metrics.sample.window.ms", "metrics.recording.level", "reconnect.backoff.ms", "reconnect.backoff.max.ms",
    "retry.backoff.ms", "retry.backoff.max.ms", "security.protocol", "security.providers",
    "socket.connection.setup.timeout.ms", "socket.connection.setup.timeout.max.ms", "interceptor.classes",
    # consumer
    "auto.offset.reset", "enable.auto.commit", "auto.commit.interval.ms", "fetch.min.bytes", "fetch.max.bytes",
    "fetch.max.wait.ms", "group.id", "group.instance.id", "heartbeat.interval.ms", "isolation.level",
    "key.deserializer", "value.deserializer", "max.partition.fetch.bytes", "max.poll.interval.ms",
    "max.poll.records", "partition.assignment.strategy", "session.timeout.ms", "exclude.internal.topics",
    "allow.auto.create.topics", "check.crcs", "group.protocol",
    # producer
    "acks", "batch.size", "buffer.memory", "compression.type", "delivery.timeout.ms", "enable.idempotence",
    "key.serializer", "value.serializer", "linger.ms", "max.block.ms", "max.in.flight.requests.per.connection",
    "max.request.size", "partitioner.class", "retries", "transaction.timeout.ms", "transactional.id",
    # streams
    "application.id", "application.server", "acceptable.recovery.lag", "buffered.records.per.partition",
    "built.in.metrics.version", "cache.max.bytes.buffering", "statestore.cache.max.bytes", "commit.interval.ms",
    "default.deserialization.exception.handler", "default.production.exception.handler",
    "default.key.serde", "default.value.serde", "default.timestamp.extractor", "max.task.idle.ms",
    "max.warmup.replicas", "num.standby.replicas", "num.stream.threads", "poll.ms",
    "probing.rebalance.interval.ms", "processing.guarantee", "replication.factor", "rocksdb.config.setter",
    "state.cleanup.delay.ms", "state.dir", "task.timeout.ms", "topology.optimization", "upgrade.from",
    "window.size.ms", "windowstore.changelog.additional.retention.ms",
}
_CLIENT_PREFIXES = ("ssl.", "sasl.")
# Kafka Streams' prefixes for settings of one of its clients, or of its internal topics
_STREAMS_CLIENT_PREFIXES = ("main.consumer.", "restore.consumer.", "global.consumer.", "consumer.",
                            "producer.", "admin.", "topic.")


def is_known_property(name: str) -> bool:
    """Would ksqlDB recognise ``name`` as a ksql, streams, consumer or producer property?"""
    full = normalize(name)
    if full in DEFAULTS or full in _KSQL_PROPS or full.startswith(_KSQL_PREFIXES):
        return True
    bare = full.removeprefix("ksql.streams.")
    if bare.startswith("ksql."):
        return False  # an unknown ksql setting
    for prefix in _STREAMS_CLIENT_PREFIXES:
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
            break
    if full.removeprefix("ksql.streams.").startswith("topic."):
        return True  # any config of the internal topics
    return bare in _CLIENT_PROPS or bare.startswith(_CLIENT_PREFIXES)


def prohibited(config: Config, names: list[str]) -> list[str]:
    """The names the server does not let a request override (``ksql.properties.overrides.denylist``)."""
    denied = set(DENYLIST)
    extra = config.get("ksql.properties.overrides.denylist")
    if extra:
        denied |= {p.strip() for p in str(extra).split(",") if p.strip()}
    return [k for k in names if k in denied or normalize(k) in denied]


def prohibited_error(names: list[str]) -> RestError:
    return RestError(
        E.BAD_REQUEST,
        "One or more properties overrides set locally are prohibited by the KSQL server "
        f"(use UNSET to reset their default value): [{', '.join(names)}]")


def _json(obj: Any) -> Response:
    return Response(dumps(obj), media_type=V1_JSON)


async def is_valid_property_endpoint(request: Request) -> Response:
    name = request.path_params["name"]
    config: Config = request.app.state.ksql.config
    bad = prohibited(config, [name])
    if bad:
        raise prohibited_error(bad)
    if not is_known_property(name):
        raise RestError(E.BAD_REQUEST, f"Not recognizable as ksql, streams, consumer, or producer property: '{name}'")
    return _json(True)


def _cluster_id(request: Request) -> dict[str, Any]:
    state = request.app.state.ksql
    return {"scope": {"kafka-cluster": state.cluster_id, "ksql-cluster": state.config.service_id}, "id": ""}


async def metadata_endpoint(request: Request) -> Response:
    return _json({"version": SERVER_VERSION, "clusterId": _cluster_id(request)})


async def metadata_id_endpoint(request: Request) -> Response:
    return _json(_cluster_id(request))
