"""Backends under test: the embedded log and KafkaBackend on the session broker (``kafka_bootstrap``,
from tests/conftest.py). Each Kafka backend gets its own topic/group prefix, so tests sharing the
broker never see each other's topics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka_testlib import BackendFactory, BrokerControl, kafka_factory

from ksql.topics.embedded import EmbeddedLog

BACKENDS = ["embedded", "kafka-alos", "kafka-eos"]


@pytest.fixture(params=BACKENDS)
def make_backend(request: pytest.FixtureRequest) -> BackendFactory:
    """Call inside the event loop that uses the backend (aiokafka binds to it)."""
    if request.param == "embedded":
        return lambda: EmbeddedLog(None)
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    guarantee = "exactly_once_v2" if request.param == "kafka-eos" else "at_least_once"
    return kafka_factory(bootstrap, guarantee)


@pytest.fixture(scope="session")
def broker_control(request: pytest.FixtureRequest, kafka_bootstrap: str) -> BrokerControl:
    if os.environ.get("KSQL_TEST_BOOTSTRAP"):
        pytest.skip("the broker is external (KSQL_TEST_BOOTSTRAP): this test cannot restart it")
    stack = request.getfixturevalue("_local_stack")
    return BrokerControl(Path(stack.state_dir))
