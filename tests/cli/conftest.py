"""Fixtures for the shell's tests: a real server (uvicorn in a thread, embedded log in a temporary
directory) and the shell itself in a pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest
import uvicorn
from testlib import eventually, free_port

from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.topics.embedded import EmbeddedLog
from rest.app import create_app

REPO = Path(__file__).resolve().parents[2]
# what prompt_toolkit writes around the text it draws: colours, cursor moves, modes
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|[\x07\x08]")


@dataclass
class Server:
    url: str
    app: Any
    http: httpx.Client

    def ok(self, sql: str, **extra: Any) -> list[dict[str, Any]]:
        r = self.http.post("/ksql", json={"ksql": sql, **extra})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    @property
    def active_queries(self) -> dict[str, Any]:
        return self.app.state.ksql.transient.active  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    engine = KsqlEngine(EmbeddedLog(tmp_path_factory.mktemp("cli") / "log"), Config({}))
    app = create_app(engine)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       timeout_graceful_shutdown=1))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    eventually(lambda: uv.started)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as http:
        eventually(lambda: http.get("/info").status_code == 200)
        yield Server(url, app, http)
    uv.should_exit = True
    thread.join(10)


class Terminal:
    """The shell in a pseudo-terminal; ``expect`` looks at the screen text without escape codes."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.screen = ""
        self.pos = 0

    def send(self, text: str) -> None:
        self.child.send(text)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            m = regex.search(self.screen, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on screen; after the last match:\n{self.screen[self.pos:]}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(f"shell exited before {pattern!r}:\n{self.screen[self.pos:]}") from None
            self.screen += ANSI.sub("", chunk.replace("\r", ""))

    def prompt(self) -> None:
        self.expect(r"ksql>")


class Terminals:
    """Starts shells in pseudo-terminals, with ``home`` as their home directory (history file)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.children: list[pexpect.spawn] = []
        self.env = {**os.environ, "HOME": str(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
                    "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    def __call__(self, *args: str) -> Terminal:
        child = pexpect.spawn(sys.executable, ["-m", "ksql.cli", *args], env=self.env, cwd=str(REPO),
                              dimensions=(40, 160), encoding="utf-8", timeout=10)
        self.children.append(child)
        return Terminal(child)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminals]:
    home = tmp_path / "home"
    home.mkdir()
    terminals = Terminals(home)
    yield terminals
    for child in terminals.children:
        if child.isalive():
            child.terminate(force=True)
