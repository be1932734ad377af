"""Server settings (properties file, environment, flags), readiness, wire values, shell helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ksql.cli import shell
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.sqltypes import BaseType, SqlType
from ksql.topics.embedded import EmbeddedLog
from rest import server
from rest.app import create_app
from rest.values import dumps, to_wire


def test_properties_file_syntax() -> None:
    text = "\n".join([
        "# comment", "! also a comment", "listeners=http://0.0.0.0:9000",
        "ksql.service.id : svc_", "ksql.streams.auto.offset.reset   earliest",
        "long.value = a\\", "    b", r"escaped\=key=x\ty",
    ])
    assert server.load_properties(text) == {
        "listeners": "http://0.0.0.0:9000", "ksql.service.id": "svc_",
        "ksql.streams.auto.offset.reset": "earliest", "long.value": "ab", "escaped=key": "x\ty",
    }


def test_environment_follows_the_confluent_image_convention() -> None:
    env = {"KSQL_LISTENERS": "http://0.0.0.0:1", "KSQL_KSQL_SERVICE_ID": "abc_", "KSQL_HOME": "/opt",
           "KSQL_KSQL_STREAMS_NUM__STANDBY___X": "1", "PATH": "/bin"}
    assert server.env_properties(env) == {"listeners": "http://0.0.0.0:1", "ksql.service.id": "abc_",
                                          "ksql.streams.num_standby-x": "1"}


def test_listener_address() -> None:
    assert server.listener_address("http://127.0.0.1:9999,http://other:1") == ("127.0.0.1", 9999)
    assert server.listener_address("http://0.0.0.0") == ("0.0.0.0", 8088)
    with pytest.raises(server.ConfigError, match="only http://"):
        server.listener_address("https://0.0.0.0:8443")


@pytest.mark.parametrize("argv, env, props", [
    (["--bootstrap-servers", "k:9092"], {}, ""),
    ([], {"KSQL_BOOTSTRAP_SERVERS": "k:9092"}, ""),
    (["--config", "{file}"], {}, "bootstrap.servers=k:9092\n"),
    (["--config", "{file}"], {}, "ksql.streams.bootstrap.servers=k:9092\n"),
])
def test_bootstrap_servers_select_kafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                        env: dict[str, str], props: str) -> None:
    file = tmp_path / "ksql-server.properties"
    file.write_text(props)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = server._parser().parse_args([a.replace("{file}", str(file)) for a in argv])
    config = Config(server.settings(args, {k: v for k, v in env.items()}))
    assert config.bootstrap_servers == "k:9092"
    assert config.processing_guarantee == "at_least_once"


@pytest.mark.parametrize("value, expected", [("exactly_once_v2", "exactly_once_v2"),
                                             ("exactly_once", "exactly_once_v2"), ("at_least_once", "at_least_once")])
def test_processing_guarantee_values(value: str, expected: str) -> None:
    args = server._parser().parse_args([])
    assert Config(server.settings(args, {"KSQL_KSQL_STREAMS_PROCESSING_GUARANTEE": value})).processing_guarantee == expected


def test_bad_processing_guarantee_is_refused_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "ksql-server.properties"
    file.write_text("ksql.streams.processing.guarantee=at_most_once\n")
    code = server.main(["--config", str(file), "--data-dir", str(tmp_path / "d")])
    assert code == 2
    assert "Invalid value 'at_most_once' for processing.guarantee" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_requests_wait_for_startup(tmp_path: Path) -> None:
    # without the lifespan having run, the command topic was never replayed
    engine = KsqlEngine(EmbeddedLog(tmp_path), Config())
    app = create_app(engine)

    async def go() -> tuple[httpx.Response, httpx.Response]:
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await c.post("/ksql", json={"ksql": "SHOW STREAMS;"}), await c.get("/chc/live")
        finally:
            await engine.close()

    r, live = asyncio.run(go())
    assert r.status_code == 503
    assert r.json() == {"@type": "generic_error", "error_code": 50302,
                        "message": "KSQL is not yet ready to serve requests."}
    assert live.status_code == 200


def _t(base: BaseType, **kw: object) -> SqlType:
    return SqlType(base, **kw)  # type: ignore[arg-type]


def test_wire_values() -> None:
    ts = int(dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC).timestamp() * 1000)
    assert to_wire(ts, _t(BaseType.TIMESTAMP)) == "2024-01-02T03:04:05.678"
    assert to_wire(19724, _t(BaseType.DATE)) == "2024-01-02"
    assert to_wire(36_660_000, _t(BaseType.TIME)) == "10:11"
    assert to_wire(36_661_500, _t(BaseType.TIME)) == "10:11:01"
    assert to_wire(b"\x01\x02", _t(BaseType.BYTES)) == "AQI="
    assert to_wire(float("nan"), _t(BaseType.DOUBLE)) == "NaN"
    struct_t = _t(BaseType.STRUCT, fields=(("D", _t(BaseType.DATE)),))
    map_t = _t(BaseType.MAP, key=_t(BaseType.INTEGER), element=struct_t)
    assert to_wire({1: {"D": 0}}, map_t) == {"1": {"D": "1970-01-01"}}
    assert dumps([Decimal("1.50"), Decimal("1E+3"), {"a": Decimal("-0.001")}]) == b'[1.50,1000,{"a":-0.001}]'


def test_statement_completion() -> None:
    assert shell.statement_complete("SHOW STREAMS;")
    assert shell.statement_complete("SHOW STREAMS; -- done\n")
    assert not shell.statement_complete("SELECT 'a;")
    assert not shell.statement_complete("SELECT 1 /* ; */")
    assert not shell.statement_complete("SHOW STREAMS")


def test_shell_reports_a_server_that_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert shell.main([f"http://127.0.0.1:{port}", "-e", "SHOW STREAMS"]) == 1
    err = capsys.readouterr().err
    assert f"Could not reach a ksql server at http://127.0.0.1:{port}" in err
    assert "ksql-server" in err
