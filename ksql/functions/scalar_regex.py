"""Regular-expression functions, with Java pattern and replacement syntax.

ksqlDB compiles patterns with ``java.util.regex``. :func:`java_pattern` rewrites the Java-only
constructs (``(?<name>``, ``\\k<name>``, ``\\Q..\\E``, POSIX ``\\p{..}`` classes, ``\\z``/``\\Z``,
``\\h``) and compiles with ``re.ASCII`` because Java's ``\\w``, ``\\d``, ``\\s``, ``\\b`` and
``(?i)`` are ASCII-only by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from ksql.errors import KsqlFunctionException
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import INTEGER, STRING, array

CATEGORY = "REGULAR EXPRESSION"

# POSIX / java.lang.Character classes: the body that goes inside [...]
_PROPERTY_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
    "javaLowerCase": "a-z",
    "javaUpperCase": "A-Z",
    "javaWhitespace": " \\t\\n\\x0b\\f\\r\\x1c-\\x1f",
}
_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = 0
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if nxt == "k" and i + 2 < n and pattern[i + 2] == "<":
                end = pattern.find(">", i + 3)
                if end > 0:
                    out.append(f"(?P={pattern[i + 3 : end]})")
                    i = end + 1
                    continue
            if nxt in "pP" and i + 2 < n:
                if pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    name = pattern[i + 3 : end] if end > 0 else ""
                    width = end + 1 - i
                else:
                    name, width = pattern[i + 2], 3
                name = name[2:] if name.startswith("Is") else name
                body = _PROPERTY_CLASSES.get(name)
                if body is not None:
                    neg = nxt == "P"
                    out.append(body if in_class and not neg else f"[{'^' if neg else ''}{body}]")
                    i += width
                    continue
                if name in ("L", "Alphabetic", "Letter") and not in_class:
                    out.append("[^\\W\\d_]" if nxt == "p" else "[\\W\\d_]")
                    i += width
                    continue
            if nxt == "z":
                out.append("\\Z")
                i += 2
                continue
            if nxt == "Z":
                out.append("(?=\\n?\\Z)")
                i += 2
                continue
            if nxt == "h":
                out.append(_HSPACE if in_class else f"[{_HSPACE}]")
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[":
                out.append("\\[")  # Java class unions are not supported; treat as literal
            elif c == "]":
                in_class -= 1
                out.append(c)
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = 1
            out.append(c)
            i += 1
            # a leading ']' (or '^]') is a literal in both dialects
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def java_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except (re.error, OverflowError) as e:
        raise KsqlFunctionException(f"Invalid regular expression pattern: {pattern}") from e


@lru_cache(maxsize=512)
def _replacement(template: str, groups: int, names: frozenset[str]) -> Callable[[re.Match[str]], str]:
    """Java ``Matcher.appendReplacement`` syntax: ``$n``, ``${name}``, ``\\x`` for a literal x."""
    parts: list[str | int] = []
    buf: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\":
            i += 1
            if i >= n:
                raise KsqlFunctionException("character to be escaped is missing")
            buf.append(template[i])
            i += 1
        elif c == "$":
            i += 1
            if i >= n:
                raise KsqlFunctionException("Illegal group reference: group index is missing")
            ref: str | int
            if template[i] == "{":
                end = template.find("}", i)
                if end < 0:
                    raise KsqlFunctionException("named capturing group is missing trailing '}'")
                ref = template[i + 1 : end]
                if ref not in names:
                    raise KsqlFunctionException(f"No group with name {{{ref}}}")
                i = end + 1
            elif template[i].isdigit() and template[i].isascii():
                num = int(template[i])
                i += 1
                # Java keeps taking digits while the group number stays valid
                while i < n and template[i].isdigit() and template[i].isascii():
                    longer = num * 10 + int(template[i])
                    if longer > groups:
                        break
                    num = longer
                    i += 1
                if num > groups:
                    raise KsqlFunctionException(f"No group {num}")
                ref = num
            else:
                raise KsqlFunctionException("Illegal group reference")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(ref)
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))

    def render(m: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)

    return render


def regexp_replace(s: str | None, pattern: str | None, new: str | None) -> str | None:
    if s is None or pattern is None or new is None:
        return None
    p = java_pattern(pattern)
    return p.sub(_replacement(new, p.groups, frozenset(p.groupindex)), s)


def regexp_extract(pattern: str | None, s: str | None, group: int | None = 0) -> str | None:
    if pattern is None or s is None or group is None:
        return None
    p = java_pattern(pattern)
    if group > p.groups or group < 0:
        return None
    m = p.search(s)
    return m.group(group) if m else None


def regexp_extract_all(pattern: str | None, s: str | None, group: int | None = 0) -> list[str | None] | None:
    if pattern is None or s is None or group is None:
        return None
    p = java_pattern(pattern)
    if group > p.groups or group < 0:
        return None
    return [m.group(group) for m in p.finditer(s)]


def java_split(p: re.Pattern[str], s: str) -> list[str]:
    """``Pattern.split(s)``: no leading empty piece for a zero-width first match, trailing
    empty pieces dropped."""
    pieces: list[str] = []
    index = 0
    for m in p.finditer(s):
        if index == 0 and m.start() == 0 and m.end() == 0:
            continue
        pieces.append(s[index : m.start()])
        index = m.end()
    if index == 0 and not pieces:
        return [s]
    pieces.append(s[index:])
    while pieces and pieces[-1] == "":
        pieces.pop()
    return pieces


def guava_split(p: re.Pattern[str], s: str) -> list[str]:
    """Guava ``Splitter.on(pattern).splitToList(s)``: keeps every empty piece."""
    out: list[str] = []
    offset: int = 0
    next_start = 0
    while offset != -1:
        start = next_start
        m = p.search(s, offset)
        if m is None:
            end, offset = len(s), -1
        else:
            end, offset = m.start(), m.end()
        if offset == next_start:
            # an empty match where the piece starts: step over it
            offset += 1
            if offset > len(s):
                offset = -1
            continue
        out.append(s[start:end])
        next_start = offset
    return out


def regexp_split(s: str | None, regexp: str | None) -> list[str] | None:
    if s is None or regexp is None:
        return None
    p = java_pattern(regexp)
    if regexp == "" or p.fullmatch(""):
        return java_split(p, s)
    return guava_split(p, s)


def _register() -> None:
    def fn(name: str, description: str, overloads: list[Overload]) -> None:
        register_scalar(ScalarFunction(name, CATEGORY, description, overloads))

    fn("REGEXP_REPLACE", "Replaces all matches of a regular expression with a new string.", [
        Overload([STRING, STRING, STRING], STRING, regexp_replace),
    ])
    fn("REGEXP_EXTRACT", "Returns the first substring (or capture group) matching a pattern.", [
        Overload([STRING, STRING], STRING, regexp_extract),
        Overload([STRING, STRING, INTEGER], STRING, regexp_extract),
    ])
    fn("REGEXP_EXTRACT_ALL", "Returns all substrings (or capture groups) matching a pattern.", [
        Overload([STRING, STRING], array(STRING), regexp_extract_all),
        Overload([STRING, STRING, INTEGER], array(STRING), regexp_extract_all),
    ])
    fn("REGEXP_SPLIT_TO_ARRAY", "Splits a string into an array on a regular expression.", [
        Overload([STRING, STRING], array(STRING), regexp_split),
    ])


_register()
