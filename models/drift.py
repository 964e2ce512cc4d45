"""Drift: how far tonight's features and scores have moved from what the model was trained on.

``profile`` summarises a frame at training time (bin edges at the deciles of
each numeric column, shares of each category); it is kept inside the model so
that scoring needs nothing else. ``psi`` compares a new frame with it by the
population stability index, Σ (new − old) × ln(new / old) over the bins; the
usual reading is below 0.1 stable, 0.1–0.25 moving, above 0.25 shifted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BINS = 10
FLOOR = 1e-4
"""Smallest share a bin is given, so an empty bin does not make the index infinite."""


def profile(frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> dict[str, Any]:
    """The reference distribution of each column: decile edges and shares, or category shares."""
    out: dict[str, Any] = {}
    for column in columns:
        values = frame[column]
        if column in categorical:
            shares = values.astype("object").fillna("<missing>").astype(str).value_counts(normalize=True)
            out[column] = {"kind": "category", "shares": {str(k): float(v) for k, v in shares.items()}}
            continue
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        present = numbers[~np.isnan(numbers)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1])) if len(present) else np.array([])
        out[column] = {
            "kind": "number",
            "edges": edges.tolist(),
            "shares": _numeric_shares(numbers, edges).tolist(),
        }
    return out


def _numeric_shares(numbers: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of each bin (``len(edges) + 1`` bins, by ``edges``), plus a last one for missing values."""
    missing = np.isnan(numbers)
    counts = np.bincount(np.searchsorted(edges, numbers[~missing], side="right"), minlength=len(edges) + 1)
    shares = np.append(counts, missing.sum()).astype(float)
    return shares / max(len(numbers), 1)


def _index(new: np.ndarray, old: np.ndarray) -> float:
    new, old = np.maximum(new, FLOOR), np.maximum(old, FLOOR)
    return float(np.sum((new - old) * np.log(new / old)))


def psi(reference: dict[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """The population stability index of every profiled column present in ``frame``."""
    out = {}
    for column, ref in reference.items():
        if column not in frame:
            continue
        if ref["kind"] == "category":
            shares = frame[column].astype("object").fillna("<missing>").astype(str).value_counts(normalize=True)
            names = sorted(set(ref["shares"]) | set(shares.index))
            new = np.array([shares.get(n, 0.0) for n in names])
            old = np.array([ref["shares"].get(n, 0.0) for n in names])
        else:
            numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            new = _numeric_shares(numbers, np.asarray(ref["edges"], dtype=float))
            old = np.asarray(ref["shares"], dtype=float)
        out[column] = _index(new, old)
    return out
