"""ksqlDB's test-extension functions (QTT runner only) and ``ksql-test-runner -e DIR`` extensions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ksql.functions import registry as reg
from ksql.testing import test_functions as tf
from ksql.testing.cli import main
from ksql.testing.qtt import run_case

SOURCE = ("CREATE STREAM TEST (K STRING KEY, I INT, L BIGINT, D DOUBLE, S STRING, ST STRUCT<A INT, B INT>) "
          "WITH (kafka_topic='t', value_format='JSON');")
ROWS = [
    {"topic": "t", "key": "a", "value": {"I": 1, "L": 2, "D": 1.5, "S": "abc", "ST": {"A": 1, "B": 2}}},
    {"topic": "t", "key": "a", "value": {"I": None, "L": None, "D": 2.5, "S": "de", "ST": {"A": 3, "B": 4}}},
]


def _case(statement: str, outputs: list[dict[str, Any]] | None = None,
          error: str | None = None) -> tuple[str, str]:
    case: dict[str, Any] = {"name": "t", "statements": [SOURCE, statement], "inputs": ROWS}
    if outputs is not None:
        case["outputs"] = outputs
    if error is not None:
        case["expectedException"] = {"type": "io.confluent.ksql.util.KsqlStatementException", "message": error}
    return run_case(case, None)


def _out(*values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"topic": "O", "key": "a", "value": v} for v in values]


def test_registered_only_while_a_case_runs() -> None:
    assert "TEST_UDF" not in reg.SCALAR_FUNCTIONS
    assert _case("CREATE STREAM O AS SELECT K, TEST_UDF(L, S) R FROM TEST;",
                 _out({"R": "doStuffLongString"}, {"R": None})) == ("pass", "")
    for table, name in ((reg.SCALAR_FUNCTIONS, "TEST_UDF"), (reg.AGGREGATE_FUNCTIONS, "VAR_ARG"),
                        (reg.TABLE_FUNCTIONS, "TEST_UDTF")):
        assert name not in table


def test_register_is_idempotent_and_reversible() -> None:
    tf.register_test_functions()
    tf.register_test_functions()
    try:
        assert len(reg.SCALAR_FUNCTIONS["TEST_UDF"].overloads) == 6
        with tf.test_functions():  # already registered: leaves them in place
            pass
        assert "TEST_UDF" in reg.SCALAR_FUNCTIONS
    finally:
        tf.unregister_test_functions()
    assert "TEST_UDF" not in reg.SCALAR_FUNCTIONS


def test_scalar_overloads_and_java_nulls() -> None:
    # int/long parameters are primitives in Java: a null argument fails the call (NULL result)
    assert _case("CREATE STREAM O AS SELECT K, TEST_UDF(I, S) A, TEST_UDF(L, L, L) B, TEST_UDF() C FROM TEST;",
                 _out({"A": "doStuffIntString", "B": "doStuffLongVarargs", "C": {"A": "foo"}},
                      {"A": None, "B": None, "C": {"A": "foo"}}))[0] == "pass"


def test_bad_udf_returns_null_every_other_call() -> None:
    assert _case("CREATE STREAM O AS SELECT K, BAD_UDF(S) A, TOSTRUCT(S) B FROM TEST;",
                 _out({"A": None, "B": {"A": "abc"}}, {"A": "de", "B": {"A": "de"}}))[0] == "pass"


def test_test_udaf_overloads() -> None:
    statement = ("CREATE TABLE O AS SELECT K, TEST_UDAF(D) D, TEST_UDAF(S, 'xy') S, TEST_UDAF(ST) ST, "
                 "TEST_UDAF(I) I FROM TEST GROUP BY K;")
    assert _case(statement, _out({"D": 1.5, "S": 5, "ST": {"A": 1, "B": 2}, "I": 1},
                                 {"D": 4.0, "S": 7, "ST": {"A": 4, "B": 6}, "I": 1}))[0] == "pass"


def test_variadic_init_args() -> None:
    assert _case("CREATE TABLE O AS SELECT K, MULTI_ARG(L, S, 1) A, MULTI_ARG(L, S, 1, 'xyz', 'q') B "
                 "FROM TEST GROUP BY K;", _out({"A": 6, "B": 10}, {"A": 8, "B": 12}))[0] == "pass"


def test_init_arg_of_the_wrong_type_is_a_signature_mismatch() -> None:
    status, _ = _case("CREATE TABLE O AS SELECT K, MULTI_ARG(L, S, S) A FROM TEST GROUP BY K;",
                      error="Function 'MULTI_ARG' does not accept parameters (BIGINT, STRING, STRING).")
    assert status == "pass"
    status, _ = _case("CREATE TABLE O AS SELECT K, MULTI_ARG(L, S, I) A FROM TEST GROUP BY K;",
                      error="Parameter 3 passed to function MULTI_ARG must be a literal constant")
    assert status == "pass"


def test_udtf_text_forms() -> None:
    statement = "CREATE STREAM O AS SELECT K, TEST_UDTF(I, L, D, true, S, CAST(D AS DECIMAL(4, 2)), STRUCT(A := S)) R FROM TEST;"
    expected = ["1", "2", "1.5", "true", "abc", "1.50", "Struct{A=abc}"]
    assert _case(statement, _out(*[{"R": x} for x in expected]))[0] == "pass"


EXTENSION = '''
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import STRING

register_scalar(ScalarFunction("SHOUT_EXT", "OTHER", "upper case with a bang", [
    Overload([STRING], STRING, lambda s: None if s is None else s.upper() + "!"),
]))
'''


def test_extension_dir_registers_functions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "shout.py").write_text(EXTENSION)
    (tmp_path / "s.sql").write_text(
        "CREATE STREAM S (ID INT KEY, V STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');\n"
        "CREATE STREAM O AS SELECT ID, SHOUT_EXT(V) AS V FROM S;\n")
    (tmp_path / "in.json").write_text(json.dumps({"inputs": [{"topic": "s", "key": 1, "value": {"V": "hi"}}]}))
    (tmp_path / "out.json").write_text(json.dumps({"outputs": [{"topic": "O", "key": 1, "value": {"V": "HI!"}}]}))
    try:
        assert main(["-s", str(tmp_path / "s.sql"), "-i", str(tmp_path / "in.json"),
                     "-o", str(tmp_path / "out.json"), "-e", str(ext)]) == 0
        assert ">>> Test passed!" in capsys.readouterr().out
    finally:
        reg.SCALAR_FUNCTIONS.pop("SHOUT_EXT", None)


def test_extension_dir_that_fails_to_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('nope')\n")
    assert main(["--qtt", str(tmp_path), "-e", str(tmp_path)]) == 1
    assert "nope" in capsys.readouterr().err
