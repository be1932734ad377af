"""String, regex, bytes, math, NULL, JSON and URL scalar functions, checked against ksqlDB's QTT
files and documentation examples."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import ksql.functions.scalar_json  # noqa: F401  (registers the functions)
import ksql.functions.scalar_math  # noqa: F401
import ksql.functions.scalar_regex  # noqa: F401
import ksql.functions.scalar_string  # noqa: F401
import ksql.functions.scalar_url  # noqa: F401
from ksql.errors import KsqlException
from ksql.functions.registry import SCALAR_FUNCTIONS, match_overload, resolve_return
from ksql.sqltypes import (
    BIGINT,
    BOOLEAN,
    BYTES,
    DATE,
    DOUBLE,
    INTEGER,
    NULL,
    STRING,
    TIME,
    TIMESTAMP,
    SqlType,
    array,
    decimal,
    map_of,
    struct,
)


def resolve(name: str, arg_types: list[SqlType]) -> tuple[Callable[..., Any], SqlType]:
    """Pick the cheapest overload as the expression compiler does: (impl, return type)."""
    best = None
    for ov in SCALAR_FUNCTIONS[name].overloads:
        m = match_overload(ov.params, ov.variadic, arg_types)
        if m is not None and (best is None or m[0] < best[0]):
            best = (m[0], ov, m[1])
    if best is None:
        raise KsqlException(f"Function '{name}' does not accept parameters {arg_types}")
    _, ov, env = best
    ret = resolve_return(ov.returns, env, arg_types)
    return ov.make_impl(arg_types, ret), ret


def call(name: str, arg_types: list[SqlType], *values: Any) -> Any:
    return resolve(name, arg_types)[0](*values)


def safe(name: str, arg_types: list[SqlType], *values: Any) -> Any:
    """As the engine runs a UDF: a failure yields NULL."""
    try:
        return call(name, arg_types, *values)
    except Exception:
        return None


def b64(text: str) -> bytes:
    return base64.b64decode(text)


S, INT, L, D, B = STRING, INTEGER, BIGINT, DOUBLE, BYTES

# --------------------------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------------------------


def test_len() -> None:
    assert call("LEN", [S], "ABC") == 3
    assert call("LEN", [B], b"abc") == 3
    assert call("LEN", [S], None) is None


def test_case_trim_substring() -> None:
    assert call("LCASE", [S], "MiXeD") == "mixed"
    assert call("UCASE", [S], "MiXeD") == "MIXED"
    assert call("TRIM", [S], " \t with white space \t") == "with white space"
    assert call("TRIM", [S], "\u00a0x\u00a0") == "\u00a0x\u00a0"  # Java trims only <= U+0020
    assert call("SUBSTRING", [S, INT, INT], " \t with white space \t", 2, 5) == "\t wit"
    assert call("SUBSTRING", [S, INT, INT], "s", 2, 5) == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("some_string", 6), "string"),
        (("another", 6), "er"),
        (("short", 6), ""),
        (("some_string", 6, 3), "str"),
        (("short", 6, 3), ""),
        (("stream", 1, 4), "stre"),
        (("stream", -3), "eam"),
        (("stream", -10, 3), "str"),
        (("stream", 0, 2), "st"),
        (("stream", 2, -1), ""),
        (("some_string", None), None),
        ((None, 1), None),
        (("some_string", 6, None), None),
    ],
)
def test_substring(args: tuple[Any, ...], expected: Any) -> None:
    assert call("SUBSTRING", [S, INT, INT][: len(args)], *args) == expected


def test_substring_bytes() -> None:
    assert call("SUBSTRING", [B, INT], b64("c29tZV9zdHJpbmc="), 6) == b64("c3RyaW5n")
    assert call("SUBSTRING", [B, INT, INT], b64("c29tZV9zdHJpbmc="), 6, 3) == b64("c3Ry")
    assert call("SUBSTRING", [B, INT, INT], b64("c2hvcnQ="), 6, 3) == b""
    assert call("SUBSTRING", [B, INT], None, 6) is None


def test_concat() -> None:
    assert call("CONCAT", [S, S, S], "prefix-", "s1", "-postfix") == "prefix-s1-postfix"
    assert call("CONCAT", [S, NULL, S], "a", None, "b") == "ab"
    assert call("CONCAT", [B, NULL, B], b64("eWVz"), None, b64("bm8=")) == b64("eWVzbm8=")
    assert call("CONCAT", [S, S], "'", "foo'") == "'foo'"


def test_concat_ws() -> None:
    types = [S, S, S, S, NULL, S]
    assert call("CONCAT_WS", types, "SEP", "foo", "bar", "baz", None, "literal") == "fooSEPbarSEPbazSEPliteral"
    assert call("CONCAT_WS", types, "SEP", "foo", None, "baz", None, "literal") == "fooSEPbazSEPliteral"
    assert call("CONCAT_WS", types, "SEP", None, None, None, None, "literal") == "literal"
    assert call("CONCAT_WS", types, None, "foo", "bar", "baz", None, "literal") is None
    bt = [B, B, B, NULL, B]
    assert call("CONCAT_WS", bt, b"a", b"b", b"yes", None, b"no") == b64("YmF5ZXNhbm8=")
    assert call("CONCAT_WS", bt, b"a", b"b", b"", None, b"no") == b64("YmFhbm8=")
    assert call("CONCAT_WS", bt, b"a", None, None, None, None) == b""
    assert safe("CONCAT_WS", [S], "x") is None


def test_initcap() -> None:
    assert call("INITCAP", [S], "some_string") == "Some_string"
    assert call("INITCAP", [S], "the   Quick br0wn fOx") == "The   Quick Br0wn Fox"
    assert call("INITCAP", [S], None) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("corporate floor", "or"), 2),
        (("should I stay or should I go", "or"), 15),
        (("short", "or"), 3),
        (("no substring", "or"), 0),
        (("corporate floor", "or", 4), 5),
        (("short", "or", 4), 0),
        (("corporate floor", "or", 4, 2), 14),
        (("corporate floor", "or", -4), 5),
        (("corporate floor", "or", -4, 2), 2),
        (("short", "or", -4), 0),
        (("CORPORATE FLOOR", "OR", 3), 5),
        (("CORPORATE FLOOR", "OR", -3, 2), 2),
        (("CORPORATE FLOOR", "MISSING"), 0),
        ((None, "or"), 0),
    ],
)
def test_instr(args: tuple[Any, ...], expected: int) -> None:
    assert call("INSTR", [S, S, INT, INT][: len(args)], *args) == expected


def test_replace() -> None:
    assert call("REPLACE", [S, S, S], "anaconda", "a", "o") == "onocondo"
    assert call("REPLACE", [S, NULL, S], "anaconda", None, "o") is None
    assert call("REPLACE", [S, S, NULL], "anaconda", "a", None) is None
    assert call("REPLACE", [S, S, S], None, "a", "o") is None
    msg = '{"messageID": "x","text": "{\\"widget\\": 10}"}'
    out = call("REPLACE", [S, S, S], msg, '"text": "{', '"text": {')
    out = call("REPLACE", [S, S, S], out, '\\"', '"')
    assert call("REPLACE", [S, S, S], out, '"}', "}") == '{"messageID": "x","text": {"widget": 10}}'


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("LPAD", ("foo", 7, "Bar"), "BarBfoo"),
        ("LPAD", ("foo", 5, "Bar"), "Bafoo"),
        ("LPAD", ("foo", 2, "Bar"), "fo"),
        ("LPAD", ("foo", -1, "Bar"), None),
        ("LPAD", ("foo", 5, None), None),
        ("LPAD", ("foo", None, "Bar"), None),
        ("LPAD", (None, -5, "Bar"), None),
        ("LPAD", ("foo", 7, ""), None),
        ("LPAD", ("", 7, "Bar"), "BarBarB"),
        ("LPAD", ("123", 5, "0"), "00123"),
        ("RPAD", ("foo", 7, "Bar"), "fooBarB"),
        ("RPAD", ("foo", 5, "Bar"), "fooBa"),
        ("RPAD", ("foo", 2, "Bar"), "fo"),
        ("RPAD", ("", 7, "Bar"), "BarBarB"),
        ("RPAD", ("foo", 7, ""), None),
    ],
)
def test_pad_strings(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, [S, INT, S], *args) == expected


@pytest.mark.parametrize(
    ("length", "lpad", "rpad"),
    [
        (8, "bm9ub255ZXM=", "eWVzbm9ub24="),
        (5, "bm95ZXM=", "eWVzbm8="),
        (3, "eWVz", "eWVz"),
        (2, "eWU=", "eWU="),
        (0, "", ""),
        (-1, None, None),
    ],
)
def test_pad_bytes(length: int, lpad: str | None, rpad: str | None) -> None:
    expected_l = None if lpad is None else b64(lpad)
    expected_r = None if rpad is None else b64(rpad)
    assert call("LPAD", [B, INT, B], b"yes", length, b"no") == expected_l
    assert call("RPAD", [B, INT, B], b"yes", length, b"no") == expected_r
    assert call("LPAD", [B, INT, B], b"yes", 3, b"") is None


def test_chr() -> None:
    assert call("CHR", [INT], 75) == "K"
    assert call("CHR", [INT], 22909) == "\u597d"
    assert call("CHR", [INT], 99000) == "\U000182b8"
    assert call("CHR", [INT], -1) is None
    assert call("CHR", [INT], None) is None
    assert call("CHR", [S], "\\u004b") == "K"
    assert call("CHR", [S], "\\u597d") == "\u597d"
    assert call("CHR", [S], "\\ud820\\udeb8") == "\U000182b8"
    for bad in ("75", "004b", "bogus", "", None):
        assert call("CHR", [S], bad) is None


def test_elt_and_field() -> None:
    assert call("ELT", [INT, S, S], 2, "ignored", "something") == "something"
    assert call("ELT", [INT, S, S], 2, "ignored", None) is None
    assert call("ELT", [INT, S, S], 3, "a", "b") is None
    assert call("ELT", [INT, S, S], 0, "a", "b") is None
    assert call("FIELD", [S, S, S], "hello", "hello", "world") == 1
    assert call("FIELD", [S, S, S], "hello", None, "world") == 0
    assert call("FIELD", [S, S, S], "hello", "world", "hello") == 2
    assert call("FIELD", [S, S, S], None, "a", None) == 0


@pytest.mark.parametrize(
    ("text", "delim", "expected"),
    [
        ("a.b.c", ".", ["a", "b", "c"]),
        (".abc.", ".", ["", "abc", ""]),
        ("..a..", ".", ["", "", "a", "", ""]),
        ("abc", ".", ["abc"]),
        ("", ".", [""]),
        ("a.b.c", "", ["a", ".", "b", ".", "c"]),
        ("", "", [""]),
        (",A,", ",", ["", "A", ""]),
    ],
)
def test_split(text: str, delim: str, expected: list[str]) -> None:
    assert call("SPLIT", [S, S], text, delim) == expected
    as_bytes = [x.encode() for x in expected]
    assert call("SPLIT", [B, B], text.encode(), delim.encode()) == as_bytes


def test_split_to_map() -> None:
    fn = ["SPLIT_TO_MAP", [S, S, S]]
    assert call(*fn, "apple:=green/cherry:=red", "/", ":=") == {"apple": "green", "cherry": "red"}
    assert call(*fn, "a=1;a=2;;b;c=", ";", "=") == {"a": "2", "c": ""}
    assert call(*fn, "a=1", "", "=") is None
    assert call(*fn, "a=1", "=", "=") is None
    assert call(*fn, None, ";", "=") is None


def test_masks() -> None:
    assert call("MASK", [S], "My Test $123") == "Xx-Xxxx--nnn"
    assert call("MASK", [S, S, NULL, S, NULL], "My Test $123", "*", None, "1", None) == "*y *est $111"
    assert call("MASK_KEEP_LEFT", [S, INT], "My Test $123", 4) == "My Txxx--nnn"
    assert call("MASK_KEEP_RIGHT", [S, INT], "My Test $123", 4) == "Xx-Xxxx-$123"
    assert call("MASK_LEFT", [S, INT], "My Test $123", 4) == "Xx-Xest $123"
    assert call("MASK_RIGHT", [S, INT], "My Test $123", 4) == "My Test -nnn"
    assert call("MASK_LEFT", [S, INT], "ab", 10) == "xx"
    assert call("MASK", [S], None) is None
    assert safe("MASK_LEFT", [S, INT], "abc", -1) is None
    assert safe("MASK", [S, S, S, S, S], "abc", "**", "x", "n", "-") is None


def test_uuid() -> None:
    value = call("UUID", [])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value)
    assert call("UUID", [B], bytes(range(16))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert call("UUID", [B], b"short") is None


# --------------------------------------------------------------------------------------------
# Regular expressions
# --------------------------------------------------------------------------------------------


def test_regexp_extract() -> None:
    fn = ["REGEXP_EXTRACT", [S, S]]
    assert call(*fn, "test.", "some_test_string") == "test_"
    assert call(*fn, "test.", "anothertest") is None
    assert call(*fn, "test.", None) is None
    grp = ["REGEXP_EXTRACT", [S, S, INT]]
    assert call(*grp, "(.*) (.*)", "steven zhang", 2) == "zhang"
    assert call(*grp, "(.*) (.*)", "agavra", 2) is None
    assert call(*grp, "(.*) (.*)", "a b", 3) is None
    assert call(*grp, "(?<first>\\w+) (\\w+)", "hello there", 1) == "hello"


def test_regexp_extract_all() -> None:
    assert call("REGEXP_EXTRACT_ALL", [S, S], "test.", "some_test_string_testabab") == ["test_", "testa"]
    assert call("REGEXP_EXTRACT_ALL", [S, S], "test.", "nothing") == []
    assert call("REGEXP_EXTRACT_ALL", [S, S], "test.", None) is None
    grp = ["REGEXP_EXTRACT_ALL", [S, S, INT]]
    assert call(*grp, "(\\w+) (\\w*)", "steven zhang andy coates", 2) == ["zhang", "coates"]
    assert call(*grp, "(\\w+) (\\w*)", "apurva mehta agavra ", 2) == ["mehta", ""]
    assert call(*grp, "(\\w+) (\\w*)", "agavra", 2) == []


def test_regexp_replace() -> None:
    fn = ["REGEXP_REPLACE", [S, S, S]]
    assert call(*fn, "baababaa", "(ab)+", "cat") == "bacataa"
    assert call(*fn, "baabbabaa", "(ab)+", "cat") == "bacatbcataa"
    assert call(*fn, None, "(ab)+", "cat") is None
    assert call(*fn, "baababaa", None, "cat") is None
    assert call(*fn, "john smith", "(\\w+) (\\w+)", "$2, $1") == "smith, john"
    assert call(*fn, "a.b", "\\.", "\\$") == "a$b"
    assert call(*fn, "abc", "x*", "-") == "-a-b-c-"
    assert safe("REGEXP_REPLACE", [S, S, S], "abc", "(", "x") is None
    assert safe("REGEXP_REPLACE", [S, S, S], "abc", "b", "$2") is None


def test_regexp_split() -> None:
    fn = ["REGEXP_SPLIT_TO_ARRAY", [S, S]]
    assert call(*fn, "aabcda", "(ab|cd)") == ["a", "", "a"]
    assert call(*fn, "aabdcda", "(ab|cd)") == ["a", "d", "a"]
    assert call(*fn, "zxy", "(ab|cd)") == ["zxy"]
    assert call(*fn, None, "(ab|cd)") is None
    assert call(*fn, "zxy", None) is None
    assert call(*fn, "abc", "") == ["a", "b", "c"]
    # java.util.regex also finds the empty match right after "1" and "22"
    assert call(*fn, "a1b22c", "\\d*") == ["a", "", "b", "", "c"]
    assert call(*fn, ",a,", ",") == ["", "a", ""]


def test_java_regex_constructs() -> None:
    fn = ["REGEXP_EXTRACT", [S, S]]
    assert call(*fn, "\\p{Upper}+", "abcDEF") == "DEF"
    assert call(*fn, "[\\p{Digit}x]+", "ab1x2c") == "1x2"
    assert call(*fn, "\\Q.*\\E", "a.*b") == ".*"
    assert call(*fn, "(?<w>a)\\k<w>", "xaay") == "aa"
    assert call(*fn, "\\w+", "\u00e9t\u00e9 ok") == "t"  # Java's \w is ASCII-only


# --------------------------------------------------------------------------------------------
# Encodings and bytes
# --------------------------------------------------------------------------------------------

_HEX_CASES = [
    ("4578616d706C6521", "Example!", "Example!", "RXhhbXBsZSE="),
    ("ce95cebbcebbceacceb4ceb1", "\ufffd" * 12, "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1", "zpXOu867zqzOtM6x"),
    ("c39c6265726d656e736368", "\ufffd\ufffdbermensch", "\u00dcbermensch", "w5xiZXJtZW5zY2g="),
    ("0x4578616d706C6521", "Example!", "Example!", "RXhhbXBsZSE="),
    ("X'4578616d706C6521'", "Example!", "Example!", "RXhhbXBsZSE="),
    ("x'4578616d706C6521'", "Example!", "Example!", "RXhhbXBsZSE="),
    ("0x", "", "", ""),
    ("X''", "", "", ""),
    ("0x0x", None, None, None),
    ("X'", None, None, None),
    ("x'4578616d706C6521", None, None, None),
    ("x'578616d706C6521'", None, None, None),
    ("0x578616d706C6521", "\u0005xample!", "\u0005xample!", "BXhhbXBsZSE="),
    ("578616d706C6521", None, None, None),
]


@pytest.mark.parametrize(("text", "ascii", "utf8", "b64_text"), _HEX_CASES)
def test_encode_from_hex(text: str, ascii: str | None, utf8: str | None, b64_text: str | None) -> None:
    assert safe("ENCODE", [S, S, S], text, "hex", "ascii") == ascii
    assert safe("ENCODE", [S, S, S], text, "hex", "utf8") == utf8
    assert safe("ENCODE", [S, S, S], text, "hex", "base64") == b64_text


def test_encode_other_directions() -> None:
    enc = ["ENCODE", [S, S, S]]
    greek = "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1"
    assert call(*enc, "Example!", "ascii", "hex") == "4578616d706c6521"
    assert call(*enc, greek, "ascii", "utf8") == "??????"
    assert call(*enc, greek, "ascii", "base64") == "Pz8/Pz8/"
    assert call(*enc, "zpXOu867zqzOtM6x", "base64", "hex") == "ce95cebbcebbceacceb4ceb1"
    assert call(*enc, "zpXOu867zqzOtM6x", "base64", "utf8") == greek
    assert call(*enc, "zpXOu867zqzOtM6x", "base64", "ascii") == "\ufffd" * 12
    assert call(*enc, greek, "utf8", "hex") == "ce95cebbcebbceacceb4ceb1"
    assert call(*enc, None, "hex", "utf8") is None
    assert safe("ENCODE", [S, S, S], "RXhhbXBsZSE=", "base64", "null") is None


def test_to_and_from_bytes() -> None:
    assert call("FROM_BYTES", [B, S], b"!", "ascii") == "!"
    assert call("TO_BYTES", [S, S], "!", "utf8") == b"!"
    assert call("FROM_BYTES", [B, S], b"!", "base64") == "IQ=="
    assert call("TO_BYTES", [S, S], "IQ==", "BASE64") == b"!"
    assert call("FROM_BYTES", [B, S], b"\x01\xab", "hex") == "01AB"
    assert call("TO_BYTES", [S, S], "01ab", "hex") == b"\x01\xab"
    assert call("TO_BYTES", [S, S], ".", "utf8") == b"."
    assert safe("TO_BYTES", [S, S], "abc", "hex") is None
    assert safe("TO_BYTES", [S, S], "abc", "ebcdic") is None
    assert call("FROM_BYTES", [B, S], None, "hex") is None


def test_numbers_from_bytes() -> None:
    assert call("INT_FROM_BYTES", [B], b64("AAAH5Q==")) == 2021
    assert call("BIGINT_FROM_BYTES", [B], b64("AAAAASoF8gA=")) == 5000000000
    assert call("DOUBLE_FROM_BYTES", [B], b64("QICm/ZvJ9YI=")) == 532.8738323
    assert call("INT_FROM_BYTES", [B, S], b64("5QcAAA=="), "LITTLE_ENDIAN") == 2021
    assert call("BIGINT_FROM_BYTES", [B, S], b64("APIFKgEAAAA="), "LITTLE_ENDIAN") == 5000000000
    assert call("DOUBLE_FROM_BYTES", [B, S], b64("gvXJm/2mgEA="), "little_endian") == 532.8738323
    assert safe("INT_FROM_BYTES", [B], b"\x00\x01") is None
    assert safe("INT_FROM_BYTES", [B, S], b"\x00\x00\x00\x01", "MIDDLE") is None
    assert call("INT_FROM_BYTES", [B], None) is None


# --------------------------------------------------------------------------------------------
# Maths
# --------------------------------------------------------------------------------------------


def test_exp_and_logs() -> None:
    for t in (INT, L, D):
        assert call("EXP", [t], -1) == 0.36787944117144233
        assert call("EXP", [t], None) is None
        assert call("LOG", [t], 13) == 2.5649493574615367
        assert math.isnan(call("LOG", [t], -13))
        assert call("LOG", [t], 0) == -math.inf
        assert call("LOG", [t, t], 15, 13) == 0.9471572411831843
        assert call("LOG", [t, t], 15, 1) == 0.0
        assert call("LOG", [t, t], 15, 0) == -math.inf
        for base, value in ((15, -13), (-15, 13), (0, 13), (1, 13)):
            assert math.isnan(call("LOG", [t, t], base, value))
    assert call("LN", [D], math.e) == 1.0
    assert call("EXP", [D], 1000.0) == math.inf


def test_power_and_roots() -> None:
    for t in (INT, L, D):
        assert call("POWER", [t, t], 15, -1) == 0.06666666666666667
        assert call("POWER", [t, t], 0, 0) == 1.0
        assert call("POWER", [t, t], 15, 13) == 1946195068359375.0
        assert call("POWER", [t, t], -15, 2) == 225.0
        assert call("POWER", [t, t], None, 2) is None
        assert call("CBRT", [t], -8) == -2.0
    assert call("CBRT", [L], 3) == 1.4422495703074083
    assert call("POWER", [D, D], 0.0, -1.0) == math.inf
    assert math.isnan(call("POWER", [D, D], -8.0, 1.0 / 3))
    assert call("POWER", [D, D], 10.0, 400.0) == math.inf
    assert call("SQRT", [INT], 16) == 4.0
    assert math.isnan(call("SQRT", [D], -1.0))


def test_trig() -> None:
    def r13(x: float) -> float:
        return call("ROUND", [D, INT], x, 13)

    assert r13(call("ACOS", [INT], -1)) == 3.1415926535898
    assert r13(call("ACOS", [D], 0.43)) == 1.1263035498591
    assert math.isnan(call("ASIN", [INT], 2))
    assert r13(call("ATAN", [L], -6)) == -1.4056476493803
    assert r13(call("COS", [D], -9.1)) == -0.9477216021311
    assert r13(call("SIN", [INT], 7)) == 0.6569865987188
    assert call("COT", [INT], 0) == math.inf
    assert call("ROUND", [D, INT], call("COSH", [D], 9.1), 13) == 4477.646407574158
    assert r13(call("SINH", [INT], -6)) == -201.7131573702792
    assert r13(call("TANH", [D], 0.43)) == 0.4053213086895
    assert call("ROUND", [D, INT], call("DEGREES", [D], 1.2345), 12) == 70.7316398089
    assert r13(call("RADIANS", [INT], 114)) == 1.9896753472735
    assert call("ATAN2", [D, D], 1.0, 0.0) == math.pi / 2
    assert call("PI", []) == math.pi
    assert 0.0 <= call("RANDOM", []) < 1.0
    assert call("SINH", [D], 1000.0) == math.inf


def test_abs_ceil_floor_sign() -> None:
    assert call("ABS", [INT], -1) == 1
    assert call("ABS", [INT], -(2**31)) == -(2**31)
    assert call("ABS", [D], -3.1) == 3.1
    impl, ret = resolve("ABS", [decimal(2, 1)])
    assert ret == decimal(2, 1) and impl(Decimal("-3.2")) == Decimal("3.2")
    assert call("FLOOR", [D], -1.1) == -2.0 and call("FLOOR", [INT], -1) == -1
    assert call("CEIL", [D], 1.1) == 2.0 and call("CEIL", [D], -0.5) == -0.0
    impl, ret = resolve("FLOOR", [decimal(2, 1)])
    assert ret == decimal(2, 1) and str(impl(Decimal("-1.5"))) == "-2.0"
    impl, ret = resolve("CEIL", [decimal(2, 1)])
    assert str(impl(Decimal("1.1"))) == "2.0"
    assert [call("SIGN", [D], x) for x in (-2.5, 0.0, 3.0)] == [-1, 0, 1]
    assert call("SIGN", [L], None) is None


@pytest.mark.parametrize(
    ("v", "r0", "r1", "r2", "r_1", "r_2"),
    [
        (1.2, 1, 1.2, 1.2, 0.0, 0.0),
        (1.5, 2, 1.5, 1.5, 0.0, 0.0),
        (1.234567, 1, 1.2, 1.23, 0.0, 0.0),
        (111.0, 111, 111.0, 111.0, 110.0, 100.0),
        (-1.5, -1, -1.5, -1.5, 0.0, 0.0),
        (-1.7, -2, -1.7, -1.7, 0.0, 0.0),
        (12345.678, 12346, 12345.7, 12345.68, 12350.0, 12300.0),
        (-12345.678, -12346, -12345.7, -12345.68, -12350.0, -12300.0),
    ],
)
def test_round_double(v: float, r0: int, r1: float, r2: float, r_1: float, r_2: float) -> None:
    impl, ret = resolve("ROUND", [D])
    assert ret == BIGINT and impl(v) == r0
    assert call("ROUND", [D, INT], v, 0) == float(r0)
    assert call("ROUND", [D, INT], v, 1) == r1
    assert call("ROUND", [D, INT], v, 2) == r2
    assert call("ROUND", [D, INT], v, 10) == v
    assert call("ROUND", [D, INT], v, -1) == r_1
    assert call("ROUND", [D, INT], v, -2) == r_2


def test_round_decimal_types() -> None:
    t = decimal(33, 16)
    v = Decimal("12345678987654321.2345678987654321")
    impl, ret = resolve("ROUND", [t])
    assert ret == decimal(17, 0) and impl(v) == Decimal("12345678987654321")
    impl, ret = resolve("ROUND", [t, INT])
    assert ret == t
    assert str(impl(v, 0)) == "12345678987654321.0000000000000000"
    assert str(impl(v, 2)) == "12345678987654321.2300000000000000"
    assert str(impl(v, 10)) == "12345678987654321.2345678988000000"
    assert str(impl(v, -1)) == "12345678987654320.0000000000000000"
    assert str(impl(v, -2)) == "12345678987654300.0000000000000000"
    impl, _ = resolve("ROUND", [decimal(3, 1)])
    assert impl(Decimal("-1.5")) == Decimal("-1") and impl(Decimal("1.5")) == Decimal("2")
    assert call("ROUND", [INT], 5) == 5


def test_trunc() -> None:
    assert call("TRUNC", [D], -1.7) == -1
    assert call("TRUNC", [D, INT], 12345.678, 2) == 12345.67
    assert call("TRUNC", [D, INT], -12345.678, -1) == -12340.0
    impl, ret = resolve("TRUNC", [decimal(12, 7)])
    assert ret == decimal(5, 0) and impl(Decimal("-1.7000000")) == Decimal("-1")
    impl, ret = resolve("TRUNC", [decimal(12, 7), INT])
    assert ret == decimal(12, 7) and str(impl(Decimal("12345.6780000"), 1)) == "12345.6000000"
    assert call("TRUNC", [L], 2147483648) == 2147483648


def test_greatest_least() -> None:
    impl, ret = resolve("GREATEST", [L, L, L, NULL])
    assert ret == BIGINT and impl(2**63 - 1, -(2**63), None, None) == 2**63 - 1
    impl, ret = resolve("LEAST", [INT, INT, INT, NULL, INT])
    assert ret == INTEGER and impl(2**31 - 1, -(2**31), None, None, 5) == -(2**31)
    impl, ret = resolve("GREATEST", [decimal(9, 2), decimal(7, 6)])
    assert ret == decimal(13, 6) and str(impl(Decimal("1234567.89"), Decimal("0.123456"))) == "1234567.890000"
    impl, ret = resolve("GREATEST", [INT, L, decimal(30, 18), D, NULL])
    assert ret == DOUBLE and impl(-1.0, 1e12, 99999.99999, None, None) == 1e12
    assert call("LEAST", [DATE, DATE, DATE], 19071, None, -5883) == -5883
    assert call("GREATEST", [TIME, TIME], 33359999, 23361230) == 33359999
    assert call("GREATEST", [TIMESTAMP, TIMESTAMP], None, None) is None
    assert call("GREATEST", [S, S], "apple", "banana") == "banana"
    with pytest.raises(KsqlException):
        resolve("GREATEST", [S, INT])
    with pytest.raises(KsqlException):
        resolve("LEAST", [])


def test_geo_distance() -> None:
    four = [D, D, D, D]
    assert call("GEO_DISTANCE", four, 37.4439, -122.1663, 51.5257, -0.1122) == 8634.659796579544
    assert call("GEO_DISTANCE", [*four, S], 37.4439, -122.1663, 51.5257, -0.1122, "MI") == pytest.approx(
        5365.659729188262
    )
    assert call("GEO_DISTANCE", [*four, S], -33.9323, 18.4197, -33.8666, 151.1, "KM") == pytest.approx(
        11005.23304055582
    )
    assert call("GEO_DISTANCE", [D, D, INT, INT], 37.4439, -122.1663, 51, 0) == pytest.approx(8682.459061368269)
    assert safe("GEO_DISTANCE", [*four, S], 0.0, 0.0, 0.0, 0.0, "parsecs") is None
    assert safe("GEO_DISTANCE", four, 91.0, 0.0, 0.0, 0.0) is None
    with pytest.raises(KsqlException):
        resolve("GEO_DISTANCE", [D, D, S, INT])


# --------------------------------------------------------------------------------------------
# NULL handling
# --------------------------------------------------------------------------------------------


def test_null_functions() -> None:
    assert call("COALESCE", [INT, INT, INT, INT], None, 2, None, 2) == 2
    assert call("COALESCE", [S, S], None, "x") == "x"
    assert call("COALESCE", [array(INT), array(INT)], None, [10, 20]) == [10, 20]
    assert call("COALESCE", [INT], None) is None
    with pytest.raises(KsqlException):
        resolve("COALESCE", [])
    impl, ret = resolve("IFNULL", [INT, INT])
    assert ret == INTEGER and impl(None, 10) == 10 and impl(1, 10) == 1
    assert call("NULLIF", [INT, INT], 10, 10) is None
    assert call("NULLIF", [S, S], "X", "x") == "X"
    assert call("NULLIF", [array(INT), array(INT)], [1, 2, 3], [1, 2, 3]) is None
    assert call("NULLIF", [S, S], None, "x") is None


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def test_extractjsonfield() -> None:
    fn = ["EXTRACTJSONFIELD", [S, S]]
    doc = '{"name": "cdc", "version": "1", "@type": "UDF"}'
    assert call(*fn, doc, "$.name") == "cdc"
    assert call(*fn, doc, "$.@type") == "UDF"
    assert call(*fn, '{"name": "cdd", "version": "2"}}', "$.version") == "2"  # trailing text ignored
    assert call(*fn, '{"name":"fred","value":1}', "$.value") == "1"
    nested = '{"log": {"cloud": "gcp", "instance": 4, "tags": [1.50, {"a": true}]}}'
    assert call(*fn, nested, "$.log.cloud") == "gcp"
    assert call(*fn, nested, "$.log.tags[0]") == "1.50"
    assert call(*fn, nested, "$.log.tags[1]") == '{"a":true}'
    assert call(*fn, nested, "$['log']['instance']") == "4"
    assert call(*fn, nested, "$.log.missing") is None
    assert call(*fn, nested, "$.log.tags[5]") is None
    assert call(*fn, None, "$.a") is None
    assert safe("EXTRACTJSONFIELD", [S, S], "{not json", "$.a") is None


def test_json_array_functions() -> None:
    contains = ["JSON_ARRAY_CONTAINS", [S, S]]
    assert call(*contains, '["Pink", "Yellow", "Pink"]', "Pink") is True
    assert call(*contains, '["Red", "Green"]', "Pink") is False
    assert call(*contains, "not json", "Pink") is False
    assert call("JSON_ARRAY_CONTAINS", [S, INT], "[1, 2, 3]", 3) is True
    assert call("JSON_ARRAY_CONTAINS", [S, INT], "[1.0, [3]]", 3) is False
    assert call("JSON_ARRAY_CONTAINS", [S, D], "[1.5]", 1.5) is True
    assert call("JSON_ARRAY_CONTAINS", [S, BOOLEAN], "[false]", False) is True
    assert call("JSON_ARRAY_CONTAINS", [S, NULL], "[1, null]", None) is True
    length = ["JSON_ARRAY_LENGTH", [S]]
    assert call(*length, '[1, [1, [2]], 3]') == 3
    assert call(*length, "[]") == 0
    assert call(*length, "{}") is None
    assert call(*length, "") is None
    assert safe("JSON_ARRAY_LENGTH", [S], "abc") is None
    items = ["JSON_ITEMS", [S]]
    assert call(*items, '[{"type": "A", "timestamp": "2022-01-27"}, 2]') == [
        '{"type":"A","timestamp":"2022-01-27"}',
        "2",
    ]
    assert call(*items, "[]") == []


def test_json_object_functions() -> None:
    doc = '{"a": "abc", "b": { "c": "a" }, "d": 1}'
    assert call("JSON_KEYS", [S], doc) == ["a", "b", "d"]
    assert call("JSON_KEYS", [S], "{}") == []
    assert call("JSON_KEYS", [S], "[]") is None
    assert call("JSON_KEYS", [S], "") is None
    assert call("JSON_RECORDS", [S], doc) == {"a": '"abc"', "b": '{"c":"a"}', "d": "1"}
    assert call("JSON_RECORDS", [S], "123") is None
    for text, ok in (("[1, 2, 3]", True), ("{}", True), ("1", True), ('"abc"', True), ("null", True),
                     ("", False), ("abc", False), (None, False)):
        assert call("IS_JSON_STRING", [S], text) is ok


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (['{"a": 1}', '{"b": 2}'], '{"a":1,"b":2}'),
        (["{}", "{}"], "{}"),
        (['{"a": {"5": 6}}', '{"a": {"3": 4}}'], '{"a":{"3":4}}'),
        (["[1, 2]", "[3, 4]"], "[1,2,3,4]"),
        (["null", "null"], "[null,null]"),
        (["[1, 2]", '{"a": 1}'], '[1,2,{"a":1}]'),
        (["[]", "[]"], "[]"),
        (["[1, [2]]", "[[[3]], [[[4]]]]"], "[1,[2],[[3]],[[[4]]]]"),
        (["1", ""], None),
        (["", ""], None),
        ([None, None], None),
        (['{"a": 1}', '{"b": 2}', '{"c": 3}'], '{"a":1,"b":2,"c":3}'),
        (["[1, 2]", '{"a": 1}', "4"], '[1,2,{"a":1},4]'),
        (["1", "", "2"], None),
        (["[1.50]", "2e3"], "[1.50,2000]"),
    ],
)
def test_json_concat(inputs: list[str | None], expected: str | None) -> None:
    assert call("JSON_CONCAT", [S] * len(inputs), *inputs) == expected


@pytest.mark.parametrize(
    ("t", "value", "expected"),
    [
        (INTEGER, 1, "1"),
        (INTEGER, None, "null"),
        (STRING, "abc", '"abc"'),
        (BOOLEAN, True, "true"),
        (BIGINT, 123, "123"),
        (decimal(6, 3), Decimal("123.456"), "123.456"),
        (DOUBLE, 15.3, "15.3"),
        (DOUBLE, 1e10, "1.0E10"),
        (BYTES, b"!", '"IQ=="'),
        (TIME, 60220000, '"16:43:40"'),
        (TIME, 48300123, '"13:25"'),
        (DATE, 1000, '"1972-09-27"'),
        (TIMESTAMP, 60220000000, '"1971-11-28T23:46:40.000"'),
        (array(INTEGER), [1, 2, 3], "[1,2,3]"),
        (map_of(STRING, INTEGER), {"id": 1}, '{"id":1}'),
        (map_of(STRING, INTEGER), {"d": 4, "c": 2}, '{"c":2,"d":4}'),
        (map_of(STRING, array(INTEGER)), {"id": [1, 2, 3]}, '{"id":[1,2,3]}'),
        (struct([("NAME", STRING), ("ID", INTEGER)]), {"NAME": "A", "ID": 1}, '{"ID":1,"NAME":"A"}'),
        (
            array(struct([("JSON_KEY", INTEGER), ("JSON_VALUE", map_of(STRING, INTEGER))])),
            [{"JSON_KEY": 1, "JSON_VALUE": {"c": 2, "d": 3}}],
            '[{"JSON_KEY":1,"JSON_VALUE":{"c":2,"d":3}}]',
        ),
        (STRING, 'a"\\\n\x01', '"a\\"\\\\\\n\\u0001"'),
        (NULL, None, "null"),
    ],
)
def test_to_json_string(t: SqlType, value: Any, expected: str) -> None:
    assert call("TO_JSON_STRING", [t], value) == expected


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def test_url_params() -> None:
    assert call("URL_DECODE_PARAM", [S], "%3Ffoo+%24bar") == "?foo $bar"
    assert call("URL_DECODE_PARAM", [S], "hello%26world") == "hello&world"
    assert call("URL_DECODE_PARAM", [S], "url%20encoded") == "url encoded"
    assert safe("URL_DECODE_PARAM", [S], "bad%zz") is None
    assert call("URL_ENCODE_PARAM", [S], "url encoded") == "url+encoded"
    assert call("URL_ENCODE_PARAM", [S], "a&b=c~*-_.") == "a%26b%3Dc%7E*-_."
    assert call("URL_ENCODE_PARAM", [S], "\u00fc") == "%C3%BC"


def test_url_extractors() -> None:
    def ex(name: str, url: str | None) -> Any:
        return safe(f"URL_EXTRACT_{name}", [S], url)

    assert ex("FRAGMENT", "http://www.test.com/?query#fragment") == "fragment"
    assert ex("FRAGMENT", "http://www.nofragment.com") is None
    assert ex("FRAGMENT", "http://test.com#frag%20space") == "frag space"
    assert ex("HOST", "http://www.test.com/?query#fragment") == "www.test.com"
    assert ex("HOST", "http://test@confluent.io:8080") == "confluent.io"
    assert ex("HOST", "http://my_host.com/x") is None  # registry-based authority
    assert ex("PATH", "http://www.test.com?query#fragment") == ""
    assert ex("PATH", "http://www.test.com/path?query") == "/path"
    assert ex("PATH", "http://test@confluent.io:8080/nested/path?query&jobs") == "/nested/path"
    assert ex("PATH", "http://test.com/a%20b") == "/a b"
    assert ex("PORT", "http://test@confluent.io") is None
    assert ex("PORT", "http://test@confluent.io:8080/nested/path?query&jobs") == 8080
    assert ex("PROTOCOL", "https://test@confluent.io:8080/nested/path?query&jobs") == "https"
    assert ex("PROTOCOL", "www.confluent.io") is None
    assert ex("QUERY", "http://www.test.com?query#fragment") == "query"
    assert ex("QUERY", "http://www.test.com/path?q1&q2") == "q1&q2"
    assert ex("QUERY", "http://test@confluent.io:8080/path") is None
    assert ex("QUERY", "http://test.com?a=foo%20bar&b=baz") == "a=foo bar&b=baz"
    assert ex("HOST", "http://bad host.com/") is None  # invalid URI
    assert ex("PATH", "http://x.com/%zz") is None
    assert ex("HOST", None) is None


def test_url_extract_parameter() -> None:
    fn = ["URL_EXTRACT_PARAMETER", [S, S]]
    url = "http://www.test.com/?one=a&two=b&three"
    assert call(*fn, url, "one") == "a"
    assert call(*fn, url, "two") == "b"
    assert call(*fn, url, "three") == ""
    assert call(*fn, url, "four") is None
    assert call(*fn, "http://test.com?a%20b=c%20d", "a b") == "c d"
    decoded = call("URL_DECODE_PARAM", [S], call(*fn, "http://www.test.com/?one=a&two=url%20encoded", "two"))
    assert decoded == "url encoded"


def test_categories() -> None:
    assert SCALAR_FUNCTIONS["LEN"].category == "STRING"
    assert SCALAR_FUNCTIONS["ROUND"].category == "MATHEMATICAL"
    assert SCALAR_FUNCTIONS["JSON_KEYS"].category == "JSON"
    assert SCALAR_FUNCTIONS["URL_EXTRACT_HOST"].category == "URL"
    assert SCALAR_FUNCTIONS["COALESCE"].category == "CONDITIONAL"
    assert SCALAR_FUNCTIONS["REGEXP_REPLACE"].category == "REGULAR EXPRESSION"
