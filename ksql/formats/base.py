"""What every key/value format is: a :class:`Format` that validates a column list and builds a
:class:`Serde` for it.

A serde turns the values of a record's key or value columns (in column order, held as described in
``ksql.sqltypes``) into the bytes of a Kafka record and back. Failures to (de)serialize a record raise
:class:`~ksql.errors.SerializationError`; the runtime logs those to the processing log and skips the
record. Problems with a schema (a type the format cannot carry, wrapping it does not support) raise
:class:`~ksql.errors.KsqlException` with ksqlDB's messages when the serde is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar, NoReturn

from ksql.errors import KsqlException, SerializationError
from ksql.sqltypes import BaseType, SqlType

Column = tuple[str, SqlType]  # column name (case as stored) and type
Values = list[Any]  # column values in column order


class SerdeFeature(StrEnum):
    """How a single-column key or value is laid out (ksqlDB's ``WRAP_SINGLE_VALUE`` property)."""

    WRAP_SINGLES = "WRAP_SINGLES"  # {"COL": v}
    UNWRAP_SINGLES = "UNWRAP_SINGLES"  # v


class SchemaRegistryNotConfigured(KsqlException):
    """A format that keeps its schema in a schema registry was requested (HTTP error 42801)."""


class Serde(ABC):
    """Serializer/deserializer pair for one column list of one format."""

    def __init__(self, columns: Sequence[Column], *, is_key: bool, topic: str = "") -> None:
        self.columns: tuple[Column, ...] = tuple(columns)
        self.is_key = is_key
        self.topic = topic

    @property
    def target(self) -> str:
        return "key" if self.is_key else "value"

    @abstractmethod
    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        """Bytes for the column values; ``None`` values (a tombstone / no key) give ``None``."""

    @abstractmethod
    def deserialize(self, data: bytes | None) -> Values | None:
        """Column values in column order; ``None`` for a null record (``data is None``)."""

    def _check_count(self, values: Sequence[Any]) -> None:
        if len(values) != len(self.columns):
            raise_count_mismatch(len(self.columns), len(values), serialization=True, topic=self.topic)


class VoidSerde(Serde):
    """No columns: whatever the bytes hold is ignored, nothing is written."""

    def serialize(self, values: Sequence[Any] | None) -> bytes | None:
        return None

    def deserialize(self, data: bytes | None) -> Values | None:
        return None if data is None and not self.is_key else []


class Format(ABC):
    """A named key/value format with its validated WITH-clause properties (e.g. ``delimiter``).

    Subclasses differ by class attributes and by :meth:`_check_columns` / :meth:`_make_serde`.
    """

    name: ClassVar[str]
    features: ClassVar[frozenset[SerdeFeature]] = frozenset()
    supported_properties: ClassVar[frozenset[str]] = frozenset()
    serializes_empty: ClassVar[bool] = False  # a value with no columns is still written (e.g. "{}")

    def __init__(self, properties: Mapping[str, str] | None = None) -> None:
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        self.validate_properties(props)
        self.properties: dict[str, str] = props

    # -- properties ----------------------------------------------------------------------
    @classmethod
    def validate_properties(cls, properties: Mapping[str, str]) -> None:
        unknown = [k for k in properties if k not in cls.supported_properties]
        if unknown:
            raise KsqlException(f"{cls.name} does not support the following configs: [{', '.join(unknown)}]")
        for k, v in properties.items():
            if not v.strip():
                shown = ", ".join(f"{a}={b}" for a, b in properties.items())
                raise KsqlException(f"{k} cannot be empty. Format configuration: {{{shown}}}")

    # -- schema checks -------------------------------------------------------------------
    def validate_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        """Raise :class:`KsqlException` with the bare reason if this format cannot carry ``columns``."""
        self._check_columns(columns, is_key=is_key)

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:  # noqa: B027
        """Default: every type is fine."""

    # -- serdes --------------------------------------------------------------------------
    def serde(
        self,
        columns: Sequence[Column],
        *,
        is_key: bool,
        wrap_single: bool | None = None,
        properties: Mapping[str, str] | None = None,
        topic: str = "",
    ) -> Serde:
        """Build the serde for ``columns``.

        ``wrap_single`` is the WRAP_SINGLE_VALUE setting: ``None`` takes the format's default (values
        wrapped where the format can wrap, keys unwrapped), ``True``/``False`` force it and are rejected
        with ksqlDB's message where the format cannot honour them. ``properties`` override the format's
        own. ``topic`` only appears in error messages.
        """
        if properties:
            return type(self)({**self.properties, **properties}).serde(
                columns, is_key=is_key, wrap_single=wrap_single, topic=topic
            )
        self.validate_columns(columns, is_key=is_key)
        if not columns and (is_key or not self.serializes_empty):
            return VoidSerde(columns, is_key=is_key, topic=topic)
        unwrapped = self._unwrapped(len(columns), is_key=is_key, wrap_single=wrap_single)
        return self._make_serde(columns, is_key=is_key, unwrapped=unwrapped, topic=topic)

    def _unwrapped(self, n_columns: int, *, is_key: bool, wrap_single: bool | None) -> bool:
        if wrap_single is not None and not is_key:
            check_wrapping(self, n_columns, wrap_single)
        if n_columns != 1:
            return False
        if wrap_single is None:
            return is_key or SerdeFeature.WRAP_SINGLES not in self.features
        if wrap_single and SerdeFeature.WRAP_SINGLES not in self.features:
            raise wrapping_unsupported(self.name, True)
        return not wrap_single

    @abstractmethod
    def _make_serde(
        self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str
    ) -> Serde: ...

    # -- identity ------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.properties!r})" if self.properties else f"{type(self).__name__}()"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and type(other) is type(self) and other.properties == self.properties

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.properties.items()))))


