"""Monitoring by promise: does each offer (rep, territory) save as many requests as the save model promised?

A fixed bar blames an offer for the calls it is made on: contract education
saves one caller in ten, and that is what the model expects of it on the calls
where the policy recommends it. The fair test compares an offer's durable saves
with the P(save) the model gave those same requests for that same offer (the
``promised`` probability): if the promise is kept, the number of saves is a
sum of one Bernoulli per request (Poisson-binomial), whose distribution is
computed exactly (``saves_distribution``).

Each offer (rep, territory) with at least ``min_requests`` matured requests is
judged: its *chance range* is the range of saves the promise explains, its two
tails Bonferroni-split over the offers judged together (as the mix comparison
of ``models.desk_outcomes`` does for reps), so that an honest model sees any of
them fall below its range at most ``(1 - confidence) / 2`` of the time. Saving
fewer than the range is ``below`` (warned), more is ``above``. The gap
(realised rate minus promised rate) is shown with the band chance alone would
give it: ``gap_low`` to ``gap_high``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.desk_outcomes import ABOVE, BELOW, CONFIDENCE, TOO_FEW

AS_PROMISED = "as promised"
"""The verdict of a group whose saves lie within what the promise explains."""
PROMISED = "promised"
"""The column of each request's promised P(durable save) for the offer made."""
PROMISE_COLUMNS = ["requests", "saved", "save_rate", "promised_saves", "promised_rate", "gap", "gap_low", "gap_high",
                   "low", "high", "p_below", "verdict"]  # fmt: skip


def saves_distribution(promised: np.ndarray) -> np.ndarray:
    """P(exactly k saves), k = 0 … n, when request i is saved with probability ``promised[i]`` independently."""
    pmf = np.zeros(len(promised) + 1)
    pmf[0] = 1.0
    for i, p in enumerate(np.clip(np.asarray(promised, dtype=float), 0.0, 1.0)):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1 - p) + pmf[: i + 1] * p
        pmf[0] *= 1 - p
    return pmf


def chance_range(pmf: np.ndarray, tail: float) -> tuple[int, int]:
    """The fewest and the most saves the promise explains: each outside tail holds at most ``tail``."""
    at_most, at_least = np.cumsum(pmf), np.cumsum(pmf[::-1])[::-1]
    return int(np.flatnonzero(at_most >= tail)[0]), int(np.flatnonzero(at_least >= tail)[-1])


def promise_table(
    requests: pd.DataFrame, key: str, *, min_requests: int, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Each offer's (rep's, territory's) durable saves against the saves the model promised on the same requests.

    Args:
        requests: One row per matured request: ``key``, ``durable_save`` (bool) and ``promised`` (the P(durable
            save) the model gave the request for the offer made).
        key: The column to judge by: ``offer``, ``rep_id`` or ``territory``.
        min_requests: Fewer matured requests are ``too few`` to judge.
        confidence: The chance ranges' joint coverage over the groups judged together.

    Returns:
        One row per value of ``key``, the most clearly short of its promise first: ``requests``, ``saved``,
        ``save_rate``, ``promised_saves`` (the sum of the promises), ``promised_rate``, ``gap`` (save rate minus
        promised rate), ``gap_low`` and ``gap_high`` (the band chance alone gives the gap were the promise kept),
        ``low`` and ``high`` (the same band in saves), ``p_below`` (the chance of so few saves or fewer were the
        promise kept) and ``verdict``: ``below``, ``above``, ``as promised`` or ``too few``.
    """
    columns = [key, *PROMISE_COLUMNS]
    frame = requests.dropna(subset=[PROMISED])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    judged = int((frame.groupby(key, observed=True).size() >= min_requests).sum())
    tail = (1 - confidence) / 2 / max(judged, 1)
    rows = []
    for name, group in frame.groupby(key, observed=True, sort=True):
        promised = group[PROMISED].to_numpy(dtype=float)
        pmf = saves_distribution(promised)
        low, high = chance_range(pmf, tail)
        n, saved, expected = len(group), int(group["durable_save"].astype(bool).sum()), float(promised.sum())
        verdict = (TOO_FEW if n < min_requests else BELOW if saved < low else ABOVE if saved > high
                   else AS_PROMISED)  # fmt: skip
        rows.append({key: name, "requests": n, "saved": saved, "save_rate": saved / n, "promised_saves": expected,
                     "promised_rate": expected / n, "gap": (saved - expected) / n, "gap_low": (low - expected) / n,
                     "gap_high": (high - expected) / n, "low": low, "high": high,
                     "p_below": float(min(pmf[: saved + 1].sum(), 1.0)), "verdict": verdict})  # fmt: skip
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["p_below", key], ignore_index=True)


def short_of_promise(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``promise_table`` that save clearly fewer than the model promised."""
    return table[table["verdict"] == BELOW]


PROMISE_KINDS = {"offer": "offer", "rep_id": "rep", "territory": "territory"}
"""The promise tables' keys and the word a warning names them by."""


def promise_warnings(promise: Mapping[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """A cause and a sentence per offer, rep or territory saving clearly fewer than the save model promised them."""
    out = []
    for key, kind in PROMISE_KINDS.items():
        if key not in promise:
            continue
        for row in short_of_promise(promise[key]).to_dict("records"):
            out.append((
                f"{kind} below promise {row[key]}",
                f"{kind} {row[key]} saves fewer than the model promised: durable save rate {row['save_rate']:.1%}"
                f" where the model gave the same {row['requests']:,} matured requests {row['promised_rate']:.1%}"
                f" ({row['saved']:,} saves against {row['promised_saves']:.1f} promised; had the promise been kept,"
                f" {row['low']:,} or more would have been saved, and so few would happen"
                f" {row['p_below']:.2%} of the time)",
            ))  # fmt: skip
    return out
