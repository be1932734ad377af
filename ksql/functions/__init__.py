"""Built-in functions. Importing this package registers every function module in the registries."""

from ksql.functions import registry
from ksql.functions.registry import AGGREGATE_FUNCTIONS, SCALAR_FUNCTIONS, TABLE_FUNCTIONS

_MODULES = (
    "scalar_string",
    "scalar_regex",
    "scalar_bytes",
    "scalar_nulls",
    "scalar_math",
    "scalar_json",
    "scalar_url",
    "scalar_datetime",
    "scalar_collections",
    "scalar_misc",
    "aggregates",
    "table_functions",
)


def load_all() -> None:
    import importlib

    for name in _MODULES:
        try:
            importlib.import_module(f"ksql.functions.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"ksql.functions.{name}":
                raise


load_all()

__all__ = ["AGGREGATE_FUNCTIONS", "SCALAR_FUNCTIONS", "TABLE_FUNCTIONS", "load_all", "registry"]
