"""Topics: the backend interface, the embedded log and Kafka's partitioner."""

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
    "partition_for_key",
]
