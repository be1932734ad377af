"""Kafka's default key partitioner: 32-bit murmur2 of the serialized key, made positive, modulo the
partition count. Matching it bit for bit means a key lands on the same partition whether the record
was produced by us, by a Java client or by a real broker's tooling."""

from __future__ import annotations

from functools import lru_cache

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: a signed 32-bit int, as Java returns it."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end4 = length & ~3
    for i in range(0, end4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[end4 + 2] << 16
    if rest >= 2:
        h ^= data[end4 + 1] << 8
    if rest >= 1:
        h ^= data[end4]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Kafka's ``Utils.toPositive``: clears the sign bit (not ``abs``, which overflows on MIN_VALUE)."""
    return number & 0x7FFFFFFF


@lru_cache(maxsize=1 << 16)
def _positive_hash(key: bytes) -> int:
    # keys repeat, and murmur2 in Python costs a few microseconds
    return to_positive(murmur2(key))


def partition_for_key(key: bytes, partitions: int) -> int:
    return _positive_hash(key) % partitions
