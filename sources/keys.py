"""Stable buckets of account ids: the same on every machine and every run (CRC-32, not Python's hash)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np


def stable_bucket(account_ids: Iterable[object], buckets: int) -> np.ndarray:
    """Bucket ``0 .. buckets - 1`` of each account id."""
    return np.array([zlib.crc32(str(a).encode()) % buckets for a in account_ids], dtype=np.int64)
