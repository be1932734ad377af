"""ksqlDB's error bodies: ``generic_error`` and ``statement_error``; HTTP status = error code / 100."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from rest.values import dumps

BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
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


def error_response(code: int, message: str, statement: str | None = None) -> Response:
    return RestError(code, message, statement).response()
