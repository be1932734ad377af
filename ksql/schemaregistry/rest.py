"""A client for Confluent Schema Registry's REST API (``/subjects``, ``/schemas/ids``).

Schemas by id never change, so they are cached; subject lookups go to the server each time.
Requests are synchronous: serdes call the registry only when they meet a schema id for the first
time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from ksql.schemaregistry.client import (
    AVRO,
    RegisteredSchema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
    SchemaVersion,
)

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RestSchemaRegistry(SchemaRegistryClient):
    def __init__(self, url: str, *, user_info: str | None = None, timeout: float = 10.0) -> None:
        # several URLs may be configured (comma separated): use the first
        self.url = url.split(",")[0].strip().rstrip("/")
        auth = None
        if user_info and ":" in user_info:
            user, _, password = user_info.partition(":")
            auth = httpx.BasicAuth(user, password)
        self._http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout,
                                  headers={"Accept": _CONTENT_TYPE, "Content-Type": _CONTENT_TYPE})
        self._by_id: dict[int, RegisteredSchema] = {}

    def close(self) -> None:
        self._http.close()

    # -- transport --------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise SchemaRegistryError(f"Schema registry at {self.url} is not reachable: {e}") from e
        if resp.status_code >= 400:
            try:
                err = resp.json()
                message, code = str(err.get("message", resp.text)), err.get("error_code")
            except ValueError:
                message, code = resp.text, None
            raise SchemaRegistryError(message, resp.status_code, code)
        return resp.json() if resp.content else None

    def _get_or_none(self, path: str) -> Any:
        try:
            return self._request("GET", path)
        except SchemaRegistryError as e:
            if e.status == 404:
                return None
            raise

    # -- interface --------------------------------------------------------------------------
    def register(self, subject: str, schema: RegisteredSchema, *, schema_id: int | None = None) -> int:
        body = _schema_body(schema)
        if schema_id is not None:
            body["id"] = schema_id
        out = self._request("POST", f"/subjects/{_q(subject)}/versions", body)
        new_id = int(out["id"])
        self._by_id.setdefault(new_id, schema)
        return new_id

    def latest(self, subject: str) -> SchemaVersion | None:
        return self._version_at(subject, "latest")

    def version(self, subject: str, version: int) -> SchemaVersion | None:
        return self._version_at(subject, str(version))

    def _version_at(self, subject: str, version: str) -> SchemaVersion | None:
        out = self._get_or_none(f"/subjects/{_q(subject)}/versions/{version}")
        if out is None:
            return None
        schema = _schema_of(out)
        self._by_id.setdefault(int(out["id"]), schema)
        return SchemaVersion(out.get("subject", subject), int(out["version"]), int(out["id"]), schema)

    def by_id(self, schema_id: int) -> RegisteredSchema | None:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        out = self._get_or_none(f"/schemas/ids/{schema_id}")
        if out is None:
            return None
        schema = _schema_of(out)
        self._by_id[schema_id] = schema
        return schema

    def subjects(self) -> list[str]:
        return [str(s) for s in self._request("GET", "/subjects") or []]

    def versions(self, subject: str) -> list[int]:
        return [int(v) for v in self._get_or_none(f"/subjects/{_q(subject)}/versions") or []]

    def delete_subject(self, subject: str) -> list[int]:
        try:
            return [int(v) for v in self._request("DELETE", f"/subjects/{_q(subject)}") or []]
        except SchemaRegistryError as e:
            if e.status == 404:
                return []
            raise

    def lookup(self, subject: str, schema: RegisteredSchema) -> int | None:
        out = self._get_or_none_post(f"/subjects/{_q(subject)}", _schema_body(schema))
        return None if out is None else int(out["id"])

    def _get_or_none_post(self, path: str, body: Any) -> Any:
        try:
            return self._request("POST", path, body)
        except SchemaRegistryError as e:
            if e.status == 404:
                return None
            raise


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _schema_body(schema: RegisteredSchema) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema.schema}
    if schema.schema_type != AVRO:  # the API's default type
        body["schemaType"] = schema.schema_type
    if schema.references:
        body["references"] = [{"name": r.name, "subject": r.subject, "version": r.version}
                              for r in schema.references]
    return body


def _schema_of(payload: dict[str, Any]) -> RegisteredSchema:
    refs = tuple(SchemaReference(str(r["name"]), str(r["subject"]), int(r["version"]))
                 for r in payload.get("references") or [])
    return RegisteredSchema(str(payload["schema"]), str(payload.get("schemaType") or AVRO), refs)
