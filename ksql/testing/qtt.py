"""Runs ksqlDB query-validation test (QTT) cases against a fresh engine on the embedded log.

Each case: statements are executed in order; input records are written to their topics in file order;
every persistent query then processes all of its input (queries in creation order); output topics
are compared record for record with the expected ones. Cases expecting an error pass when executing
the statements (or processing) raises an error of the named kind whose message contains the text.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ksql.catalog import DataSource
from ksql.engine.config import Config
from ksql.engine.engine import KsqlEngine
from ksql.errors import JAVA_EXCEPTION_CLASSES, KsqlStatementException
from ksql.schemaregistry import InMemorySchemaRegistry, SchemaRegistryClient, subject_name
from ksql.testing import wire
from ksql.testing.schemas import seed_topic_schemas
from ksql.testing.test_functions import test_functions as extension_functions
from ksql.topics.base import Record, TopicBackend
from ksql.topics.embedded import EmbeddedLog

# Processing-log entries are expected in many cases (bad records on purpose); keep them off stderr.
logging.getLogger("processing").addHandler(logging.NullHandler())
logging.getLogger("processing").propagate = False

TEST_DEFAULTS = {
    "ksql.service.id": "some.ksql.service.id",
    "ksql.streams.auto.offset.reset": "earliest",
    "ksql.streams.cache.max.bytes.buffering": 0,
}


@dataclass
class CaseResult:
    file: str
    name: str
    format: str | None
    status: str  # pass | fail | error | skip
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "format": self.format, "status": self.status,
                "detail": self.detail}


class CaseFailure(Exception):
    pass


def load_cases(path: Path) -> list[tuple[dict[str, Any], str | None]]:
    """The file's cases, expanded once per entry of their ``format`` matrix."""
    data = json.loads(path.read_text(), parse_float=Decimal)
    out: list[tuple[dict[str, Any], str | None]] = []
    for case in data.get("tests", []):
        formats = case.get("format") or [None]
        for fmt in formats:
            out.append((case, fmt))
    return out


def case_id(file: str, name: str, fmt: str | None) -> str:
    """How reports and tests/conformance/passing.txt name a case."""
    return f"{file} :: {name}" + (f" [{fmt}]" if fmt else "")


def find_qtt_dir(start: Path) -> Path:
    """The public QTT files: ``shared/ksql-qtt/qtt`` beside the repository checkout."""
    for parent in [start, *start.parents]:
        candidate = parent / "shared" / "ksql-qtt" / "qtt"
        if candidate.is_dir():
            return candidate
    return start / "shared" / "ksql-qtt" / "qtt"


def case_name(case: dict[str, Any], fmt: str | None) -> str:
    return case["name"] if fmt is None else f"{case['name']} - {fmt}"


def run_case(case: dict[str, Any], fmt: str | None, timeout_s: float = 30.0,
             test_functions: bool = True,
             backend_factory: Callable[[], TopicBackend] | None = None) -> tuple[str, str]:
    """Returns (status, detail).

    ``test_functions``: whether ksqlDB's test-extension UDFs (TEST_UDF, VAR_ARG, ...) are registered
    while the case runs, as they are on the class path of ksqlDB's own suite.
    ``backend_factory``: the topic backend of each run (called inside its event loop); default a
    fresh in-memory embedded log.
    """
    if case.get("enabled") is False:
        return "skip", "disabled in the test file"
    scope = extension_functions() if test_functions else contextlib.nullcontext()
    try:
        with scope:
            # a `config` list runs the case once per value, substituted for the "{CONFIG}" property
            for config in case.get("config") or [None]:
                detail = asyncio.run(asyncio.wait_for(_run(case, fmt, config, backend_factory), timeout_s))
    except CaseFailure as e:
        return "fail", str(e)
    except TimeoutError:
        return "error", f"timed out after {timeout_s}s"
    except Exception as e:  # an engine bug, reported with its trace
        return "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
    return "pass", detail


def _subst(text: str, fmt: str | None) -> str:
    return text.replace("{FORMAT}", fmt) if fmt is not None else text


