"""Tests of the ksql dialect: statements, expressions, errors, rendering, and ksqlDB's own QTT
statements (every statement of a case that does not expect an error must parse)."""

from __future__ import annotations

import glob
import json
import os

import pytest
from sqlglot import exp

import ksql.dialect
from ksql import sqltypes
from ksql.dialect import (
    format_expression,
    nodes,
    parse,
    parse_expression,
    split_statements,
    substitute_variables,
)
from ksql.errors import ParseFailedException

QTT_DIR = "/work/shared/ksql-qtt/qtt"


def one(sql: str) -> nodes.Statement:
    (stmt,) = parse(sql)
    return stmt


def query(sql: str) -> nodes.Query:
    stmt = one(sql)
    assert isinstance(stmt, nodes.QueryStatement | nodes.CreateAsSelect | nodes.InsertInto)
    return stmt.query


def error(sql: str) -> str:
    with pytest.raises(ParseFailedException) as info:
        parse(sql)
    # a syntax error's details (what was expected) are kept apart from its message proper
    return info.value.message + getattr(info.value, "details", "")


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(
        this=exp.Identifier(this=name, quoted=False),
        table=exp.Identifier(this=table, quoted=False) if table else None,
    )


# -- public API ----------------------------------------------------------------------------


def test_all_is_complete() -> None:
    public = {n for n in dir(ksql.dialect) if not n.startswith("_")}
    modules = {"dialect", "expression_parser", "generator", "nodes", "parser", "tokenizer"}
    helpers = {"annotations", "exp", "Token", "TokenError", "KsqlParser", "Statement"}
    helpers |= {"ParseFailedException"}
    assert public - modules - helpers == set(ksql.dialect.__all__)


# -- DDL -------------------------------------------------------------------------------------


def test_create_stream_with_columns_and_properties() -> None:
    stmt = one(
        "create stream s (id STRING KEY, `Mixed` int, h BYTES HEADER('k'), hs ARRAY<STRUCT<KEY STRING,"
        " VALUE BYTES>> HEADERS, a addr) with (kafka_topic='t', partitions=4, x=-1.5, b=true, n=null);"
    )
    assert isinstance(stmt, nodes.CreateSource)
    assert (stmt.kind, stmt.name, stmt.source, stmt.or_replace) == ("STREAM", "S", False, False)
    assert [c.name for c in stmt.columns] == ["ID", "Mixed", "H", "HS", "A"]
    assert stmt.columns[0].key and not stmt.columns[0].primary
    assert stmt.columns[1].type == sqltypes.INTEGER
    assert stmt.columns[2].header_key == "k"
    assert stmt.columns[3].headers
    assert stmt.columns[4].type == nodes.TypeRef("ADDR")
    assert stmt.properties == {"KAFKA_TOPIC": "t", "PARTITIONS": 4, "X": -1.5, "B": True, "N": None}


def test_create_table_variants() -> None:
    stmt = one("CREATE OR REPLACE SOURCE TABLE IF NOT EXISTS t (k INT PRIMARY KEY) WITH (format='AVRO');")
    assert isinstance(stmt, nodes.CreateSource)
    assert stmt.or_replace and stmt.source and stmt.if_not_exists
    assert stmt.columns[0].key and stmt.columns[0].primary
    schemaless = one("CREATE TABLE t WITH (kafka_topic='t', format='AVRO');")
    assert isinstance(schemaless, nodes.CreateSource) and schemaless.columns == []


