"""Exceptions raised by the engine.

Hierarchy (mirrors the ksqlDB classes that clients and test files name)::

    KsqlException                  any engine error with a user-facing message
    ├── KsqlStatementException     a statement failed validation or execution (carries its text)
    │   └── ParseFailedException   the statement did not parse (line and column in the message)
    ├── KsqlFunctionException      a function was called with bad arguments at run time
    └── SerializationError         a record could not be (de)serialized
    StreamsException               a query failed while processing records
"""

from __future__ import annotations


class KsqlException(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KsqlStatementException(KsqlException):
    def __init__(self, message: str, statement: str = "") -> None:
        super().__init__(message)
        self.statement = statement

    @property
    def unlogged_message(self) -> str:
        return f"{self.message}\nStatement: {self.statement}" if self.statement else self.message


class ParseFailedException(KsqlStatementException):
    pass


class KsqlFunctionException(KsqlException):
    pass


class SerializationError(KsqlException):
    pass


class StreamsException(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Java class names used by ksqlDB's test files, mapped to ours (for `expectedException.type`).
JAVA_EXCEPTION_CLASSES: dict[str, tuple[type[BaseException], ...]] = {
    "io.confluent.ksql.util.KsqlException": (KsqlException,),
    "io.confluent.ksql.util.KsqlStatementException": (KsqlStatementException,),
    "io.confluent.ksql.parser.exception.ParseFailedException": (ParseFailedException,),
    "io.confluent.ksql.function.KsqlFunctionException": (KsqlFunctionException,),
    "org.apache.kafka.streams.errors.StreamsException": (StreamsException,),
    "java.lang.RuntimeException": (Exception,),
}
