"""The per-account monthly counters a running hauler keeps: what its hazard and its save desk read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class History:
    """Per-account monthly counters, shape (months, accounts), that the hazard reads."""

    revenue: np.ndarray
    missed: np.ndarray
    late_pickups: np.ndarray
    overages: np.ndarray
    complaints: np.ndarray
    escalations: np.ndarray
    late_invoices: np.ndarray
    charges: np.ndarray
    """Event charges (overages, contamination) billed on the next invoice."""

    @classmethod
    def empty(cls, months: int, accounts: int) -> History:
        """All zeros."""
        counts = {
            name: np.zeros((months, accounts), dtype=np.int16)
            for name in ("missed", "late_pickups", "overages", "complaints", "escalations", "late_invoices")
        }
        return cls(
            revenue=np.zeros((months + 1, accounts), dtype=np.float32),
            charges=np.zeros((months, accounts), dtype=np.float32),
            **counts,
        )

    def last(self, name: str, month: int, span: int = 3) -> np.ndarray:
        """Sum of a counter over the ``span`` months ending with ``month``."""
        counter = getattr(self, name)
        return counter[max(0, month - span + 1) : month + 1].sum(axis=0, dtype=np.int32)