def test_create_as_select() -> None:
    stmt = one("CREATE TABLE out WITH (partitions=2) AS SELECT k, COUNT(*) AS c FROM s GROUP BY k;")
    assert isinstance(stmt, nodes.CreateAsSelect)
    assert (stmt.kind, stmt.name, stmt.properties) == ("TABLE", "OUT", {"PARTITIONS": 2})
    assert stmt.query.select[1].alias == "C"
    assert stmt.query.select[1].expr == exp.Anonymous(this="COUNT", expressions=[exp.Star()])


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("BOOLEAN", sqltypes.BOOLEAN),
        ("int", sqltypes.INTEGER),
        ("INTEGER", sqltypes.INTEGER),
        ("BIGINT", sqltypes.BIGINT),
        ("DOUBLE", sqltypes.DOUBLE),
        ("DECIMAL(4, 2)", sqltypes.decimal(4, 2)),
        ("STRING", sqltypes.STRING),
        ("VARCHAR", sqltypes.STRING),
        ("VARCHAR(STRING)", sqltypes.STRING),
        ("BYTES", sqltypes.BYTES),
        ("DATE", sqltypes.DATE),
        ("TIME", sqltypes.TIME),
        ("TIMESTAMP", sqltypes.TIMESTAMP),
        (
            "ARRAY<MAP<STRING, ARRAY<INT>>>",
            sqltypes.array(sqltypes.map_of(sqltypes.STRING, sqltypes.array(sqltypes.INTEGER))),
        ),
        ("STRUCT<a INT, `b c` STRING>", sqltypes.struct([("A", sqltypes.INTEGER), ("b c", sqltypes.STRING)])),
        ("STRUCT<>", sqltypes.struct([])),
        ("my_type", nodes.TypeRef("MY_TYPE")),
    ],
)
def test_types(written: str, expected: object) -> None:
    stmt = one(f"CREATE STREAM s (c {written}) WITH (kafka_topic='t');")
    assert isinstance(stmt, nodes.CreateSource)
    assert stmt.columns[0].type == expected


def test_create_type_drop_alter() -> None:
    stmt = one("CREATE TYPE IF NOT EXISTS address AS STRUCT<street STRING>;")
    assert stmt == nodes.CreateType(
        name="ADDRESS",
        type=sqltypes.struct([("STREET", sqltypes.STRING)]),
        if_not_exists=True,
        text=stmt.text,
    )
    assert one("DROP STREAM IF EXISTS s DELETE TOPIC;") == nodes.Drop(
        kind="STREAM",
        name="S",
        if_exists=True,
        delete_topic=True,
        text="DROP STREAM IF EXISTS s DELETE TOPIC;",
    )
    assert one("DROP TYPE address;") == nodes.Drop(kind="TYPE", name="ADDRESS", text="DROP TYPE address;")
    alter = one("ALTER TABLE t ADD COLUMN c INT, ADD d STRING;")
    assert isinstance(alter, nodes.AlterSource)
    assert [(c.name, c.type) for c in alter.columns] == [("C", sqltypes.INTEGER), ("D", sqltypes.STRING)]


# -- other statements ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SHOW STREAMS;", nodes.Show(what="STREAMS")),
        ("list tables extended;", nodes.Show(what="TABLES", extended=True)),
        ("SHOW ALL TOPICS;", nodes.Show(what="TOPICS", all=True)),
        ("SHOW TOPICS EXTENDED;", nodes.Show(what="TOPICS", extended=True)),
        ("SHOW QUERIES;", nodes.Show(what="QUERIES")),
        ("SHOW PROPERTIES;", nodes.Show(what="PROPERTIES")),
        ("SHOW FUNCTIONS;", nodes.Show(what="FUNCTIONS")),
        ("SHOW TYPES;", nodes.Show(what="TYPES")),
        ("SHOW VARIABLES;", nodes.Show(what="VARIABLES")),
        ("SHOW CONNECTORS;", nodes.Show(what="CONNECTORS")),
        ("DESCRIBE s;", nodes.Describe("S")),
        ("DESCRIBE s EXTENDED;", nodes.Describe("S", extended=True)),
        ("DESCRIBE STREAMS EXTENDED;", nodes.Describe(None, what="STREAMS", extended=True)),
        ("DESCRIBE TABLES;", nodes.Describe(None, what="TABLES")),
        ("DESCRIBE `TABLES`;", nodes.Describe("TABLES")),
        ("DESCRIBE FUNCTION substring;", nodes.Describe("SUBSTRING", what="FUNCTION")),
        ("EXPLAIN csas_out_0;", nodes.Explain(query_id="CSAS_OUT_0")),
        ("TERMINATE csas_out_0;", nodes.Terminate(query_id="CSAS_OUT_0")),
        ("TERMINATE ALL;", nodes.Terminate(query_id=None)),
        ("SET 'auto.offset.reset'='earliest';", nodes.SetProperty("auto.offset.reset", "earliest")),
        ("UNSET 'auto.offset.reset';", nodes.UnsetProperty("auto.offset.reset")),
        ("DEFINE topicName = '''my_topic''';", nodes.Define("topicName", "'my_topic'")),
        ("UNDEFINE topicName;", nodes.Undefine("topicName")),
        ("PRINT 'My-Topic' FROM BEGINNING INTERVAL 2 LIMIT 10;", nodes.Print("My-Topic", True, 2, 10)),
        ("PRINT myTopic SAMPLE 3;", nodes.Print("myTopic", interval=3)),
        (
            "ASSERT NOT EXISTS TOPIC t WITH (partitions=1) TIMEOUT 2 SECONDS;",
            nodes.Assert("TOPIC", "t", exists=False, properties={"PARTITIONS": 1}, timeout_ms=2000),
        ),
        ("ASSERT SCHEMA SUBJECT 's-value' ID 3;", nodes.Assert("SCHEMA", "s-value", schema_id=3)),
    ],
)
def test_simple_statements(sql: str, expected: nodes.Statement) -> None:
    expected.text = sql
    assert one(sql) == expected