# -- ksqlDB's schema-validation messages ------------------------------------------------------


def column_str(column: Column, is_key: bool = False) -> str:
    name, t = column
    return f"`{name.replace('`', '``')}` {t}{' KEY' if is_key else ''}"


def columns_str(columns: Sequence[Column], is_key: bool = False) -> str:
    return "[" + ", ".join(column_str(c, is_key) for c in columns) + "]"


def persistence_str(columns: Sequence[Column], *, is_key: bool, features: Sequence[SerdeFeature] = ()) -> str:
    feats = ", ".join(f.value for f in features)
    return f"Persistence{{columns={columns_str(columns, is_key)}, features=[{feats}]}}"


def contains_map(t: SqlType) -> bool:
    if t.base is BaseType.MAP:
        return True
    if t.base is BaseType.ARRAY:
        return contains_map(t.element)  # type: ignore[arg-type]
    if t.base is BaseType.STRUCT:
        return any(contains_map(ft) for _, ft in t.fields)
    return False


def has_non_string_map_key(t: SqlType) -> bool:
    """A MAP (at any depth) keyed by something other than STRING: JSON, Avro and Protobuf refuse it."""
    if t.base is BaseType.MAP:
        return t.key.base is not BaseType.STRING or has_non_string_map_key(t.element)  # type: ignore[union-attr,arg-type]
    if t.base is BaseType.ARRAY:
        return has_non_string_map_key(t.element)  # type: ignore[arg-type]
    if t.base is BaseType.STRUCT:
        return any(has_non_string_map_key(ft) for _, ft in t.fields)
    return False


def check_key_maps(columns: Sequence[Column]) -> None:
    """Keys may not hold maps in any format (their serialized order is not stable)."""
    for name, t in columns:
        if contains_map(t):
            raise KsqlException(
                "Map keys, including types that contain maps, are not supported as they may lead to "
                "unexpected behavior due to inconsistent serialization. "
                f"Key column name: `{name}`. Column type: {t}. "
                "See https://github.com/confluentinc/ksql/issues/6621 for more."
            )


def check_schema(
    fmt: Format,
    columns: Sequence[Column],
    *,
    is_key: bool,
    features: Sequence[SerdeFeature] = (),
) -> None:
    """Validate ``columns`` against ``fmt`` as ksqlDB does when it builds a source's serdes.

    Raises :class:`KsqlException` reading ``Key format does not support schema.\\nformat: KAFKA\\n
    schema: Persistence{...}\\nreason: ...`` (or ``Value format ...``); key columns holding maps get
    their own message first.
    """
    if is_key:
        check_key_maps(columns)
    try:
        fmt.validate_columns(columns, is_key=is_key)
    except KsqlException as e:
        target = "Key" if is_key else "Value"
        raise KsqlException(
            f"{target} format does not support schema.\n"
            f"format: {fmt.name}\n"
            f"schema: {persistence_str(columns, is_key=is_key, features=features)}\n"
            f"reason: {e.message}"
        ) from e


def wrapping_unsupported(format_name: str, wrap: bool) -> KsqlException:
    return KsqlException(
        f"Format '{format_name}' does not support 'WRAP_SINGLE_VALUE' set to '{str(wrap).lower()}'."
    )


def check_wrapping(fmt: Format | type[Format], n_columns: int, wrap_single: bool) -> None:
    """An explicit WRAP_SINGLE_VALUE needs a single value column and a format that honours it."""
    if n_columns != 1:
        raise KsqlException("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
    wanted = SerdeFeature.WRAP_SINGLES if wrap_single else SerdeFeature.UNWRAP_SINGLES
    if wanted not in fmt.features:
        raise wrapping_unsupported(fmt.name, wrap_single)


def value_features(
    fmt: Format | type[Format],
    n_columns: int,
    *,
    wrap_single: bool | None = None,
    default_wrap: bool | None = None,
) -> tuple[SerdeFeature, ...]:
    """Serde features of a value schema: the explicit WRAP_SINGLE_VALUE (validated), else the
    ``ksql.persistence.wrap.single.values`` default where the format supports it."""
    if wrap_single is not None:
        check_wrapping(fmt, n_columns, wrap_single)
        return (SerdeFeature.WRAP_SINGLES if wrap_single else SerdeFeature.UNWRAP_SINGLES,)
    if n_columns != 1 or default_wrap is None:
        return ()
    feature = SerdeFeature.WRAP_SINGLES if default_wrap else SerdeFeature.UNWRAP_SINGLES
    return (feature,) if feature in fmt.features else ()


def key_features(fmt: Format | type[Format], n_columns: int) -> tuple[SerdeFeature, ...]:
    """Single-column keys are unwrapped, recorded as a feature only where the format could wrap."""
    both = {SerdeFeature.WRAP_SINGLES, SerdeFeature.UNWRAP_SINGLES}
    if n_columns == 1 and both <= fmt.features:
        return (SerdeFeature.UNWRAP_SINGLES,)
    return ()


def wrap_single_of(features: Sequence[SerdeFeature]) -> bool | None:
    """The ``wrap_single`` argument of :meth:`Format.serde` that a feature list means."""
    if SerdeFeature.WRAP_SINGLES in features:
        return True
    if SerdeFeature.UNWRAP_SINGLES in features:
        return False
    return None


def raise_count_mismatch(expected: int, got: int, *, serialization: bool, topic: str) -> NoReturn:
    raise SerializationError(
        f"Column count mismatch on {'serialization' if serialization else 'deserialization'}. "
        f"topic: {topic}, expected: {expected}, got: {got}"
    )
