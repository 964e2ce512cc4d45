"""Drift: how far tonight's features and scores have moved from what the model was trained on.

``profile`` summarises a frame at training time (bin edges at the deciles of
each numeric column, shares of each category); it is kept inside the model so
that scoring needs nothing else. ``psi`` compares a new frame with it by the
population stability index, Σ (new − old) × ln(new / old) over the bins; the
usual reading is below 0.1 stable, 0.1–0.25 moving, above 0.25 shifted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.registry import BY_NAME

SCORE = "churn_probability"
"""The score's column: profiled beside the features at training time."""
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
    return psi_of_counts(reference, bin_counts(reference, frame), len(frame))


def bin_counts(reference: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """How many rows of ``frame`` fall in each bin (a number's, by index) or category of every profiled column.

    Counts of account shards add up (``add_counts``) to the book's, so a night scored shard by shard on separate
    workers sends the flow these counts, not its accounts, and gets the book's PSI (``psi_of_counts``).
    """
    out: dict[str, dict[str, int]] = {}
    for column, ref in reference.items():
        if column not in frame:
            continue
        if ref["kind"] == "category":
            counts = frame[column].astype("object").fillna("<missing>").astype(str).value_counts()
            out[column] = {str(name): int(count) for name, count in counts.items()}
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        edges = np.asarray(ref["edges"], dtype=float)
        missing = np.isnan(numbers)
        bins = np.bincount(np.searchsorted(edges, numbers[~missing], side="right"), minlength=len(edges) + 1)
        out[column] = {str(i): int(count) for i, count in enumerate(np.append(bins, missing.sum()))}
    return out


def add_counts(parts: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """The bin counts of several shards added up."""
    total: dict[str, dict[str, int]] = {}
    for part in parts:
        for column, counts in part.items():
            into = total.setdefault(column, {})
            for name, count in counts.items():
                into[name] = into.get(name, 0) + count
    return total


def psi_of_counts(reference: Mapping[str, Any], counts: Mapping[str, Mapping[str, int]], rows: int) -> dict[str, float]:
    """The population stability index of every column of ``counts`` (``bin_counts`` of ``rows`` rows)."""
    out = {}
    for column, ref in reference.items():
        if column not in counts:
            continue
        found = counts[column]
        if ref["kind"] == "category":
            names = sorted(set(ref["shares"]) | {name for name, count in found.items() if count > 0})
            new = np.array([found.get(n, 0) for n in names]) / max(rows, 1)
            old = np.array([ref["shares"].get(n, 0.0) for n in names])
        else:
            bins = len(ref["edges"]) + 2
            new = np.array([found.get(str(i), 0) for i in range(bins)]).astype(float) / max(rows, 1)
            old = np.asarray(ref["shares"], dtype=float)
        out[column] = _index(new, old)
    return out


def moves_by_design(column: str) -> bool:
    """Whether a feature moves by design (``Feature.drift_warning`` False): its drift is reported apart, never warned.

    A territory-level rate takes one value per territory and moves with the market every month, so its PSI against
    the training months is large with nothing wrong.
    """
    return column in BY_NAME and not BY_NAME[column].drift_warning


def feature_group(column: str) -> str:
    """The registry's group of a feature ("price", "service quality", …); ``score`` for the churn score."""
    return "score" if column == SCORE else (BY_NAME[column].group if column in BY_NAME else "other")


def drift_table(reference: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """PSI of every profiled column of ``frame`` (features and ``churn_probability``), largest first."""
    values = psi(dict(reference), frame)
    rows = [{"column": c, "group": feature_group(c), "psi": v} for c, v in values.items()]
    table = pd.DataFrame(rows, columns=["column", "group", "psi"])
    return table.sort_values(["psi", "column"], ascending=[False, True], ignore_index=True)


def drift_by_month(reference: Mapping[str, Any], frames: Mapping[date, pd.DataFrame]) -> pd.DataFrame:
    """PSI of every profiled column at each month end: ``as_of``, ``column``, ``group``, ``psi``."""
    parts = [drift_table(reference, frame).assign(as_of=pd.Timestamp(day)) for day, frame in sorted(frames.items())]
    if not parts:
        return pd.DataFrame(columns=["as_of", "column", "group", "psi"])
    return pd.concat(parts, ignore_index=True)[["as_of", "column", "group", "psi"]]