def test_explain_statement_and_insert() -> None:
    stmt = one("EXPLAIN SELECT * FROM s EMIT CHANGES;")
    assert isinstance(stmt, nodes.Explain) and isinstance(stmt.statement, nodes.QueryStatement)
    assert stmt.statement.text == "SELECT * FROM s EMIT CHANGES;"
    values = one("INSERT INTO s (a, `b`) VALUES (1, -2.5);")
    assert values == nodes.InsertValues(
        target="S",
        columns=["A", "b"],
        values=[exp.Literal.number("1"), exp.Neg(this=exp.Literal.number("2.5"))],
        text=values.text,
    )
    assert isinstance(bare := one("INSERT INTO s VALUES ('x');"), nodes.InsertValues) and bare.columns is None
    insert = one("INSERT INTO s WITH (QUERY_ID='q1') SELECT * FROM t;")
    assert isinstance(insert, nodes.InsertInto) and insert.properties == {"QUERY_ID": "q1"}


# -- queries -------------------------------------------------------------------------------


def test_query_clauses() -> None:
    q = query(
        "SELECT k, t.*, v->*, a->b AS ab, x[1] FROM s t WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10"
        " SECONDS, RETENTION 7 DAYS, GRACE PERIOD 1 HOUR) WHERE a > 1 GROUP BY (k, v) HAVING COUNT(*) > 1"
        " EMIT FINAL LIMIT 3;"
    )
    assert q.from_ == nodes.SourceRef("S", "T")
    assert q.select[1] == nodes.SelectItem(None, star_qualifier="T")
    assert q.select[2] == nodes.SelectItem(col("V"), struct_all=True)
    assert q.select[3] == nodes.SelectItem(nodes.Dereference(this=col("A"), field="B"), alias="AB")
    assert q.select[4].expr == exp.Bracket(this=col("X"), expressions=[exp.Literal.number("1")])
    assert q.window == nodes.WindowSpec(
        "HOPPING", size_ms=30_000, advance_ms=10_000, grace_ms=3_600_000, retention_ms=604_800_000
    )
    assert q.group_by == [col("K"), col("V")]
    assert (q.emit, q.limit) == ("FINAL", 3)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("TUMBLING (SIZE 1 SECOND)", nodes.WindowSpec("TUMBLING", size_ms=1000)),
        (
            "TUMBLING (SIZE 2 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS)",
            nodes.WindowSpec("TUMBLING", 2, grace_ms=0),
        ),
        (
            "SESSION (5 MINUTES, RETENTION 1 DAY)",
            nodes.WindowSpec("SESSION", gap_ms=300_000, retention_ms=86_400_000),
        ),
        ("w TUMBLING (SIZE 1 HOURS)", nodes.WindowSpec("TUMBLING", size_ms=3_600_000)),
    ],
)
def test_windows(window: str, expected: nodes.WindowSpec) -> None:
    assert query(f"SELECT k, COUNT(*) FROM s WINDOW {window} GROUP BY k;").window == expected


def test_joins() -> None:
    q = query(
        "SELECT * FROM a JOIN b WITHIN 10 SECONDS ON a.id = b.id LEFT OUTER JOIN c AS cc WITHIN (1 HOUR, 2 DAYS)"
        " GRACE PERIOD 5 MINUTES ON a.id = cc.id FULL JOIN d ON a.x = d.x RIGHT JOIN e ON e.k = a.k"
        " INNER JOIN f ON f.k = a.k EMIT CHANGES;"
    )
    assert [j.kind for j in q.joins] == ["INNER", "LEFT", "FULL", "RIGHT", "INNER"]
    assert q.joins[0].within == nodes.Within(10_000, 10_000)
    assert q.joins[1].source == nodes.SourceRef("C", "CC")
    assert q.joins[1].within == nodes.Within(3_600_000, 172_800_000, grace_ms=300_000)
    assert q.joins[0].on == exp.EQ(this=col("ID", "A"), expression=col("ID", "B"))


