"""Key and value serialization formats (JSON, DELIMITED, KAFKA, NONE) and windowed keys.

Typical use::

    fmt = get_format("DELIMITED", {"delimiter": "|"})
    check_schema(fmt, value_columns, is_key=False)          # ksqlDB's validation messages
    serde = fmt.serde(value_columns, is_key=False, wrap_single=None, topic="orders")
    data = serde.serialize([1, "a"])                        # b'1|a'
    serde.deserialize(data)                                 # [1, 'a']
"""

from ksql.formats.base import (
    Column,
    Format,
    SchemaRegistryNotConfigured,
    Serde,
    SerdeFeature,
    VoidSerde,
    check_key_maps,
    check_schema,
    check_wrapping,
    columns_str,
    key_features,
    persistence_str,
    value_features,
    wrap_single_of,
)
from ksql.formats.delimited import DelimitedFormat, parse_delimiter
from ksql.formats.json import JsonFormat
from ksql.formats.kafka import KafkaFormat
from ksql.formats.none import NoneFormat
from ksql.formats.registry import FORMATS, format_class, get_format
from ksql.formats.schema_registry import (
    AvroFormat,
    JsonSchemaFormat,
    ProtobufFormat,
    ProtobufNoSrFormat,
    SchemaRegistryFormat,
)
from ksql.formats.windowed import WindowedSerde, deserialize_windowed, serialize_windowed, time_window_end

__all__ = [
    "FORMATS",
    "AvroFormat",
    "Column",
    "DelimitedFormat",
    "Format",
    "JsonFormat",
    "JsonSchemaFormat",
    "KafkaFormat",
    "NoneFormat",
    "ProtobufFormat",
    "ProtobufNoSrFormat",
    "SchemaRegistryFormat",
    "SchemaRegistryNotConfigured",
    "Serde",
    "SerdeFeature",
    "VoidSerde",
    "WindowedSerde",
    "check_key_maps",
    "check_schema",
    "check_wrapping",
    "columns_str",
    "deserialize_windowed",
    "format_class",
    "get_format",
    "key_features",
    "parse_delimiter",
    "persistence_str",
    "serialize_windowed",
    "time_window_end",
    "value_features",
    "wrap_single_of",
]
