"""Schema inference and registration for statements using schema-registry formats.

- :meth:`SchemaInjector.inject_create`: a CREATE STREAM/TABLE without key (or value) columns takes
  them from the registry, from the subject's latest schema or the schema ``KEY_SCHEMA_ID`` /
  ``VALUE_SCHEMA_ID`` names (ksqlDB's DefaultSchemaInjector; the statement gains the columns).
- :meth:`SchemaInjector.register_source` / :meth:`register_sink`: CREATE registers the schema of its
  columns when the subject does not exist yet, CREATE ... AS SELECT always registers its sink's
  schemas; schemas named by id are registered under the subject as they are (SchemaRegisterInjector).
- :func:`format_properties`: the WITH properties that become format properties (schema id, full
  schema name, protobuf nullable representation).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ksql.catalog import DataSource, FormatInfo
from ksql.dialect import nodes
from ksql.errors import KsqlException
from ksql.formats.base import SchemaRegistryNotConfigured
from ksql.formats.connect import to_columns
from ksql.formats.registry import format_class, get_format
from ksql.formats.sr import FULL_SCHEMA_NAME, SCHEMA_ID, SchemaRegistryFormat
from ksql.schemaregistry.client import SchemaRegistryClient, SchemaRegistryError, subject_name
from ksql.sqltypes import SqlType

if TYPE_CHECKING:
    from ksql.engine.config import Config
    from ksql.formats.sr import PhysicalSchema

SR_PROPERTY_NAMES = {
    "KEY_SCHEMA_ID", "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME", "VALUE_SCHEMA_FULL_NAME",
    "VALUE_AVRO_SCHEMA_FULL_NAME", "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
}
# format properties that describe one topic's schema: a sink never inherits them from its source
TOPIC_SCHEMA_PROPERTIES = {SCHEMA_ID, FULL_SCHEMA_NAME}


def format_properties(props: dict[str, Any], which: str) -> dict[str, str]:
    """Format properties from a WITH clause (``which``: KEY or VALUE)."""
    out: dict[str, str] = {}
    sid = props.get(f"{which}_SCHEMA_ID")
    if sid is not None:
        out[SCHEMA_ID] = str(sid)
    full = props.get(f"{which}_SCHEMA_FULL_NAME")
    if full is None and which == "VALUE":
        full = props.get("VALUE_AVRO_SCHEMA_FULL_NAME")
    if full is not None:
        out[FULL_SCHEMA_NAME] = str(full)
    nullable = props.get(f"{which}_PROTOBUF_NULLABLE_REPRESENTATION")
    if nullable is not None:
        out["nullableRepresentation"] = str(nullable).lower()
    return out


def supports_inference(format_name: str) -> bool:
    try:
        cls = format_class(format_name)
    except KsqlException:
        return False
    return issubclass(cls, SchemaRegistryFormat) and cls.needs_registry


def _format_names(props: dict[str, Any], config: Config) -> tuple[str, str | None]:
    fmt = props.get("FORMAT")
    key = props.get("KEY_FORMAT") or fmt or config.get("ksql.persistence.default.format.key") or "KAFKA"
    value = props.get("VALUE_FORMAT") or fmt or config.get("ksql.persistence.default.format.value")
    return str(key).upper(), None if value is None else str(value).upper()


def _column_text(name: str, t: SqlType, is_key: bool) -> str:
    return f"`{name}` {t}{' KEY' if is_key else ''}"


class SchemaInjector:
    def __init__(self, registry: SchemaRegistryClient | None) -> None:
        self.registry = registry

    # -- inference ---------------------------------------------------------------------------
    def inject_create(self, stmt: nodes.CreateSource, config: Config) -> nodes.CreateSource:
        props = stmt.properties
        topic = props.get("KAFKA_TOPIC")
        key_format, value_format = _format_names(props, config)
        has_key = any(c.key for c in stmt.columns)
        has_value = any(not c.key and not c.headers and c.header_key is None for c in stmt.columns)
        infer_key = _should_infer(props.get("KEY_SCHEMA_ID"), key_format, has_key, is_key=True)
        infer_value = value_format is not None and _should_infer(
            props.get("VALUE_SCHEMA_ID"), value_format, has_value, is_key=False)
        if not (infer_key or infer_value) or topic is None:
            return stmt
        new_props = dict(props)
        key_cols: list[nodes.ColumnDef] = [c for c in stmt.columns if c.key]
        value_cols = [c for c in stmt.columns if not c.key and not c.headers and c.header_key is None]
        header_cols = [c for c in stmt.columns if c.headers or c.header_key is not None]
        table = stmt.kind == "TABLE"
        if infer_key:
            cols, name = self._infer(str(topic), key_format, props, is_key=True, unwrapped=None)
            key_cols = [nodes.ColumnDef(n, t, key=True, primary=table) for n, t in cols]
            if props.get("KEY_SCHEMA_ID") is not None and name and "KEY_SCHEMA_FULL_NAME" not in props:
                new_props["KEY_SCHEMA_FULL_NAME"] = name
        if infer_value:
            unwrapped = props.get("WRAP_SINGLE_VALUE") is False or str(props.get("WRAP_SINGLE_VALUE")).lower() == "false"
            cols, name = self._infer(str(topic), str(value_format), props, is_key=False, unwrapped=unwrapped)
            value_cols = [nodes.ColumnDef(n, t) for n, t in cols]
            if props.get("VALUE_SCHEMA_ID") is not None and name and "VALUE_SCHEMA_FULL_NAME" not in props:
                new_props["VALUE_SCHEMA_FULL_NAME"] = name
        return replace(stmt, columns=key_cols + value_cols + header_cols, properties=new_props)

    def _infer(self, topic: str, format_name: str, props: dict[str, Any], *, is_key: bool,
               unwrapped: bool | None) -> tuple[list[tuple[str, SqlType]], str | None]:
        which = "KEY" if is_key else "VALUE"
        fmt_props = {k: v for k, v in format_properties(props, which).items() if k != SCHEMA_ID}
        fmt = get_format(format_name, fmt_props, topic=topic, registry=self.registry)
        assert isinstance(fmt, SchemaRegistryFormat) and self.registry is not None
        sid = props.get(f"{which}_SCHEMA_ID")
        schema_id = None if sid is None else int(sid)
        subject = subject_name(topic, is_key)
        try:
            if schema_id is not None:
                registered = self.registry.by_id(schema_id)
            else:
                latest = self.registry.latest(subject)
                registered = None if latest is None else latest.schema
        except SchemaRegistryError as e:
            if e.status in (401, 403, 404):
                registered = None
            else:
                raise KsqlException(
                    f"Schema registry fetch for topic {which.lower()} request failed for "
                    f"{_source_msg(topic, schema_id)}") from e
        if registered is None:
            raise KsqlException(_not_found(topic, schema_id, is_key, subject))
        if registered.schema_type != fmt.schema_type:
            prop = f"{which}_FORMAT"
            raise KsqlException(
                f"{which.capitalize()} schema is not in the expected format. You may want to set {prop} to "
                f"'{registered.schema_type}'.\n{_source_msg(topic, schema_id)}\n"
                f"expected format: {fmt.schema_type}\nactual format from Schema Registry: {registered.schema_type}")
        try:
            physical = fmt.parse(registered)
            if is_key:
                unwrapped = fmt.unwrapped_for(1, is_key=True, wrap_single=None)
            columns = to_columns(physical.connect, is_key=is_key, unwrapped=bool(unwrapped),
                                 upper=schema_id is None)
        except KsqlException as e:
            raise KsqlException(
                f"Unable to verify if the {which.lower()} schema for {_source_msg(topic, schema_id)} is "
                f"compatible with ksqlDB.\nReason: {e.message}\n\n"
                "Please see https://github.com/confluentinc/ksql/issues/ to see if this particular reason is "
                "already known.\nIf not, please log a new issue, including this full error message.\n"
                f"Schema:{registered.schema}") from e
        if not fmt.full_schema_name():
            names = physical.definitions()
            if len(names) > 1:
                prop = f"{which}_SCHEMA_FULL_NAME"
                raise KsqlException(
                    f"{which.capitalize()} schema has multiple schema definitions. \n\n"
                    + "\n".join(f"- {n}" for n in names)
                    + f"\n\nPlease specify a schema full name in the WITH clause using {prop}")
        if is_key and len(columns) > 1:
            raise KsqlException(
                f"The key schema for {_source_msg(topic, schema_id)} contains multiple columns, which is not "
                f"supported by ksqlDB at this time.\nSchema:{registered.schema}")
        return columns, physical.name

    # -- ASSERT SCHEMA ------------------------------------------------------------------------
    def assert_schema(self, stmt: nodes.Assert) -> dict[str, Any]:
        """``ASSERT [NOT EXISTS] SCHEMA [SUBJECT 's'] [ID n]``: the entity, or ksqlDB's error."""
        if self.registry is None:
            raise SchemaRegistryNotConfigured(
                "Cannot check schema existence: 'ksql.schema.registry.url' is not configured")
        subject = stmt.name or None
        schema_id = None if stmt.schema_id is None else int(stmt.schema_id)
        try:
            if subject is not None and schema_id is not None:
                exists = any((sv := self.registry.version(subject, v)) is not None and sv.id == schema_id
                             for v in self.registry.versions(subject))
            elif schema_id is not None:
                exists = self.registry.by_id(schema_id) is not None
            else:
                exists = subject is not None and self.registry.latest(subject) is not None
        except SchemaRegistryError as e:
            raise KsqlException(f"Cannot check schema existence: {e.message}") from e
        shown = (f" subject name {subject}" if subject else "") + (f" id {schema_id}" if schema_id is not None else "")
        if stmt.exists and not exists:
            raise KsqlException(f"Schema with{shown} does not exist")
        if not stmt.exists and exists:
            raise KsqlException(f"Schema with{shown} exists")
        return {"@type": "assert_schema", "statementText": stmt.text, "subject": subject, "id": schema_id,
                "exists": stmt.exists, "warnings": []}

    # -- registration ------------------------------------------------------------------------
    def register_source(self, src: DataSource) -> None:
        """CREATE STREAM/TABLE: register the columns' schemas where the subjects are new."""
        self._register(src, always=False)

    def register_sink(self, sink: DataSource) -> None:
        """CREATE ... AS SELECT: the sink's schemas become the subjects' latest versions."""
        self._register(sink, always=True)

    def _register(self, src: DataSource, *, always: bool) -> None:
        for info, columns, is_key in ((src.key_format, src.schema.key, True),
                                      (src.value_format, src.schema.value, False)):
            if not supports_inference(info.name):
                continue
            fmt = get_format(info.name, source_format_properties(info, src.name, is_key), topic=src.topic,
                             registry=self.registry)
            assert isinstance(fmt, SchemaRegistryFormat) and self.registry is not None
            cols = [(c.name, c.type) for c in columns]
            if not cols and (is_key or not fmt.serializes_empty):
                continue
            subject = subject_name(src.topic, is_key)
            schema_id = fmt.schema_id()
            try:
                if schema_id is not None:
                    physical = fmt.physical_by_id(schema_id)
                    self._check_compatible(physical, cols, is_key, schema_id)
                    registered_id = self.registry.register(subject, physical.registered)
                    if registered_id != schema_id:
                        which = "KEY_SCHEMA_ID" if is_key else "VALUE_SCHEMA_ID"
                        raise KsqlException(
                            f"Schema id registered is {registered_id} which is different from provided {which} "
                            f"{schema_id}.\nTopic: {src.topic}\nSubject: {subject}\n"
                            f"Schema: {physical.registered.schema}")
                    continue
                if not always and self.registry.subject_exists(subject):
                    continue
                unwrapped = fmt.unwrapped_for(len(cols), is_key=is_key,
                                              wrap_single=None if is_key else info.wrap_single)
                registered = fmt.physical_for_columns(cols, is_key=is_key, unwrapped=unwrapped).registered
                self.registry.register(subject, registered)
            except SchemaRegistryError as e:
                raise KsqlException(f"Could not register schema for topic: {e.message}") from e

    @staticmethod
    def _check_compatible(physical: PhysicalSchema, cols: list[tuple[str, SqlType]], is_key: bool,
                          schema_id: int) -> None:
        """A sink written with a registered schema must have the schema's columns, in order."""
        unwrapped = len(cols) == 1 and physical.connect.type.value != "struct"
        inferred = to_columns(physical.connect, is_key=is_key, unwrapped=unwrapped, upper=False)
        missing = [c for i, c in enumerate(cols) if i >= len(inferred) or inferred[i] != c]
        if unwrapped and inferred and cols:
            missing = [] if inferred[0][1] == cols[0][1] else cols
        if missing:
            shown = ", ".join(_column_text(n, t, is_key) for n, t in missing)
            registry_cols = ", ".join(_column_text(n, t, is_key) for n, t in inferred)
            raise KsqlException(
                f"The following {'key' if is_key else 'value'} columns are changed, missing or reordered: "
                f"[{shown}]. Schema from schema registry is [{registry_cols}]")


