"""The ksql dialect for sqlglot: wires the tokenizer, parser and generator together."""

from __future__ import annotations

from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from ksql.dialect.generator import KsqlGenerator
from ksql.dialect.parser import KsqlParser
from ksql.dialect.tokenizer import KsqlTokenizer


class Ksql(Dialect):
    NORMALIZATION_STRATEGY = NormalizationStrategy.UPPERCASE
    # ``1abc`` is one identifier in ksql (DIGIT_IDENTIFIER).
    IDENTIFIERS_CAN_START_WITH_DIGIT = True

    Tokenizer = KsqlTokenizer
    Parser = KsqlParser
    Generator = KsqlGenerator