def test_clause_words_are_not_aliases() -> None:
    assert query("SELECT a FROM s EMIT CHANGES;").from_ == nodes.SourceRef("S")
    assert query("SELECT a FROM s PARTITION BY a;").partition_by == [col("A")]
    assert query("SELECT a FROM s emit;").from_ == nodes.SourceRef("S", "EMIT")


# -- expressions ---------------------------------------------------------------------------


def test_function_calls_stay_anonymous() -> None:
    e = parse_expression("substring(a, 1, 2) + len(trim(b)) + count(*) + transform(x, v => v + 1)")
    names = [f.name for f in e.find_all(exp.Anonymous)]
    assert sorted(names) == ["COUNT", "LEN", "SUBSTRING", "TRANSFORM", "TRIM"]
    assert not list(e.find_all(exp.Substring, exp.Count, exp.Trim))


def test_lambdas_units_and_concat() -> None:
    e = parse_expression("REDUCE(m, 0, (s, k, v) => s + v)")
    assert isinstance(e, exp.Anonymous)
    assert e.expressions[2] == nodes.KsqlLambda(
        params=["S", "K", "V"], this=exp.Add(this=col("S"), expression=col("V"))
    )
    e = parse_expression("TIMESTAMPADD(MILLISECONDS, 5, ts)")
    assert e.expressions[0] == nodes.IntervalUnitExpr(this="MILLISECONDS")
    # Singular units are not reserved words: a column named SECOND stays a column.
    assert parse_expression("f(first, second)").expressions[1] == col("SECOND")
    assert parse_expression("a || 'b'") == exp.Anonymous(
        this="CONCAT", expressions=[col("A"), exp.Literal.string("b")]
    )


def test_literals_keep_their_text() -> None:
    for text in ["1", "1.50", "1E3", "1.5e-3", ".5", "007"]:
        assert parse_expression(text) == exp.Literal.number(text)
    assert parse_expression("-9223372036854775808") == exp.Neg(this=exp.Literal.number("9223372036854775808"))
    assert parse_expression("'it''s'") == exp.Literal.string("it's")
    assert parse_expression("NULL") == exp.Null()
    assert parse_expression("true") == exp.Boolean(this=True)
    assert parse_expression("DECIMAL '1.20'") == nodes.KsqlCast(
        this=exp.Literal.string("1.20"), to=sqltypes.decimal(3, 2)
    )


def test_predicates() -> None:
    e = parse_expression(
        "a NOT BETWEEN 1 AND 2 AND b NOT IN (1, 2) AND c NOT LIKE 'x!%' ESCAPE '!' AND d IS NOT NULL"
    )
    assert isinstance(e, exp.And)
    assert e.expression == exp.Not(this=exp.Is(this=col("D"), expression=exp.Null()))
    assert parse_expression("a IS DISTINCT FROM b") == exp.NullSafeNEQ(this=col("A"), expression=col("B"))
    assert parse_expression("a IS NOT DISTINCT FROM b") == exp.NullSafeEQ(this=col("A"), expression=col("B"))
    assert isinstance(parse_expression("a <> b"), exp.NEQ) and isinstance(parse_expression("a != b"), exp.NEQ)


def test_constructors_and_cast() -> None:
    assert parse_expression("ARRAY[1, 2]") == exp.Array(
        expressions=[exp.Literal.number("1"), exp.Literal.number("2")]
    )
    m = parse_expression("MAP('a' := 1)")
    assert isinstance(m, exp.VarMap) and m.args["keys"].expressions == [exp.Literal.string("a")]
    s = parse_expression("STRUCT(`f 1` := 1, g := 'x')")
    assert isinstance(s, exp.Struct) and [f.this.name for f in s.expressions] == ["f 1", "G"]
    assert parse_expression("CAST(a AS ARRAY<STRING>)") == nodes.KsqlCast(
        this=col("A"), to=sqltypes.array(sqltypes.STRING)
    )
    assert parse_expression("CASE a WHEN 1 THEN 'x' END") == exp.Case(
        this=col("A"), ifs=[exp.If(this=exp.Literal.number("1"), true=exp.Literal.string("x"))]
    )


