"""State stores: key-value, window and session state over RocksDB or memory, with changelogs."""

from state.manager import StateManager
from state.memory import MemoryStorePartition
from state.recovery import restore, restore_from_topic
from state.rocksdb import RocksDBStorePartition
from state.session import SessionStore
from state.store import StorePartition, WriteBatch
from state.transaction import PartitionTransaction, TransactionError, TransactionState
from state.window import WindowStore

__all__ = [
    "MemoryStorePartition",
    "PartitionTransaction",
    "RocksDBStorePartition",
    "SessionStore",
    "StateManager",
    "StorePartition",
    "TransactionError",
    "TransactionState",
    "WindowStore",
    "WriteBatch",
    "restore",
    "restore_from_topic",
]
