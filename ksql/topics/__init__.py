"""Topics: the backend interface, the embedded log, the Kafka backend and Kafka's partitioner."""

from pathlib import Path as _Path

from ksql.topics.base import Record, TopicBackend, TopicInfo
from ksql.topics.embedded import EmbeddedLog
from ksql.topics.errors import InvalidTopicError, TopicBackendError, TopicExistsError, UnknownTopicError
from ksql.topics.partitioner import murmur2, partition_for_key

__all__ = [
    "EmbeddedLog",
    "InvalidTopicError",
    "Record",
    "TopicBackend",
    "TopicBackendError",
    "TopicExistsError",
    "TopicInfo",
    "UnknownTopicError",
    "murmur2",
    "open_backend",
    "partition_for_key",
]


def open_backend(bootstrap_servers: str | None, log_dir: _Path | str | None, *,
                 processing_guarantee: str = "at_least_once", client_id: str = "ksql-py") -> TopicBackend:
    """Kafka when brokers are given (``bootstrap.servers``), else the embedded log in ``log_dir``
    (in memory when None). The Kafka backend connects on first use."""
    if bootstrap_servers:
        from ksql.topics.kafka import KafkaBackend  # aiokafka is only loaded when Kafka is used

        return KafkaBackend(bootstrap_servers, processing_guarantee=processing_guarantee, client_id=client_id)
    return EmbeddedLog(log_dir)