def test_identifiers() -> None:
    assert parse_expression("`lower`") == exp.Column(this=exp.Identifier(this="lower", quoted=True))
    assert parse_expression('"Dq"').name == "Dq"
    assert parse_expression("t.`c`").table == "T"
    # Words reserved by sqlglot but not by ksql are plain names.
    for word in ["VALUE", "KEY", "TIMESTAMP", "DATE", "TIME", "FORMAT", "TYPE", "ROWTIME"]:
        assert parse_expression(word) == col(word)


def test_precedence() -> None:
    e = parse_expression("-a * b + c || d")
    assert format_expression(e) == "CONCAT(((-A * B) + C), D)"
    assert format_expression(parse_expression("NOT a = 1 OR b AND c")) == "((NOT (A = 1)) OR (B AND C))"


# -- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("a + 1", "(A + 1)"),
        ("RANDOM() + 1.5", "(RANDOM() + 1.5)"),
        ("COUNT(*)", "COUNT(*)"),
        ("x IS NOT NULL", "(X IS NOT NULL)"),
        ("a LIKE 'x' ESCAPE '!'", "(A LIKE 'x' ESCAPE '!')"),
        ("CASE WHEN a THEN 'it''s' ELSE null END", "(CASE WHEN A THEN 'it''s' ELSE null END)"),
        ("CAST(a AS DECIMAL(4,2))", "CAST(A AS DECIMAL(4, 2))"),
        ("MAP('k' := ARRAY[1])", "MAP('k':=ARRAY[1])"),
        ("s->f[0]", "S->F[0]"),
        ("t.id = 0", "(T.ID = 0)"),
        ("1E3 + .5", "(1E3 + 0.5)"),
        ("TRANSFORM(a, x => x)", "TRANSFORM(A, (X) => X)"),
        ("a IN (1, 2)", "(A IN (1, 2))"),
        ("- -1", "- -1"),
    ],
)
def test_format_expression(text: str, rendered: str) -> None:
    assert format_expression(parse_expression(text)) == rendered


def test_format_escape_round_trips() -> None:
    e = parse_expression("`lower col` + t.`x`")
    text = format_expression(e, escape=True)
    assert text == "(`lower col` + T.`x`)"
    assert parse_expression(text) == e


# -- errors --------------------------------------------------------------------------------


def test_unknown_statement() -> None:
    assert error("RUN SCRIPT 'foo';") == "line 1:1: Syntax Error\nUnknown statement 'RUN'"


def test_error_positions_count_from_start_of_text() -> None:
    msg = error(
        "CREATE STREAM a (x INT) WITH (kafka_topic='a');\nCREATE STREAM b AS SELECT cast(x as NULL) FROM a;"
    )
    assert "line 2:37: Syntax Error" in msg and "Syntax error at or near 'NULL' at line 2:37" in msg


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT f1 FROM t GROUP BY f3, (f2, f1);", "line 1:34: Syntax Error\nmissing ')' at ','"),
        ("SELECT COUNT(*) FROM t GROUP BY a AND b;", "Syntax Error"),
        (
            "CREATE STREAM i (k STRING (KEY)) WITH (kafka_topic='i');",
            "line 1:28: Syntax Error\nExpecting {'STRING', INTEGER_VALUE}",
        ),
        (
            "CREATE STREAM i (k VARCHAR(STRING) (KEY)) WITH (kafka_topic='i');",
            "line 1:36: Syntax Error\nExpecting {',', ')'}",
        ),
        ("CREATE STREAM i (c ARRAY<NULL>) WITH (kafka_topic='i');", "Syntax Error"),
        (
            "SELECT 9223372036854775808 FROM t;",
            "Failed to prepare statement: line 1:9: Invalid numeric literal: 9223372036854775808",
        ),
        ("SELECT -9223372036854775809 FROM t;", "Invalid numeric literal: -9223372036854775809"),
        ("SELECT -1.7976931348623160E308 FROM t;", "Number overflows DOUBLE: -1.7976931348623160E308"),
        ("SELECT * FROM EXPLODE(a);", "Syntax Error"),
        ("SELECT u.* FROM t x;", "'U' is not a valid stream/table name or alias."),
        (
            "SELECT * FROM a JOIN b ON unknown.k = b.k;",
            "'UNKNOWN' is not a valid stream/table name or alias.",
        ),
        ("CREATE STREAM s (size INT) WITH (kafka_topic='t');", '"size" is a reserved keyword'),
        ("CREATE STREAM `a b` (x INT) WITH (kafka_topic='x');", "Source names may only contain alphanumeric"),
        ("SELECT * FROM s", "Expecting ';'"),
        ("SELECT 'abc FROM s;", "Unterminated string literal starting at line 1:8"),
        ("SELECT ${undefined} FROM s;", "Variable '${undefined}' is not defined"),
        ("SELECT COUNT(DISTINCT x) FROM s;", "Syntax Error"),
        ("SELECT a FROM s WHERE a = b = c;", "Syntax Error"),
        ("SELECT a.b.c FROM s;", "Syntax Error"),
        ("SELECT * FROM s LIMIT 1.5;", "Value must be integer for command: LIMIT"),
        ("ASSERT VALUES foo (id INT) VALUES (123);", "Syntax error at or near 'VALUES' at line 1:8"),
    ],
)
def test_errors(sql: str, message: str) -> None:
    assert message in error(sql)


