"""Stable buckets of account ids: the same on every machine and every run (CRC-32, not Python's hash)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np


def stable_bucket(account_ids: Iterable[object], buckets: int) -> np.ndarray:
    """Bucket ``0 .. buckets - 1`` of each account id."""
    return np.array([zlib.crc32(str(a).encode()) % buckets for a in account_ids], dtype=np.int64)


def _crc_table() -> np.ndarray:
    """The CRC-32 table of zlib (reflected polynomial 0xEDB88320)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC = _crc_table()


def text_buckets(offsets: np.ndarray, data: np.ndarray, buckets: int) -> np.ndarray:
    """``stable_bucket`` of many UTF-8 texts at once, vectorised over the texts, one byte position at a time.

    Args:
        offsets: Where each text starts in ``data`` and where the last ends (Arrow's offsets, ``len + 1``).
        data: The texts' bytes, one after another.
        buckets: How many buckets.
    """
    starts, lengths = offsets[:-1], np.diff(offsets)
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    for position in range(int(lengths.max(initial=0))):
        active = lengths > position
        if active.all():
            crc = _CRC[(crc ^ data[starts + position]) & 0xFF] ^ (crc >> 8)
        else:
            some = crc[active]
            crc[active] = _CRC[(some ^ data[starts[active] + position]) & 0xFF] ^ (some >> 8)
    return ((crc ^ np.uint32(0xFFFFFFFF)) % buckets).astype(np.int64)