def source_format_properties(info: FormatInfo, source_name: str, is_key: bool) -> dict[str, Any]:
    """A source's format properties as its serdes see them: AVRO keys are named after the source
    (``<Source>Key``) unless a full schema name was given."""
    props = dict(info.properties)
    if is_key and info.name == "AVRO" and FULL_SCHEMA_NAME not in props:
        from ksql.formats.avro import key_schema_name

        props[FULL_SCHEMA_NAME] = key_schema_name(source_name)
    return props


def _should_infer(schema_id: Any, format_name: str, has_elements: bool, *, is_key: bool) -> bool:
    which = "KEY" if is_key else "VALUE"
    supported = supports_inference(format_name)
    if schema_id is not None:
        if not supported:
            raise KsqlException(
                f"{which}_FORMAT should support schema inference when {which}_SCHEMA_ID is provided. "
                f"Current format is {format_name}.")
        if has_elements:
            raise KsqlException(f"Table elements and {which}_SCHEMA_ID cannot both exist for create statement.")
        return True
    return not has_elements and supported


def _source_msg(topic: str | None, schema_id: int | None) -> str:
    parts = []
    if topic:
        parts.append(f"topic: {topic}")
    if schema_id is not None:
        parts.append(f"schema id: {schema_id}")
    return ", ".join(parts)