def test_error_carries_statement_text() -> None:
    with pytest.raises(ParseFailedException) as info:
        parse("SHOW STREAMS;\nSELECT bad bad bad FROM s;")
    assert info.value.statement == "SELECT bad bad bad FROM s;"
    assert info.value.unlogged_message.endswith("Statement: SELECT bad bad bad FROM s;")


# -- statement text, splitting, variables ----------------------------------------------


def test_statement_text_and_comments() -> None:
    stmts = parse("-- lead\nSHOW STREAMS; /* x; */ SELECT ';', `c;d` FROM s -- tail\n;")
    assert [s.text for s in stmts] == ["SHOW STREAMS;", "SELECT ';', `c;d` FROM s -- tail\n;"]


def test_split_statements() -> None:
    sql = "-- c\nSELECT 'a;b' FROM `x;y`; /* ; */ SELECT 2 FROM t;\n  SELECT 3"
    assert split_statements(sql) == ["SELECT 'a;b' FROM `x;y`;", "SELECT 2 FROM t;", "SELECT 3"]
    assert split_statements("  -- only a comment\n") == []


def test_substitute_variables() -> None:
    sql = "SELECT '${Foo}', ${foo}, $${foo}, ${bar} FROM s;"
    assert substitute_variables(sql, {"FOO": "v"}) == "SELECT 'v', v, ${foo}, ${bar} FROM s;"


# -- ksqlDB's own statements ---------------------------------------------------------------


def _qtt_cases() -> list[tuple[str, dict[str, object]]]:
    cases = []
    for path in sorted(glob.glob(os.path.join(QTT_DIR, "*.json"))):
        with open(path) as f:
            for case in json.load(f)["tests"]:
                cases.append((os.path.basename(path), case))
    return cases


@pytest.mark.skipif(not os.path.isdir(QTT_DIR), reason="QTT files not available")
def test_every_qtt_statement_parses() -> None:
    failures = []
    count = 0
    for file, case in _qtt_cases():
        if case.get("expectedException"):
            continue
        formats = case.get("format") or ["JSON"]
        for statement in case["statements"]:  # type: ignore[attr-defined]
            for fmt in formats:  # type: ignore[attr-defined]
                count += 1
                try:
                    parse(statement.replace("{FORMAT}", fmt))
                except ParseFailedException as e:
                    failures.append(f"{file} / {case['name']}: {statement}\n  {e.message}")
    assert count > 2000
    assert not failures, "\n".join(failures)


# Cases whose expected ParseFailedException comes from WITH-property validation, not the grammar.
_PROPERTY_VALIDATION_CASES = {"import table with invalid window size"}


@pytest.mark.skipif(not os.path.isdir(QTT_DIR), reason="QTT files not available")
def test_qtt_expected_parse_failures() -> None:
    checked = 0
    for _file, case in _qtt_cases():
        expected = case.get("expectedException") or {}
        assert isinstance(expected, dict)
        if "ParseFailed" not in expected.get("type", "") or case["name"] in _PROPERTY_VALIDATION_CASES:
            continue
        sql = "\n".join(s.replace("{FORMAT}", "JSON") for s in case["statements"])  # type: ignore[attr-defined]
        with pytest.raises(ParseFailedException) as info:
            parse(sql)
        message = expected.get("message", "")
        assert message in info.value.message or message in info.value.unlogged_message, case["name"]
        checked += 1
    assert checked >= 20
