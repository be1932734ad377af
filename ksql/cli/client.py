"""The shell's HTTP client for the ksql REST API.

Statements go to ``/ksql`` and come back as a list of entities; SELECT and PRINT go to
``/query`` and are read line by line while the server streams them (the v1 JSON array is written
one element per line). Errors:

    ServerUnavailable   the server did not answer (refused, reset, DNS, ...)
    ServerError         the server answered with an error body (status >= 400)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from ksql.cli.render import loads

Entity = dict[str, Any]

_V1_JSON = "application/vnd.ksql.v1+json"


class ServerUnavailable(Exception):
    """The server could not be reached; ``str()`` is the message the shell prints."""

    def __init__(self, url: str, method: str, path: str, cause: Exception) -> None:
        self.url = url
        self.cause = str(cause) or type(cause).__name__
        super().__init__("\n".join([
            f"Error issuing {method} to KSQL server. path:{path}",
            f"Caused by: {self.cause}",
            "Caused by: Could not connect to the server. Please check the server details are correct "
            "and that the server is running.",
            f"Could not reach a ksql server at {url}. Start one with `ksql-server`, or pass the "
            "server's URL: ksql http://host:8088",
        ]))


class QueryTimedOut(Exception):
    """No data within the ``--query-timeout`` of a query."""


class ServerError(Exception):
    """An error body from the server (``generic_error`` or ``statement_error``)."""

    def __init__(self, status: int, body: Any, text: str = "") -> None:
        self.status = status
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.error_code = int(self.body.get("error_code") or status * 100)
        self.message = str(self.body.get("message") or f"The server returned an unexpected error: {status} {text}".strip())
        self.entities: list[Entity] = list(self.body.get("entities") or [])
        super().__init__(self.message)


class Client:
    def __init__(self, url: str, *, auth: tuple[str, str] | None = None, token: str | None = None,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self._auth = auth
        self._token = token
        self._transport = transport
        self._timeout = timeout
        self._url = url.rstrip("/")
        self.http = self._build()

    def _build(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        # no read timeout: push queries stream for as long as the user watches them
        return httpx.Client(base_url=self._url, auth=self._auth, headers=headers, transport=self._transport,
                            timeout=httpx.Timeout(self._timeout, read=None))

    @property
    def url(self) -> str:
        return self._url

    def set_server(self, url: str) -> None:
        self.http.close()
        self._url = url.rstrip("/")
        self.http = self._build()

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, *, stream: bool = False, timeout: float | httpx.Timeout | None = None,
              **kwargs: Any) -> httpx.Response:
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            request = self.http.build_request(method, path, **kwargs, **extra)
            return self.http.send(request, stream=stream)
        except httpx.InvalidURL as e:
            raise ValueError(f"Server URL must begin with protocol (e.g., http:// or https://): {e}") from None
        except httpx.TransportError as e:
            raise ServerUnavailable(self._url, method, path, e) from None

    @staticmethod
    def _check(r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                body = loads(r.content)
            except ValueError:
                body = None
            raise ServerError(r.status_code, body, r.reason_phrase)
        return loads(r.content) if r.content.strip() else None

    def info(self, timeout: float | None = None) -> dict[str, Any]:
        body = self._check(self._send("GET", "/info", timeout=timeout, headers={"Accept": _V1_JSON}))
        if not isinstance(body, dict) or "KsqlServerInfo" not in body:
            raise ServerError(200, {"message": f"{self._url} does not look like a ksql server (GET /info "
                                               "answered without KsqlServerInfo)"})
        return body["KsqlServerInfo"]  # type: ignore[no-any-return]

    @staticmethod
    def _request(sql: str, props: dict[str, Any], variables: dict[str, str], seq: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"ksql": sql, "streamsProperties": props, "sessionVariables": variables}
        if seq is not None:
            body["commandSequenceNumber"] = seq
        return body

    def ksql(self, sql: str, props: dict[str, Any], variables: dict[str, str], seq: int | None = None,
             timeout: float | None = None) -> list[Entity]:
        r = self._send("POST", "/ksql", json=self._request(sql, props, variables, seq),
                       headers={"Accept": _V1_JSON}, timeout=timeout)
        body = self._check(r)
        return body if isinstance(body, list) else []

    def is_valid_property(self, name: str) -> None:
        """Raises ServerError when the server refuses ``name`` as a property override. A server
        without the endpoint (404) leaves the check to the statements that use the property."""
        r = self._send("GET", f"/is_valid_property/{name}", headers={"Accept": _V1_JSON})
        if r.status_code == 404:
            return
        self._check(r)

    def query(self, sql: str, props: dict[str, Any], variables: dict[str, str], seq: int | None = None,
              raw_lines: bool = False, read_timeout: float | None = None) -> QueryStream:
        """Start a SELECT or PRINT; errors before the stream starts raise ServerError."""
        timeout = httpx.Timeout(self._timeout, read=read_timeout)
        r = self._send("POST", "/query", stream=True, json=self._request(sql, props, variables, seq),
                       headers={"Accept": "application/json"}, timeout=timeout)
        if r.status_code >= 400:
            try:
                r.read()
            finally:
                r.close()
            self._check(r)
        return QueryStream(r, self._url, raw_lines)

    def close_query(self, query_id: str) -> None:
        self._send("POST", "/close-query", json={"queryId": query_id}, timeout=2.0)


class QueryStream:
    """The elements of one ``/query`` response, as they arrive: dicts (``header``, ``row``,
    ``finalMessage``, ``errorMessage`` …), or text lines for PRINT."""

    def __init__(self, response: httpx.Response, url: str, raw_lines: bool) -> None:
        self.response = response
        self.url = url
        self.raw_lines = raw_lines
        self.query_id: str | None = None

    def __iter__(self) -> Iterator[Entity | str]:
        try:
            for line in self.response.iter_lines():
                if self.raw_lines:
                    yield line
                    continue
                element = _element(line)
                if element is None:
                    continue
                if isinstance(element, dict) and isinstance(element.get("header"), dict):
                    self.query_id = element["header"].get("queryId")
                yield element
        except httpx.ReadTimeout:
            raise QueryTimedOut from None
        except httpx.TransportError as e:
            raise ServerUnavailable(self.url, "POST", "/query", e) from None

    def close(self) -> None:
        self.response.close()


def _element(line: str) -> Any:
    """One element of the incrementally written JSON array: ``[{...},`` / ``{...},`` / ``{...}]``."""
    text = line.strip()
    if text.startswith("["):
        text = text[1:]
    if text.endswith(",") or text.endswith("]"):
        text = text[:-1]
    text = text.strip()
    if not text:
        return None
    try:
        return loads(text)
    except ValueError:
        return {"errorMessage": {"message": f"Unexpected line in the query response: {line}"}}
