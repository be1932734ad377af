"""ksqlDB's error bodies: ``generic_error`` and ``statement_error``; HTTP status = error code / 100."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from rest.values import dumps

BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
MAX_PUSH_QUERIES = 40003
HTTP2_ONLY = 40004
NOT_FOUND = 40400
SERVER_ERROR = 50000
NOT_READY = 50302
SHUTTING_DOWN = 50303

JSON = "application/json"


class RestError(Exception):
    """Raised by handlers to answer with an error body."""

    def __init__(self, code: int, message: str, statement: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.statement = statement

    def body(self) -> dict[str, Any]:
        if self.statement is None:
            return {"@type": "generic_error", "error_code": self.code, "message": self.message}
        return {"@type": "statement_error", "error_code": self.code, "message": self.message,
                "statementText": self.statement, "entities": []}

    def response(self) -> Response:
        return Response(dumps(self.body()), status_code=self.code // 100, media_type=JSON)


# what a statement that trips over a server bug raises: the statement cannot be processed, which
# is the client's answer (4xx); an I/O failure (anything else) stays a server error
_BUG_TYPES = (AttributeError, TypeError, ValueError, KeyError, IndexError, AssertionError, ArithmeticError,
              RecursionError, NotImplementedError, UnicodeError)


def from_unexpected(e: Exception, statement: str) -> RestError | None:
    """A 400 for an unexpected error raised while processing ``statement``, or None when the
    error is not one bad input can cause."""
    if not isinstance(e, _BUG_TYPES):
        return None
    return RestError(BAD_STATEMENT, f"The statement could not be processed ({type(e).__name__}: {e}). This is a "
                                    "server bug; the server log has the details.", statement)


def error_response(code: int, message: str, statement: str | None = None) -> Response:
    return RestError(code, message, statement).response()