async def _run(case: dict[str, Any], fmt: str | None, config: Any = None,
               backend_factory: Callable[[], TopicBackend] | None = None) -> str:
    """Runs one case; returns the actual error text when the case expects an error."""
    expected_exc = case.get("expectedException")
    props = dict(TEST_DEFAULTS)
    for k, v in (case.get("properties") or {}).items():
        props[k] = config if v == "{CONFIG}" else v
    statements = [_subst(s, fmt) for s in case["statements"]]
    backend = backend_factory() if backend_factory is not None else EmbeddedLog(None)
    # AVRO/PROTOBUF/JSON_SR: a fresh in-process schema registry per run, as ksqlDB's driver mocks one
    registry = InMemorySchemaRegistry()
    engine = KsqlEngine(backend, Config(props), persist_commands=False, schema_registry=registry)
    try:
        await _create_topics(engine, case, statements)
        seed_topic_schemas(registry, case, statements, engine.config)
        try:
            # one script, as ksqlDB's test executor parses the case: positions in errors count
            # from its first line, SET/DEFINE carry on to the statements after them
            await engine.execute("\n".join(statements))
            await _produce_inputs(engine, case)
            await engine.run_until_idle()
        except Exception as e:
            if expected_exc is None:
                if isinstance(e, CaseFailure):
                    raise
                raise CaseFailure(f"Unexpected error: {type(e).__name__}: {_error_text(e)}") from e
            _check_exception(e, expected_exc)
            return _error_text(e)
        if expected_exc is not None:
            raise CaseFailure(
                f"Expected exception {expected_exc.get('type')} with message "
                f"'{expected_exc.get('message', '')}' but the statements ran without error"
            )
        await _check_outputs(engine, case)
        await _check_post(engine, case)
    finally:
        await backend.close()
    return ""


def _error_text(e: BaseException) -> str:
    if isinstance(e, KsqlStatementException):
        return e.unlogged_message
    return getattr(e, "message", None) or str(e)


async def _create_topics(engine: KsqlEngine, case: dict[str, Any], statements: list[str],
                         default_partitions: int = 1) -> None:
    """The topics of the case's ``topics``, CREATE statements and inputs, with ``default_partitions``
    unless the topic entry or the statement gives a count (ksqlDB's QTT harness uses 1, RQTT's 4)."""
    backend = engine.backend
    wanted: dict[str, int] = {}
    for t in case.get("topics") or []:
        # a topic node without a partition count leaves it to the CREATE statement (ksqlDB's stub
        # topic client does not check counts)
        if t.get("partitions"):
            wanted[t["name"]] = int(t["partitions"])
    for s in statements:
        if re.search(r"\bAS\s+SELECT\b", s, re.I) or not re.match(r"\s*CREATE\b", s, re.I):
            continue
        m = re.search(r"KAFKA_TOPIC\s*=\s*'([^']*)'", s, re.I)
        if m:
            p = re.search(r"PARTITIONS\s*=\s*(\d+)", s, re.I)
            wanted.setdefault(m.group(1), int(p.group(1)) if p else default_partitions)
    for t in case.get("topics") or []:
        wanted.setdefault(t["name"], default_partitions)
    for rec in case.get("inputs") or []:
        wanted.setdefault(rec["topic"], default_partitions)
    for name, parts in wanted.items():
        if await backend.describe_topic(name) is None:
            try:
                await backend.create_topic(name, parts)
            except Exception:
                pass


def _source_for_topic(engine: KsqlEngine, topic: str) -> DataSource | None:
    found = [s for s in engine.metastore.sources.values() if s.topic == topic]
    # prefer a declared source over a query's sink
    found.sort(key=lambda s: s.created_by is not None)
    return found[0] if found else None


async def _produce_inputs(engine: KsqlEngine, case: dict[str, Any]) -> None:
    for rec in case.get("inputs") or []:
        topic = rec["topic"]
        src = _source_for_topic(engine, topic)
        key = wire.encode_key(rec.get("key"), rec.get("window"), src, engine.schema_registry)
        value = wire.encode_value(rec.get("value"), src, engine.schema_registry)
        headers = tuple(
            (h["KEY"], None if h.get("VALUE") is None else base64.b64decode(h["VALUE"]))
            for h in rec.get("headers") or []
        )
        await engine.backend.produce(topic, [Record(key, value, int(rec.get("timestamp", 0) or 0), headers)])


