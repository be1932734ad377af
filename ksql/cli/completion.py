"""Tab completion and the history file of the interactive shell.

Completion offers keywords, the shell's commands, and the streams, tables, columns and functions
the server knows; those are fetched with ``SHOW STREAMS EXTENDED; SHOW TABLES EXTENDED; SHOW
FUNCTIONS;`` the first time they are needed and again after statements that change them.

The history file (``~/.ksql-history``) uses the format of the Java CLI's line reader, so both
shells can share it: one entry per line, ``<epoch millis>:<line>`` with ``\\n``, ``\\r`` and ``\\``
escaped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import History

KEYWORDS = sorted(set("""
ADVANCE ALL ALTER AND ANY ARRAY AS ASC ASSERT AT BEGINNING BETWEEN BIGINT BOOLEAN BY BYTES CASE CAST
CHANGES CONNECTOR CONNECTORS CREATE DATE DAY DAYS DECIMAL DEFINE DELETE DESC DESCRIBE DISTINCT DOUBLE
DROP ELSE EMIT END EXISTS EXPLAIN EXTENDED FALSE FINAL FROM FULL FUNCTION FUNCTIONS GRACE GROUP HAVING
HEADER HEADERS HOPPING HOUR HOURS IF IN INNER INSERT INT INTEGER INTERVAL INTO IS JOIN KEY LEFT LIKE
LIMIT LIST MAP MILLISECOND MILLISECONDS MINUTE MINUTES MONTH MONTHS NOT NULL ON OR OUTER PARTITION
PARTITIONS PAUSE PERIOD PLUGINS PRIMARY PRINT PROPERTIES QUERIES QUERY REPLACE RESUME RETENTION RIGHT
SAMPLE SCHEMA SECOND SECONDS SELECT SESSION SET SHOW SINK SIZE SOURCE STREAM STREAMS STRING STRUCT SYSTEM
TABLE TABLES TERMINATE THEN TIME TIMESTAMP TO TOPIC TOPICS TRUE TUMBLING TYPE TYPES UNDEFINE UNSET VALUES
VARCHAR VARIABLES WHEN WHERE WINDOW WINDOWEND WINDOWSTART WITH WITHIN YEAR YEARS ROWTIME ROWPARTITION
ROWOFFSET
""".split()))

# after these words a stream or table name is expected
_SOURCE_CONTEXT = {"FROM", "JOIN", "INTO", "DESCRIBE", "STREAM", "TABLE", "EXISTS", "EXTENDED"}
_WORD_BEFORE = re.compile(r"[A-Za-z0-9_]*$")
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Catalog:
    """What the server knows, for completion: source name → column names, and function names."""

    REQUEST = "SHOW STREAMS EXTENDED; SHOW TABLES EXTENDED; SHOW FUNCTIONS;"

    def __init__(self, fetch: Callable[[str], list[dict[str, Any]]]) -> None:
        self.fetch = fetch
        self.sources: dict[str, list[str]] = {}
        self.functions: list[str] = []
        self.stale = True

    def refresh(self) -> None:
        self.stale = False
        entities = self.fetch(self.REQUEST)
        sources: dict[str, list[str]] = {}
        functions: list[str] = []
        for e in entities:
            for d in e.get("sourceDescriptions") or []:
                sources[d["name"]] = [f["name"] for f in d.get("fields") or []]
            functions += [f["name"] for f in e.get("functions") or []]
        self.sources = sources
        self.functions = sorted(set(functions))


class SqlCompleter(Completer):
    def __init__(self, catalog: Catalog, commands: Iterable[str]) -> None:
        self.catalog = catalog
        self.commands = sorted(commands)

    def candidates(self, text_before: str, full_text: str) -> list[str]:
        if self.catalog.stale:
            try:
                self.catalog.refresh()
            except Exception:
                # completion must not break the prompt: without the server it offers keywords only,
                # and the names are fetched again on the next Tab
                self.catalog.stale = True
        word = _WORD_BEFORE.search(text_before)
        start = word.start() if word else len(text_before)
        earlier = _WORDS.findall(text_before[:start])
        prev = earlier[-1].upper() if earlier else ""
        sources = sorted(self.catalog.sources)
        if prev in _SOURCE_CONTEXT:
            return sources + (["EXTENDED", "FUNCTION", "STREAMS", "TABLES", "CONNECTOR"] if prev == "DESCRIBE" else [])
        mentioned = {w.upper() for w in _WORDS.findall(full_text)} & set(self.catalog.sources)
        columns: list[str] = []
        for name in (sorted(mentioned) or sources):
            columns += self.catalog.sources[name]
        head = self.commands if not earlier else []
        return [*columns, *KEYWORDS, *self.catalog.functions, *sources, *head]

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        m = _WORD_BEFORE.search(before)
        prefix = m.group(0) if m else ""
        seen: set[str] = set()
        for cand in self.candidates(before, document.text):
            if cand in seen or not cand.upper().startswith(prefix.upper()):
                continue
            seen.add(cand)
            # keywords follow the case the user is typing in; names keep their own
            text = cand.lower() if prefix.islower() and cand in KEYWORDS else cand
            yield Completion(text, start_position=-len(prefix))


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


class JLineHistory(History):
    """prompt_toolkit history stored in the Java CLI's history file format; repeating the last
    entry does not add it again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: str | None = None
        super().__init__()

    def load_history_strings(self) -> Iterable[str]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        lines = []
        for entry in raw.splitlines():
            stamp, sep, text = entry.partition(":")
            lines.append(_unescape(text) if sep and stamp.isdigit() else _unescape(entry))
        if lines:
            self._last = lines[-1]
        return list(reversed(lines))

    def append_string(self, string: str) -> None:
        if string == self._last:
            return
        self._last = string
        super().append_string(string)

    def store_string(self, string: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(f"{int(time.time() * 1000)}:{_escape(string)}\n")
        except OSError:
            # the shell warned at start when the file cannot be written; the entry stays in memory
            pass
