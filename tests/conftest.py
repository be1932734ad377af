"""Session-wide fixtures shared by all test folders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka_env import CdcEnv, LocalStack, StackStartError, cdc_from_env, external_bootstrap, external_cdc


@pytest.fixture(scope="session")
def _local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # created lazily (only when a test asks for Kafka) and shared by kafka_bootstrap and cdc_env
    stack = LocalStack(tmp_path_factory.mktemp("local-stack"))
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """"host:port" of a real Kafka broker: $KSQL_TEST_BOOTSTRAP, or one started by compose/local/up."""
    external = external_bootstrap()
    if external:
        return external
    stack: LocalStack = request.getfixturevalue("_local_stack")
    try:
        return stack.ensure()["KAFKA_BOOTSTRAP"]
    except StackStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def cdc_env(request: pytest.FixtureRequest) -> CdcEnv:
    """A broker plus PostgreSQL (wal_level=logical) and Kafka Connect with Debezium's PostgreSQL source
    and JDBC sink connectors; with $KSQL_TEST_BOOTSTRAP, only PostgreSQL and Connect are started."""
    external = external_cdc()
    if external:
        return external
    stack: LocalStack = request.getfixturevalue("_local_stack")
    try:
        return cdc_from_env(stack.ensure(cdc=True, bootstrap=external_bootstrap()))
    except StackStartError as exc:
        pytest.fail(str(exc), pytrace=False)