async def _read_topic(engine: KsqlEngine, topic: str) -> list[Record]:
    info = await engine.backend.describe_topic(topic)
    if info is None:
        return []
    out: list[Record] = []
    for p in range(info.partitions):
        offset = 0
        while True:
            recs = await engine.backend.read(topic, p, offset, 10_000)
            if not recs:
                break
            out.extend(recs)
            offset = recs[-1].offset + 1
    out.sort(key=lambda r: r.seq)
    return out


async def _check_outputs(engine: KsqlEngine, case: dict[str, Any]) -> None:
    expected_by_topic: dict[str, list[dict[str, Any]]] = {}
    for rec in case.get("outputs") or []:
        expected_by_topic.setdefault(rec["topic"], []).append(rec)
    for topic, expected in expected_by_topic.items():
        actual = await _read_topic(engine, topic)
        src = _sink_for_topic(engine, topic)
        if len(actual) != len(expected):
            shown = [_describe(r, src, engine.schema_registry) for r in actual[:20]]
            raise CaseFailure(
                f"Topic {topic}: expected {len(expected)} records but it was {len(actual)}\n"
                f"actual: {shown}\nexpected: {[_strip(e) for e in expected[:20]]}"
            )
        for i, (exp_rec, act) in enumerate(zip(expected, actual, strict=True)):
            key, window = wire.decode_key(act.key, src, engine.schema_registry)
            value = wire.decode_value(act.value, src, engine.schema_registry)
            problems = []
            if not _equal(exp_rec.get("key"), key):
                problems.append(f"key {key!r} != expected {exp_rec.get('key')!r}")
            if not _equal(exp_rec.get("value"), value):
                problems.append(f"value {value!r} != expected {exp_rec.get('value')!r}")
            if "timestamp" in exp_rec and int(exp_rec["timestamp"]) != act.timestamp:
                problems.append(f"timestamp {act.timestamp} != expected {exp_rec['timestamp']}")
            if "window" in exp_rec and exp_rec["window"] is not None:
                w = exp_rec["window"]
                if window is None or int(w["start"]) != window["start"] or int(w["end"]) != window["end"]:
                    problems.append(f"window {window} != expected {w}")
            if "headers" in exp_rec:
                import base64

                hs = [{"KEY": k, "VALUE": None if v is None else base64.b64encode(v).decode()} for k, v in act.headers]
                if hs != exp_rec["headers"]:
                    problems.append(f"headers {hs} != expected {exp_rec['headers']}")
            if problems:
                raise CaseFailure(f"Topic {topic}, record {i}: " + "; ".join(problems))


def _sink_for_topic(engine: KsqlEngine, topic: str) -> DataSource | None:
    found = [s for s in engine.metastore.sources.values() if s.topic == topic]
    found.sort(key=lambda s: s.created_by is None)
    return found[0] if found else None


def _describe(r: Record, src: DataSource | None, registry: SchemaRegistryClient | None = None) -> str:
    key, window = wire.decode_key(r.key, src, registry)
    value = wire.decode_value(r.value, src, registry)
    return f"{{key={key!r}, value={value!r}, ts={r.timestamp}{', window=' + str(window) if window else ''}}}"


def _strip(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k != "topic"}


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or len(expected) != len(actual):
            return False
        upper = {str(k).upper(): v for k, v in actual.items()}
        for k, v in expected.items():
            if k in actual:
                if not _equal(v, actual[k]):
                    return False
            elif str(k).upper() in upper:
                if not _equal(v, upper[str(k).upper()]):
                    return False
            elif v is not None:  # ksqlDB's comparator reads a field the record lacks as null
                return False
        return True
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            _equal(a, b) for a, b in zip(expected, actual, strict=True))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or expected == actual and type(expected) is type(actual)
    if isinstance(expected, (int, float, Decimal)) and isinstance(actual, (int, float, Decimal)):
        if isinstance(expected, Decimal) and isinstance(actual, Decimal):
            return expected == actual
        try:
            return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-6) if (
                isinstance(expected, (float, Decimal)) or isinstance(actual, (float, Decimal))) else expected == actual
        except (OverflowError, ValueError):
            return False
    if isinstance(expected, str) and isinstance(actual, (Decimal, int, float)) and not isinstance(actual, bool):
        try:
            return Decimal(expected) == Decimal(str(actual))
        except Exception:
            return False
    if isinstance(actual, str) and isinstance(expected, (Decimal, int, float)):
        try:
            return Decimal(actual) == Decimal(str(expected))
        except Exception:
            return False
    return bool(expected == actual)


