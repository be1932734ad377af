"""Real Kafka (and PostgreSQL + Kafka Connect with Debezium) for tests, through compose/local/up.

The fixtures in tests/conftest.py use this; nothing starts unless a test asks for a fixture.
Environment overrides, to point tests at services that already run:
    KSQL_TEST_BOOTSTRAP=host:port      use this broker instead of starting one
    KSQL_TEST_PG_DSN + KSQL_TEST_CONNECT_URL   use this PostgreSQL and Connect (for cdc_env)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
STACK = REPO / "compose" / "local" / "stack.py"
# generous: a cold jar cache is fetched first; each component has its own start timeout inside `up`
UP_TIMEOUT_S = 900


class StackStartError(RuntimeError):
    """`up` failed; the message holds its output (the failing component's log tail)."""


@dataclass(frozen=True)
class CdcEnv:
    bootstrap: str
    pg_dsn: str
    pg_port: int
    connect_url: str


class LocalStack:
    """One STATE_DIR for the whole test session: `ensure()` starts what is missing, `down()` stops it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.started = False
        self.failure: StackStartError | None = None

    def ensure(self, cdc: bool = False, bootstrap: str | None = None) -> dict[str, str]:
        if self.failure is not None:
            raise self.failure  # fail every later test fast instead of retrying a broken start
        cmd = [sys.executable, str(STACK), "up", "--dir", str(self.state_dir), "--watch-pid", str(os.getpid())]
        if cdc:
            cmd.append("--cdc")
        if bootstrap:
            cmd += ["--bootstrap", bootstrap]
        self.started = True
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=UP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            self.failure = StackStartError(f"compose/local/up took over {UP_TIMEOUT_S}s:\n{exc.stderr or ''}")
            raise self.failure from None
        if proc.returncode != 0:
            self.failure = StackStartError(
                f"compose/local/up {'--cdc ' if cdc else ''}failed (exit {proc.returncode}):\n{proc.stderr}"
            )
            raise self.failure
        return parse_env(proc.stdout)

    def down(self) -> None:
        if self.started:
            subprocess.run([sys.executable, str(STACK), "down", "--dir", str(self.state_dir)],
                           capture_output=True, timeout=120)
            self.started = False


def parse_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def external_bootstrap() -> str | None:
    return os.environ.get("KSQL_TEST_BOOTSTRAP") or None


def external_cdc() -> CdcEnv | None:
    dsn, url, bootstrap = (os.environ.get(k) for k in ("KSQL_TEST_PG_DSN", "KSQL_TEST_CONNECT_URL",
                                                       "KSQL_TEST_BOOTSTRAP"))
    if not (dsn and url and bootstrap):
        return None
    return CdcEnv(bootstrap=bootstrap, pg_dsn=dsn, pg_port=urlsplit(dsn).port or 5432, connect_url=url)


def cdc_from_env(env: dict[str, str]) -> CdcEnv:
    return CdcEnv(bootstrap=env["KAFKA_BOOTSTRAP"], pg_dsn=env["PG_DSN"], pg_port=int(env["PG_PORT"]),
                  connect_url=env["CONNECT_URL"])