def _not_found(topic: str, schema_id: int | None, is_key: bool, subject: str) -> str:
    id_msg = f"Schema Id: {schema_id}\n" if schema_id is not None else ""
    return (
        f"Schema for message {'keys' if is_key else 'values'} on topic '{topic}' does not exist in the Schema "
        f"Registry.\nSubject: {subject}\n{id_msg}Possible causes include:\n- The topic itself does not exist\n"
        "\t-> Use SHOW TOPICS; to check\n"
        "- Messages on the topic are not serialized using a format Schema Registry supports\n"
        f"\t-> Use PRINT '{topic}' FROM BEGINNING; to verify\n"
        "- Messages on the topic have not been serialized using a Confluent Schema Registry supported "
        "serializer\n\t-> See https://docs.confluent.io/current/schema-registry/docs/serializer-formatter.html\n"
        "- The schema is registered on a different instance of the Schema Registry\n"
        "\t-> Use the REST API to list available subjects\t"
        "https://docs.confluent.io/current/schema-registry/docs/api.html#get--subjects\n"
        "- You do not have permissions to access the Schema Registry.\n"
        "\t-> See https://docs.confluent.io/current/schema-registry/docs/security.html"
    )


__all__ = ["SR_PROPERTY_NAMES", "SchemaInjector", "format_properties", "source_format_properties",
           "supports_inference"]