def _check_exception(e: BaseException, expected: dict[str, Any]) -> None:
    etype = expected.get("type")
    classes = JAVA_EXCEPTION_CLASSES.get(etype or "", (Exception,)) if etype else (Exception,)
    if not isinstance(e, classes):
        raise CaseFailure(f"Expected exception of type {etype} but got {type(e).__name__}: {e}")
    want = expected.get("message")
    if want:
        msg = getattr(e, "message", str(e))
        full = msg
        if isinstance(e, KsqlStatementException):
            full = e.unlogged_message
        if want not in msg and want not in full:
            raise CaseFailure(f"Expected message containing {want!r} but was {full!r}")


async def _check_post(engine: KsqlEngine, case: dict[str, Any]) -> None:
    post = case.get("post")
    if not post:
        return
    for s in post.get("sources") or []:
        src = engine.metastore.get_source(s["name"])
        if src is None:
            raise CaseFailure(f"Post: source {s['name']} does not exist")
        if "type" in s and s["type"].upper() != src.kind:
            raise CaseFailure(f"Post: source {s['name']} is a {src.kind}, expected {s['type']}")
        if s.get("schema"):
            if _norm_schema(s["schema"]) != _norm_schema(src.schema.sql()):
                raise CaseFailure(f"Post: source {s['name']} schema {src.schema.sql()!r} != expected {s['schema']!r}")
        kf = s.get("keyFormat")
        if isinstance(kf, dict) and kf.get("format") and kf["format"].upper() != src.key_format.name:
            raise CaseFailure(f"Post: key format {src.key_format.name} != expected {kf['format']}")
        vf = s.get("valueFormat")
        if isinstance(vf, str) and vf.upper() != src.value_format.name:
            raise CaseFailure(f"Post: value format {src.value_format.name} != expected {vf}")
    topics = post.get("topics") or {}
    registry = engine.schema_registry
    for t in topics.get("topics") or []:
        # the schemas registered for the topic's subjects (internal topics are not modelled)
        if registry is None or str(t.get("name", "")).startswith("_confluent-ksql-"):
            continue
        for label, is_key in (("keySchema", True), ("valueSchema", False)):
            want = t.get(label)
            if want is None:
                continue
            latest = registry.latest(subject_name(t["name"], is_key))
            got: Any = None
            if latest is not None:
                got = latest.schema.schema if latest.schema.schema_type == "PROTOBUF" else json.loads(
                    latest.schema.schema)
            if got != want:
                raise CaseFailure(f"Post: topic {t['name']} {label} {got!r} != expected {want!r}")
    bl = topics.get("blacklist")
    if bl:
        rx = re.compile(bl)
        for info in await engine.backend.list_topics():
            if rx.fullmatch(info.name):
                raise CaseFailure(f"Post: topic {info.name} should not exist")


def _norm_schema(s: str) -> str:
    s = s.replace("`", "")
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\bINTEGER\b", "INT", s)
    s = re.sub(r"\bVARCHAR\b", "STRING", s)
    s = re.sub(r"\bPRIMARY KEY\b", "KEY", s, flags=re.IGNORECASE)  # a table's key: same column kind
    s = re.sub(r"\s*,\s*", ", ", s)
    s = re.sub(r"<\s*", "<", s)
    s = re.sub(r"\s*>", ">", s)
    s = re.sub(r"\(\s*", "(", s)
    s = re.sub(r"\s*\)", ")", s)
    return s.upper()


def cases_of(paths: list[Path], results: list[CaseResult]) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(file name, case, format) of every case in the files (folders: their ``*.json``); a file
    that cannot be loaded goes into ``results`` as an error."""
    for path in paths:
        for f in sorted(path.glob("*.json")) if path.is_dir() else [path]:
            try:
                cases = load_cases(f)
            except Exception as e:
                results.append(CaseResult(f.name, "<file>", None, "error", f"cannot load: {e}"))
                continue
            for case, fmt in cases:
                yield f.name, case, fmt


def run_files(paths: list[Path]) -> list[CaseResult]:
    results: list[CaseResult] = []
    for fname, case, fmt in cases_of(paths, results):
        status, detail = run_case(case, fmt)
        results.append(CaseResult(fname, case["name"], fmt, status, detail))
    return results
