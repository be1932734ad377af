"""Errors raised by topic backends (shared by the embedded log and the Kafka backend)."""

from __future__ import annotations

from ksql.errors import KsqlException


class TopicBackendError(KsqlException):
    """A topic operation failed."""


class TopicExistsError(TopicBackendError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"Topic '{topic}' already exists. Use it as it is, or delete it first.")
        self.topic = topic


class UnknownTopicError(TopicBackendError):
    def __init__(self, topic: str, partition: int | None = None) -> None:
        where = f"Topic '{topic}'" if partition is None else f"Partition {partition} of topic '{topic}'"
        super().__init__(f"{where} does not exist. Create the topic (or check the partition count) first.")
        self.topic = topic
        self.partition = partition


class InvalidTopicError(TopicBackendError):
    """A topic name or topic settings that Kafka would reject."""
