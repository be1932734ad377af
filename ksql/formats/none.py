"""NONE: the key or value carries no columns; its bytes are ignored on read and never written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ksql.errors import KsqlException
from ksql.formats.base import Column, Format, Serde, VoidSerde, columns_str


class NoneFormat(Format):
    name: ClassVar[str] = "NONE"

    def _check_columns(self, columns: Sequence[Column], *, is_key: bool) -> None:
        if columns:
            raise KsqlException(
                f"The '{self.name}' format can only be used when no columns are defined. "
                f"Got: {columns_str(columns, is_key)}"
            )

    def _make_serde(self, columns: Sequence[Column], *, is_key: bool, unwrapped: bool, topic: str) -> Serde:
        return VoidSerde(columns, is_key=is_key, topic=topic)
