"""How the shell prints things, matching ksqlDB's CLI character for character where it matters.

- ``entity_text``: a ``/ksql`` response entity as ksqlDB's console draws it (listing tables,
  DESCRIBE and EXPLAIN pages, command status messages), keyed by the entity's ``@type``;
- ``TabularRows``: query results as boxed fixed-width cells, one row at a time, for streaming;
- ``jackson_json``: the JSON output format (Jackson's default pretty printer);
- ``java_str``: cell values as the Java CLI prints the objects it decoded from JSON
  (``[a, b]`` for arrays, ``{k=v}`` for maps and structs, ``null``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

Entity = dict[str, Any]

MIN_CELL_WIDTH = 5
CLIPPED = "..."


# -- values ----------------------------------------------------------------------------------------
def java_str(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, list):
        return "[" + ", ".join(java_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={java_str(x)}" for k, x in v.items()) + "}"
    return str(v)


def loads(text: str | bytes) -> Any:
    """JSON with decimals kept as written (``1.50`` stays ``1.50``), as the CLI shows them."""
    return json.loads(text, parse_float=Decimal)


def jackson_json(obj: Any, level: int = 0) -> str:
    """Jackson's default pretty printer: objects one field per line with ``"k" : v`` and two-space
    indents, arrays inline as ``[ a, b ]`` (objects inside them still break lines)."""
    if isinstance(obj, dict):
        if not obj:
            return "{ }"
        pad = "  " * (level + 1)
        fields = [f"{pad}{_json_scalar(str(k))} : {jackson_json(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(fields) + "\n" + "  " * level + "}"
    if isinstance(obj, list):
        if not obj:
            return "[ ]"
        return "[ " + ", ".join(jackson_json(x, level) for x in obj) + " ]"
    return _json_scalar(obj)


def _json_scalar(v: Any) -> str:
    if isinstance(v, Decimal):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


# -- entity tables ---------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int,
          header_lines: Sequence[str] = (), footer_lines: Sequence[str] = ()) -> str:
    """Columns padded to their widest cell (multi-line cells count their longest line), every
    line framed by a space on each side; the dash rule is capped at the terminal width."""
    rows = [list(r) for r in rows]
    out = list(header_lines)
    if headers:
        widths = [max([len(h)] + [_longest_line(r[i]) for r in rows]) for i, h in enumerate(headers)]
        rule = "-" * min(width, sum(w + 3 for w in widths) - 1)

        def line(cells: Sequence[str]) -> str:
            return " " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " "

        out += [line(headers), rule, *(line(r) for r in rows), rule]
    out += footer_lines
    return "\n".join(out)


def _longest_line(s: str) -> int:
    return max((len(x) for x in s.split("\n")), default=0)


def _field_row(label: str, value: Any) -> str:
    return f"{label:<20} : {value}"


def _single_line(sql: str) -> str:
    return re.sub(r"\s*\n\s*", " ", sql or "")


_STATUS_ORDER = ["RUNNING", "ERROR", "PAUSED", "UNRESPONSIVE"]


def _status_count(counts: dict[str, int] | None) -> str:
    items = sorted((counts or {}).items(), key=lambda kv: _STATUS_ORDER.index(kv[0]) if kv[0] in _STATUS_ORDER else 99)
    return ",".join(f"{k}:{v}" for k, v in items)


def type_string(schema: dict[str, Any]) -> str:
    """A DESCRIBE column type: ``VARCHAR(STRING)``, ``ARRAY<…>``, ``MAP<STRING, …>``, ``STRUCT<a T, …>``."""
    t = schema.get("type", "")
    if t == "STRING":
        return "VARCHAR(STRING)"
    if t == "ARRAY":
        return f"ARRAY<{type_string(schema.get('memberSchema') or {})}>"
    if t == "MAP":
        return f"MAP<STRING, {type_string(schema.get('memberSchema') or {})}>"
    if t == "STRUCT":
        fields = schema.get("fields") or []
        return "STRUCT<" + ", ".join(f"{f['name']} {type_string(f['schema'])}" for f in fields) + ">"
    if t == "DECIMAL":
        params = schema.get("parameters") or {}
        if params:
            return f"DECIMAL({params.get('precision')}, {params.get('scale')})"
    return str(t)


def _field_type(field: dict[str, Any], window_type: str | None, is_table: bool) -> str:
    ts = type_string(field.get("schema") or {})
    kind = field.get("type")
    if kind == "HEADER":
        key = field.get("headerKey")
        return f"{ts:<16} " + (f"(header('{key}'))" if key else "(headers)")
    if kind == "KEY":
        wt = f" (Window type: {window_type})" if window_type else ""
        return f"{ts:<16} " + ("(primary key)" if is_table else "(key)") + wt
    return ts


def _schema_table(fields: list[dict[str, Any]], window_type: str | None, is_table: bool, width: int) -> list[str]:
    if not fields:
        return []
    rows = [[f["name"], _field_type(f, window_type, is_table)] for f in fields]
    return [table(["Field", "Type"], rows, width)]


def _queries_section(queries: list[dict[str, Any]], kind: str, op: str) -> list[str]:
    if not queries:
        return []
    out = ["", f"Queries that {op} from this {kind}", "-----------------------------------"]
    out += [f"{q.get('id')} ({q.get('state') or 'N/A'}) : {_single_line(q.get('queryString', ''))}" for q in queries]
    out += ["", "For query topology and execution plan please run: EXPLAIN <QueryId>"]
    return out


def source_description(src: dict[str, Any], width: int) -> str:
    is_table = str(src.get("type", "")).upper() == "TABLE"
    window = src.get("windowType")
    out = [_field_row("Name", src.get("name"))]
    if not src.get("extended"):
        out += _schema_table(src.get("fields") or [], window, is_table, width)
        out.append("For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;")
        return "\n".join(out)
    out.append(_field_row("Type", src.get("type")))
    out.append(_field_row("Timestamp field", src.get("timestamp") or "Not set - using <ROWTIME>"))
    out.append(_field_row("Key format", src.get("keyFormat")))
    out.append(_field_row("Value format", src.get("valueFormat")))
    if src.get("topic"):
        topic = _field_row("Kafka topic", src.get("topic"))
        if src.get("partitions"):
            topic += f" (partitions: {src.get('partitions')}, replication: {src.get('replication')})"
        out.append(topic)
    out.append(_field_row("Statement", src.get("statement")))
    out.append("")
    out += _schema_table(src.get("fields") or [], window, is_table, width)
    constraints = src.get("sourceConstraints") or []
    if constraints:
        out += ["", "Sources that have a DROP constraint on this source",
                "--------------------------------------------------", *constraints]
    out += _queries_section(src.get("readQueries") or [], src.get("type", ""), "read")
    out += _queries_section(src.get("writeQueries") or [], src.get("type", ""), "write")
    stats, errors = src.get("clusterStatistics") or [], src.get("clusterErrorStats") or []
    if not stats and not errors:
        out += ["", "Local runtime statistics", "------------------------", src.get("statistics") or "",
                src.get("errorStats") or ""]
    else:
        rows = sorted(stats + errors, key=lambda s: (str(s.get("host")), str(s.get("name"))))
        out += ["", "Runtime statistics by host", "-------------------------"]
        out.append(table(["Host", "Metric", "Value", "Last Message"],
                         [[str(s.get("host")), str(s.get("name")), f"{float(s.get('value') or 0):10.0f}",
                           str(s.get("timestamp"))] for s in rows], width))
    out.append(f"(Statistics of the local KSQL server interaction with the Kafka topic {src.get('topic')})")
    summaries = src.get("queryOffsetSummaries") or []
    if summaries:
        out += ["", "Consumer Groups summary:"]
        for entry in summaries:
            out += ["", _field_row("Consumer Group", entry.get("groupId"))]
            topics = entry.get("topicSummaries") or []
            if not topics:
                out.append("<no offsets committed by this group yet>")
            for t in topics:
                offsets = t.get("offsets") or []
                lag = max((o["logEndOffset"] - o["consumerOffset"] for o in offsets), default=0)
                out += ["", _field_row("Kafka topic", t.get("kafkaTopic")), _field_row("Max lag", lag), ""]
                out.append(table(["Partition", "Start Offset", "End Offset", "Offset", "Lag"],
                                 [[str(o["partition"]), str(o["logStartOffset"]), str(o["logEndOffset"]),
                                   str(o["consumerOffset"]), str(o["logEndOffset"] - o["consumerOffset"])]
                                  for o in offsets], width))
    return "\n".join(out)


def query_description(q: dict[str, Any], width: int) -> str:
    out = [_field_row("ID", q.get("id")), _field_row("Query Type", q.get("queryType"))]
    if q.get("statementText"):
        out.append(_field_row("SQL", q.get("statementText")))
    hosts = q.get("ksqlHostQueryStatus") or {}
    if hosts:
        out.append(_field_row("Host Query Status", java_str(hosts)))
    out.append("")
    out += _schema_table(q.get("fields") or [], q.get("windowType"), False, width)
    for title, names, hint in (
            ("Sources that this query reads from: ", q.get("sources"),
             "For source description please run: DESCRIBE [EXTENDED] <SourceId>"),
            ("Sinks that this query writes to: ", q.get("sinks"),
             "For sink description please run: DESCRIBE [EXTENDED] <SinkId>")):
        if names:
            out += ["", title, "-----------------------------------", *names, "", hint]
    if q.get("executionPlan"):
        out += ["", "Execution plan", "--------------", q["executionPlan"]]
    if q.get("topology"):
        out += ["", "Processing topology", "-------------------", q["topology"]]
    overridden = q.get("overriddenProperties") or {}
    if overridden:
        out.append(table(["Property", "Value"], [[k, java_str(v)] for k, v in sorted(overridden.items())], width,
                         header_lines=["", "Overridden Properties", "---------------------"]))
    out.append("")
    for err in q.get("queryErrors") or []:
        out += [_field_row("Error Date", err.get("timestamp")), _field_row("Error Details", err.get("errorMessage")),
                _field_row("Error Type", err.get("type"))]
    return "\n".join(out)


def function_description(f: Entity, width: int) -> str:
    name = str(f.get("name", "")).upper()
    out: list[str] = []

    def described(label: str, text: str | None, indent: str = "") -> None:
        text = (text or "").strip()
        if not text:
            return
        head = f"{indent}{label:<12}: "
        room = max(width, 80) - len(head.replace("\t", "  "))
        out.append(head + ("\n" + " " * len(head.replace("\t", "  "))).join(_wrap_words(text, room)))

    out.append(f"{'Name':<12}: {name}")
    if (f.get("author") or "").strip():
        out.append(f"{'Author':<12}: {f['author']}")
    if (f.get("version") or "").strip():
        out.append(f"{'Version':<12}: {f['version']}")
    described("Overview", f.get("description"))
    out.append(f"{'Type':<12}: {f.get('type')}")
    out.append(f"{'Jar':<12}: {f.get('path')}")
    out.append(f"{'Variations':<12}: ")
    for fn in f.get("functions") or []:
        args = ", ".join(_argument(a) for a in fn.get("arguments") or [])
        out += ["", f"\t{'Variation':<12}: {name}({args})", f"\t{'Returns':<12}: {fn.get('returnType')}"]
        described("Description", fn.get("description"), "\t")
        for a in fn.get("arguments") or []:
            described(a.get("name", ""), a.get("description"), "\t")
    return "\n".join(out)


def _argument(a: dict[str, Any]) -> str:
    t = str(a.get("type")) + ("[]" if a.get("isVariadic") else "")
    return f"{a['name']} {t}" if a.get("name") else t


def _wrap_words(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for para in text.split("\n"):
        for word in re.split(r"(?<= )", para):
            if cur and len(cur) + len(word) > width:
                lines.append(cur)
                cur = ""
            cur += word
        lines.append(cur)
        cur = ""
    return lines


def connector_description(c: Entity, width: int) -> str:
    status = c.get("status") or {}
    conn = status.get("connector") or {}
    out = [_field_row("Name", status.get("name")), _field_row("Class", c.get("connectorClass")),
           _field_row("Type", status.get("type")), _field_row("State", conn.get("state")),
           _field_row("WorkerId", conn.get("worker_id"))]
    if conn.get("trace"):
        out.append(_field_row("Trace", conn["trace"]))
    tasks = status.get("tasks") or []
    if tasks:
        out += ["", table(["Task ID", "State", "Error Trace"],
                          [[str(t.get("id")), str(t.get("state")), t.get("trace") or ""] for t in tasks], width)]
    sources = c.get("sources") or []
    if sources:
        out += ["", table(["KSQL Source Name", "Kafka Topic", "Type"],
                          [[s.get("name"), s.get("topic"), s.get("type")] for s in sources], width)]
    topics = c.get("topics") or []
    if topics:
        out += ["", table(["Related Topics"], [[t] for t in topics], width)]
    return "\n".join(out)


def _sources(e: Entity, width: int, key: str, title: str) -> str:
    items = sorted(e.get(key) or [], key=lambda s: s.get("name", ""))
    return table([title, "Kafka Topic", "Key Format", "Value Format", "Windowed"],
                 [[s.get("name"), s.get("topic"), s.get("keyFormat"), s.get("valueFormat"),
                   java_str(bool(s.get("isWindowed")))] for s in items], width)


def _replicas(info: list[int]) -> str:
    if not info:
        return "0"
    return str(info[0]) if len(set(info)) == 1 else ", ".join(str(i) for i in info)


def _properties(e: Entity, width: int) -> str:
    overwritten, defaults = set(e.get("overwrittenProperties") or []), set(e.get("defaultProperties") or [])

    def override(name: str) -> str:
        return "SESSION" if name in overwritten else "" if name in defaults else "SERVER"

    rows = sorted([[p["name"], p.get("scope", ""), override(p["name"]),
                    "NULL" if p.get("value") is None else str(p["value"])] for p in e.get("properties") or []])
    return table(["Property", "Scope", "Default override", "Effective Value"], rows, width)


def _functions(e: Entity, width: int) -> str:
    funcs = e.get("functions") or []
    rows: list[list[str]] = []
    if not funcs or not funcs[0].get("category"):
        rows = [[f["name"], str(f.get("type", "")).upper()] for f in sorted(funcs, key=lambda f: f["name"])]
    else:
        prev = None
        for f in sorted(funcs, key=lambda f: (f.get("category", ""), f["name"])):
            if prev is not None and f.get("category") != prev:
                rows.append([" ", " "])
            rows.append([f["name"], f.get("category", "")])
            prev = f.get("category")
    return table(["Function Name", "Category"], rows, width,
                 footer_lines=["For detailed information about a function, run: DESCRIBE FUNCTION <Function Name>;"])


def _message(text: str) -> Callable[[Entity, int], str]:
    return lambda e, width: table(["Message"], [[text.format(**e)]], width)


def _each(render: Callable[[dict[str, Any], int], str], key: str) -> Callable[[Entity, int], str]:
    return lambda e, width: "\n".join(render(d, width) + "\n" for d in e.get(key) or [])


# one renderer per ``@type`` of a /ksql response entity
ENTITY_RENDERERS: dict[str, Callable[[Entity, int], str]] = {
    "currentStatus": lambda e, w: table(
        ["Message"], [[str((e.get("commandStatus") or {}).get("message", "")).split("\n", 1)[0]]], w),
    "streams": lambda e, w: _sources(e, w, "streams", "Stream Name"),
    "tables": lambda e, w: _sources(e, w, "tables", "Table Name"),
    "queries": lambda e, w: table(
        ["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"],
        [[q.get("id", ""), q.get("queryType", ""), _status_count(q.get("statusCount")), ",".join(q.get("sinks") or []),
          ",".join(q.get("sinkKafkaTopics") or []), _single_line(q.get("queryString", ""))]
         for q in e.get("queries") or []], w,
        footer_lines=["For detailed information on a Query run: EXPLAIN <Query ID>;"]),
    "sourceDescription": lambda e, w: source_description(e.get("sourceDescription") or {}, w),
    "source_descriptions": _each(source_description, "sourceDescriptions"),
    "queryDescription": lambda e, w: query_description(e.get("queryDescription") or {}, w),
    "query_descriptions": _each(query_description, "queryDescriptions"),
    "kafka_topics": lambda e, w: table(
        ["Kafka Topic", "Partitions", "Replicas"],
        [[t["name"], str(len(t.get("replicaInfo") or [])), _replicas(t.get("replicaInfo") or [])]
         for t in e.get("topics") or []], w),
    "kafka_topics_extended": lambda e, w: table(
        ["Kafka Topic", "Partitions", "Replicas", "Max Row Count", "Consumers", "ConsumerGroups"],
        [[t["name"], str(len(t.get("replicaInfo") or [])), _replicas(t.get("replicaInfo") or []),
          str(t.get("maxMsgCount", 0)), str(t.get("consumerCount", 0)), str(t.get("consumerGroupCount", 0))]
         for t in e.get("topics") or []], w),
    "properties": _properties,
    "function_names": _functions,
    "describe_function": function_description,
    "type_list": lambda e, w: table(
        ["Type Name", "Schema"], [[k, type_string(v)] for k, v in sorted((e.get("types") or {}).items())], w),
    "variables": lambda e, w: table(
        ["Variable Name", "Value"], [[v["name"], str(v["value"])] for v in sorted(
            e.get("variables") or [], key=lambda v: v["name"])], w),
    "warning_entity": lambda e, w: table(["Message"], [[str(e.get("message", ""))]], w),
    "terminate_query": _message('Terminated query "{queryId}"'),
    "drop_connector": _message('Dropped connector "{connectorName}"'),
    "connector_info": lambda e, w: table(["Message"], [[f"Created connector {(e.get('info') or {}).get('name')}"]], w),
    "connector_list": lambda e, w: table(
        ["Connector Name", "Type", "Class", "Status"],
        [[c.get("name", ""), str(c.get("type") or "UNKNOWN").upper(), c.get("className") or "", c.get("state") or ""]
         for c in e.get("connectors") or []], w),
    "connector_plugins_list": lambda e, w: table(
        ["Class", "Type", "Version"],
        [[c.get("className", ""), str(c.get("type") or "UNKNOWN").upper(), c.get("version") or ""]
         for c in e.get("connectorsPlugins") or e.get("connectorPlugins") or []], w),
    "connector_description": connector_description,
    "executionPlan": lambda e, w: table(["Execution Plan"], [[str(e.get("executionPlan", ""))]], w),
    "topic_description": lambda e, w: table(
        ["Table Name", "Kafka Topic", "Type"], [[e.get("name", ""), e.get("kafkaTopic", ""), e.get("format", "")]], w),
    "assert_topic": lambda e, w: f"Topic {e.get('topicName')} {'exists' if e.get('exists') else 'does not exist'}.",
    "assert_schema": lambda e, w: "Schema with" + (f" subject {e['subject']}" if e.get("subject") else "")
    + (f" id {e['id']}" if e.get("id") is not None else "")
    + (" exists." if e.get("exists") else " does not exist."),
}


def entity_text(e: Entity, width: int) -> str:
    """An entity as a table or page, then one ``WARNING:`` line per warning. An entity type this
    shell does not know is shown as its JSON rather than dropped."""
    render = ENTITY_RENDERERS.get(str(e.get("@type")))
    body = render(e, width) if render else jackson_json(e)
    warnings = [f"WARNING: {w.get('message')}" for w in e.get("warnings") or []]
    return "\n".join([body, *warnings])


# -- query results ---------------------------------------------------------------------------------
def schema_columns(schema: str) -> list[str]:
    """Column names of a header schema such as ``\\`A\\` STRING KEY, \\`B\\` STRUCT<\\`X\\` INT>``."""
    names: list[str] = []
    depth, i, n, start = 0, 0, len(schema), 0
    parts: list[str] = []
    while i < n:
        c = schema[i]
        if c == "`":
            j = i + 1
            while j < n and not (schema[j] == "`" and schema[j + 1:j + 2] != "`"):
                j += 2 if schema[j] == "`" else 1
            i = j + 1
            continue
        if c == "<" or c == "(":
            depth += 1
        elif c == ">" or c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(schema[start:i])
            start = i + 1
        i += 1
    parts.append(schema[start:])
    for p in parts:
        p = p.strip()
        if p.startswith("`"):
            end = 1
            while end < len(p) and not (p[end] == "`" and p[end + 1:end + 2] != "`"):
                end += 2 if p[end] == "`" else 1
            names.append(p[1:end].replace("``", "`"))
        elif p:
            names.append(p.split()[0])
    return names


class TabularRows:
    """Query results as ``|cell|cell|`` rows of equal-width cells: the width is the terminal width
    shared among the columns (at least 5) unless ``column_width`` is set. Long values wrap onto
    more lines, or are clipped with ``...`` when ``wrap`` is off (the header always wraps)."""

    def __init__(self, n_columns: int, width: int, wrap: bool = True, column_width: int = 0) -> None:
        if column_width > 0:
            self.cell = column_width
        else:
            self.cell = max(width // max(n_columns, 1) - 2, MIN_CELL_WIDTH)
        self.wrap = wrap
        self.n = n_columns

    def rule(self) -> str:
        return "+" + "+".join("-" * self.cell for _ in range(self.n)) + "+"

    def header(self, names: Sequence[str]) -> str:
        return "\n".join([self.rule(), self._row(list(names), wrap=True), self.rule()])

    def row(self, values: Sequence[Any], tombstone: bool = False) -> str:
        cells = ["<TOMBSTONE>" if tombstone and v is None else java_str(v) for v in values]
        return self._row(cells, self.wrap)

    def _row(self, cells: list[str], wrap: bool) -> str:
        w = self.cell
        chunks = [[c[i:i + w].ljust(w) for i in range(0, len(c), w)] or [" " * w] for c in cells]
        height = max((len(c) for c in chunks), default=1)
        for c in chunks:
            c.extend([" " * w] * (height - len(c)))
        shown = height if wrap else 1
        lines = []
        for r in range(shown):
            parts = []
            for c in chunks:
                clip = len(c) > shown and any(x.strip() for x in c[shown:])
                parts.append(c[r][:len(c[r]) - len(CLIPPED)] + CLIPPED if clip else c[r])
            lines.append("|" + "|".join(parts) + "|")
        return "\n".join(lines)


# -- connection problems ---------------------------------------------------------------------------
def unreachable_server_block(url: str, cause: str) -> str:
    """What the CLI prints when a server does not answer ``/info`` (at start, or on ``server <url>``)."""
    from textwrap import wrap

    msg = (f"Remote server at {url} does not appear to be a valid KSQL server. "
           "Please ensure that the URL provided is for an active KSQL server.")
    lines = ["", "*" * 37 + "ERROR" + "*" * 38, *wrap(msg, 80), "",
             "The server responded with the following error: ", cause, "*" * 80, ""]
    return "\n".join(lines)
