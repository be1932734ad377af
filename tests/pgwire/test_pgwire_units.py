"""The pieces of the pgwire listener without a server: value codecs, SQL text handling, commands,
settings, the virtual catalog."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ksql.catalog import DataSource, FormatInfo
from ksql.schema import KEY, Column, LogicalSchema
from ksql.sqltypes import BIGINT, DATE, DOUBLE, INTEGER, STRING, TIME, TIMESTAMP, array, decimal, map_of
from rest import pgwire
from rest.pgwire import types as T
from rest.pgwire.catalog import Catalog
from rest.pgwire.catalog_tables import SessionInfo
from rest.pgwire.commands import Settings, parse_command
from rest.pgwire.errors import PgError
from rest.pgwire.server import PgConfigError, pg_settings
from rest.pgwire.sqltext import KsqlTranslator, infer_params, pg_name, relations, split, tokenize


def test_public_api_is_complete() -> None:
    modules = {"server", "session", "protocol", "types", "catalog", "catalog_query", "catalog_tables", "sqltext",
               "commands", "statements", "errors"}
    assert set(pgwire.__all__) == {n for n in dir(pgwire) if not n.startswith("_") and n not in modules}


# -- values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "1.50", "-1234567.000001", "100000000", "0.0001", "-0.5", "12345678901234567890.12"])
def test_numeric_binary_round_trip(value: str) -> None:
    d = Decimal(value)
    back = T.numeric_from_binary(T.numeric_binary(d))
    assert back == d and str(back) == str(d)


@pytest.mark.parametrize("v, text", [(1.0, "1"), (0.1, "0.1"), (1e15, "1e+15"), (123456.789, "123456.789"),
                                     (1e-5, "1e-05"), (-2.5e20, "-2.5e+20"), (float("nan"), "NaN"),
                                     (float("-inf"), "-Infinity"), (0.0001, "0.0001")])
def test_float_text_like_float8out(v: float, text: str) -> None:
    assert T.float_text(v) == text


def test_ksql_column_encodings() -> None:
    ts = T.column_type(TIMESTAMP)
    assert ts.oid == T.TIMESTAMP and ts.text(1_704_103_200_250) == b"2024-01-01 10:00:00.25"
    assert ts.binary(946_684_800_001) == (1000).to_bytes(8, "big")
    assert T.column_type(DATE).text(19_723) == b"2024-01-01"
    assert T.column_type(TIME).text(45_296_005) == b"12:34:56.005"
    dec = T.column_type(decimal(10, 2))
    assert dec.oid == T.NUMERIC and dec.typmod == (10 << 16 | 2) + 4 and dec.text(Decimal("1.50")) == b"1.50"
    assert T.column_type(map_of(STRING, INTEGER)).text({"k": 1}) == b'{"k":1}'
    assert T.column_type(array(DOUBLE)).binary([1.5]) == b'\x01[1.5]'
    assert T.column_type(BIGINT).text(-5) == b"-5"


def test_parameter_decoding() -> None:
    assert T.decode_text(T.INT4, " 42 ") == 42
    assert T.decode_text(T.TIMESTAMPTZ, "2024-01-01 12:00:00+02") == dt.datetime(2024, 1, 1, 10)
    assert T.decode_text(1028, '{1,2,NULL}') == [1, 2, None]
    assert T.decode_text(1009, '{"a b","c\\"d"}') == ["a b", 'c"d']
    assert T.decode_binary(T.NUMERIC, T.numeric_binary(Decimal("-3.25"))) == Decimal("-3.25")
    assert T.decode_binary(T.TIMESTAMP, (1_000_000).to_bytes(8, "big")) == dt.datetime(2000, 1, 1, 0, 0, 1)
    with pytest.raises(PgError) as info:
        T.decode_text(T.INT4, "3000000000")
    assert info.value.code == "22003"
    with pytest.raises(PgError) as info:
        T.decode_text(T.BOOL, "maybe")
    assert info.value.code == "22P02"


# -- SQL text -----------------------------------------------------------------------------------
def test_split_keeps_semicolons_in_strings_and_dollar_quotes() -> None:
    stmts = split("SELECT ';'; SELECT $$a;b$$ ; -- c;\n/* d; */ SELECT 3;;")
    assert [[t.text for t in s] for s in stmts] == [["SELECT", "';'"], ["SELECT", "$$a;b$$"], ["SELECT", "3"]]
    with pytest.raises(PgError, match="unterminated quoted string"):
        tokenize("SELECT 'oops")


def test_relations_skip_ctes_and_functions() -> None:
    sql = ("WITH x AS (SELECT 1) SELECT * FROM x, pg_catalog.pg_class c JOIN \"Users\" u ON true, "
           "generate_series(1, 2) g WHERE c.oid IN (SELECT 1 FROM public.t)")
    assert relations(tokenize(sql)) == [["pg_catalog", "pg_class"], ["Users"], ["public", "t"]]


def _sources() -> dict[str, DataSource]:
    schema = LogicalSchema([Column("USER_ID", STRING, KEY), Column("VIEWS", BIGINT), Column("MixedCase", INTEGER),
                            Column("AT", TIMESTAMP)])
    fmt = FormatInfo("JSON")
    return {"USER_ACTIVITY": DataSource("USER_ACTIVITY", "TABLE", schema, "ua", fmt, fmt, "")}


def _column_oid(parts: list[str]) -> int | None:
    col = _sources()["USER_ACTIVITY"].schema.find(parts[-1].upper()) or _sources()[
        "USER_ACTIVITY"].schema.find(parts[-1])
    return T.column_type(col.type).oid if col is not None else None


def test_parameter_types_are_inferred_from_their_columns() -> None:
    sql = ("SELECT * FROM user_activity u WHERE u.user_id = $1 AND $2 < views AND views IN ($3, $4) "
           "AND at BETWEEN $5 AND $6 AND $7::numeric(4,1) > 0 LIMIT $8")
    assert infer_params(tokenize(sql), 9, _column_oid) == [
        T.TEXT, T.INT8, T.INT8, T.INT8, T.TIMESTAMP, T.TIMESTAMP, T.NUMERIC, T.INT8, T.TEXT]


def _resolve(ident: str) -> str:
    known = {"USER_ACTIVITY", "USER_ID", "MixedCase"}
    return ident if ident in known else (ident.upper() if ident.upper() in known else ident)


@pytest.mark.parametrize("sql, params, ksql", [
    ("SELECT * FROM user_activity WHERE user_id = $1", ["it's"],
     "SELECT * FROM user_activity WHERE user_id = 'it''s';"),
    ('SELECT "MixedCase", "user_id" FROM "public"."user_activity" WHERE views > $1', [-3],
     "SELECT `MixedCase` , `USER_ID` FROM `USER_ACTIVITY` WHERE views > (-3);"),
    ("SELECT * FROM t WHERE d = '2024-01-01'::date AND n = '1.5'::numeric AND x = (a + 1)::int8",
     None, "SELECT * FROM t WHERE d = CAST('2024-01-01' AS DATE) AND n = 1.5 AND x = CAST(( a + 1 ) AS BIGINT);"),
    ("SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3 AND e = $4", [None, True, Decimal("2.50"), b"\x01"],
     "SELECT * FROM t WHERE a = NULL AND b = TRUE AND c = 2.50 AND e = TO_BYTES('01', 'hex');"),
    ("SELECT * FROM t WHERE ts = $1 AND s = E'a\\'b'", [dt.datetime(2024, 1, 2, 3, 4, 5, 6000)],
     "SELECT * FROM t WHERE ts = '2024-01-02T03:04:05.006' AND s = 'a''b';"),
])
def test_translation_into_ksql(sql: str, params: list[Any] | None, ksql: str) -> None:
    assert KsqlTranslator(_resolve).translate(tokenize(sql), params) == ksql


def test_pg_names() -> None:
    assert pg_name("USER_ID") == "user_id" and pg_name("MixedCase") == "MixedCase" and pg_name("K2") == "k2"


# -- commands and settings ----------------------------------------------------------------------
@pytest.mark.parametrize("sql, verb, name, value, tag", [
    ("SET search_path TO public, pg_catalog", "SET", "search_path", "public, pg_catalog", "SET"),
    ("SET SESSION TIME ZONE 'Europe/Paris'", "SET", "timezone", "Europe/Paris", "SET"),
    ("SET application_name = DEFAULT", "SET", "application_name", None, "SET"),
    ("SET NAMES 'UTF8'", "SET", "client_encoding", "UTF8", "SET"),
    ("SHOW TRANSACTION ISOLATION LEVEL", "SHOW", "transaction_isolation", None, "SHOW"),
    ("RESET ALL", "RESET", None, None, "RESET"),
    ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN", None, None, "START TRANSACTION"),
    ("END", "COMMIT", None, None, "COMMIT"),
    ("DISCARD ALL", "DISCARD", "ALL", None, "DISCARD ALL"),
    ("DEALLOCATE PREPARE \"S_1\"", "DEALLOCATE", "S_1", None, "DEALLOCATE"),
    ("CLOSE ALL", "CLOSE", None, None, "CLOSE CURSOR ALL"),
])
def test_parse_commands(sql: str, verb: str, name: str | None, value: str | None, tag: str) -> None:
    cmd = parse_command(tokenize(sql))
    assert (cmd.verb, cmd.name, cmd.value, cmd.tag) == (verb, name, value, tag)


def test_settings_refuse_what_the_server_cannot_honour() -> None:
    s = Settings("bob", {"application_name": "app", "client_encoding": "utf-8"})
    assert s.get("CLIENT_ENCODING") == "UTF8" and s.get("session_authorization") == "bob"
    assert s.set("DateStyle", "iso, dmy") == "DateStyle" and s.get("datestyle") == "ISO, DMY"
    for name, value in (("DateStyle", "SQL"), ("client_encoding", "LATIN1"), ("bytea_output", "escape"),
                        ("statement_timeout", "soon")):
        with pytest.raises(PgError) as info:
            s.set(name, value)
        assert info.value.code == "22023"
    with pytest.raises(PgError, match="cannot be changed"):
        s.set("server_version", "16")
    s.set("statement_timeout", "1.5s")
    assert s.statement_timeout() == 1.5
    assert s.reset_all() == ["DateStyle"] and s.get("application_name") == "app"


def test_listener_settings() -> None:
    assert pg_settings({}, "0.0.0.0") == pgwire.PgSettings(host="0.0.0.0", port=5433)
    assert pg_settings({"ksql.pg.port": "0"}, "h") is None
    got = pg_settings({"ksql.pg.port": "6543", "ksql.pg.password": "pw", "ksql.pg.auth.method": "password",
                       "ksql.pg.host": "127.0.0.1"}, "0.0.0.0")
    assert got is not None and (got.host, got.port, got.password, got.auth_method, got.explicit) == (
        "127.0.0.1", 6543, "pw", "password", True)
    for bad in ({"ksql.pg.port": "x"}, {"ksql.pg.port": "70000"}, {"ksql.pg.auth.method": "scram"}):
        with pytest.raises(PgConfigError):
            pg_settings(bad, "h")


def test_server_flags_reach_the_settings() -> None:
    from rest import server

    args = server._parser().parse_args(["--pg-port", "0", "--pg-password", "pw"])
    props = server.settings(args, {"KSQL_KSQL_PG_HOST": "127.0.0.1"})
    assert props["ksql.pg.port"] == "0" and props["ksql.pg.password"] == "pw" and props["ksql.pg.host"] == "127.0.0.1"


# -- the catalog --------------------------------------------------------------------------------
class _Session(SessionInfo):
    user = "bob"
    database = "db"
    pid = 7
    application_name = "t"

    def __init__(self) -> None:
        self.values = {"jit": "off"}

    def setting(self, name: str) -> str | None:
        return self.values.get(name)

    def set_setting(self, name: str, value: str) -> None:
        self.values[name] = value

    def all_settings(self) -> list[tuple[str, str]]:
        return sorted(self.values.items())


def _run(sql: str, params: list[Any] | None = None) -> tuple[list[tuple[str, int]], list[tuple[Any, ...]]]:
    catalog = Catalog(lambda: _sources().values())
    stmt = catalog.prepare(sql, [])
    fields, rows = catalog.run(stmt, params or [], _Session(), [])
    return [(f.name, f.type_oid) for f in fields], rows


def test_catalog_tables_columns_and_types() -> None:
    fields, rows = _run("SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnum "
                        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
                        "WHERE c.relname OPERATOR(pg_catalog.~) '^(user_activity)$' COLLATE pg_catalog.default "
                        "ORDER BY a.attnum")
    assert fields == [("relname", T.NAME), ("attname", T.NAME), ("format_type", T.TEXT), ("attnum", T.INT2)]
    assert rows == [("user_activity", "user_id", "text", 1), ("user_activity", "views", "bigint", 2),
                    ("user_activity", "MixedCase", "integer", 3),
                    ("user_activity", "at", "timestamp without time zone", 4)]
    fields, rows = _run("SELECT table_name, column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = $1 AND ordinal_position = 1", ["public"])
    assert rows == [("user_activity", "user_id", "text")]


def test_catalog_functions_casts_and_arrays() -> None:
    fields, rows = _run("SELECT current_user, current_database(), pg_backend_pid(), version(), "
                        "'user_activity'::regclass::oid = c.oid AS same, c.oid::regclass, 23::regtype::text, "
                        "current_setting('jit'), set_config('jit', 'on', false), ARRAY[1, 2] AS a, "
                        "1 = ANY('{1,2}'::int[]) AS member FROM pg_catalog.pg_class c")
    assert [f[0] for f in fields] == ["current_user", "current_database", "pg_backend_pid", "version", "same",
                                      "oid", "text", "current_setting", "set_config", "a", "member"]
    assert rows[0][:3] == ("bob", "db", 7) and rows[0][4:9] == (1, "user_activity", "integer", "off", "on")
    assert fields[9][1] == 1007 and fields[10][1] == T.BOOL and rows[0][10] == 1
    with pytest.raises(PgError) as info:
        _run("SELECT no_such_function(1)")
    assert info.value.code == "42883"
    with pytest.raises(PgError) as info:
        _run("SELECT * FROM pg_catalog.pg_nothing")
    assert info.value.code == "42P01"
