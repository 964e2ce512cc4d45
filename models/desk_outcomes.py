"""Desk outcomes: what the retention desk achieved on matured requests, and who saves more or fewer than expected.

Pure functions of data, no files and no MLflow; ``models.monitoring`` puts them
in the report and turns them into warnings.

- **Outcomes**: durable save rate, net revenue kept and rollback spend by offer,
  rep, territory and month; flips by territory.
- **Concessions**: the size of rollbacks by segment for the same reason (are
  some customers given more than others in the same situation?).
- **A rate's interval** (``wilson_upper``): the upper end of a rate's 95 % Wilson interval (offers are judged
  against the model's promise in ``models.promise``, not against a fixed bar).
- **A rep or territory against its mix of calls** (``mix_adjusted``, indirect
  standardisation): a rep whose callers mostly moved away or closed their
  business cannot save as many as one who gets price calls. Each request is
  given the desk's durable save rate for requests like it (``mix_strata``:
  same reason, and same segment where the desk had enough of them); the rep's
  expected saves are the sum over their requests (a sum of one binomial per
  stratum). A desk of 36 reps judged each at 95 % would name one of them by
  chance most months, so the chance ranges are Bonferroni-widened to hold for
  all the reps judged together: a desk of reps all saving at the desk's rates
  sees any of them outside their range at most 5 % of the time (2.5 % below).
  Saving fewer than the range is *below*, more is *above*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

MONTHS_PER_YEAR = 12
OUTCOME_COLUMNS = ["requests", "saved", "save_rate", "revenue_kept", "rollback_spend"]
CONFIDENCE = 0.95
"""How sure the mix comparison must be, for all the reps (or territories) judged together, before it calls any
of them below or above expectation."""
BELOW, ABOVE, AS_EXPECTED, TOO_FEW = "below", "above", "as expected", "too few"
"""The verdicts of the mix comparison (``too few``: fewer matured requests than ``min_requests``)."""
MIX_COLUMNS = ["requests", "saved", "save_rate", "expected", "expected_rate", "ratio", "low", "high", "verdict"]
OTHER_SEGMENTS = "other segments"


@dataclass
class DeskOutcomes:
    """What the desk achieved on matured requests: saves, revenue kept, concessions.

    Money is annual: a monthly rate times twelve. Revenue kept is what durably
    saved accounts pay after their offer, less one-off credits; rollback spend
    is what accepted rollbacks take off the rate, saved durably or not.
    """

    by_offer: pd.DataFrame
    by_rep: pd.DataFrame
    by_territory: pd.DataFrame
    by_month: pd.DataFrame
    flips: pd.DataFrame
    """Flips by territory: requests, flips, flip share, flips saved durably."""
    concessions: pd.DataFrame
    """Reason × segment: requests, rollbacks, rollback share, mean rollback %."""
    gaps: pd.DataFrame
    """Per reason: the segments with the largest and smallest mean rollback % and the gap between them."""
    mix_rates: pd.DataFrame
    """The desk's durable save rate of each stratum of the mix comparison (``mix_rates``)."""
    rep_mix: pd.DataFrame
    """Each rep's saves against what the desk's rates predict for their mix of calls (``mix_adjusted``)."""
    territory_mix: pd.DataFrame
    """Each territory's saves against what the desk's rates predict for its mix of calls."""
    totals: dict[str, float] = field(default_factory=dict)


def request_money(decisions: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Each request's annual revenue kept and rollback spend, from its attempts and its durable-save label.

    Args:
        decisions: One row per request: ``request_id`` and ``durable_save`` (bool).
        attempts: The ``save_attempts`` rows: ``request_id``, ``attempt_date``, ``attempt_id``, ``rollback_pct``,
            ``credit_amount``, ``new_monthly_rate``, ``accepted``.

    Returns:
        ``request_id``, ``revenue_kept`` and ``rollback_spend``, in ``decisions``' order.
    """
    tried = attempts[attempts["request_id"].isin(decisions["request_id"])].sort_values(["attempt_date", "attempt_id"])
    pct = tried["rollback_pct"].fillna(0.0).to_numpy(dtype=float)
    after = tried["new_monthly_rate"].to_numpy(dtype=float)
    before = after / (1 - pct / 100)  # the attempt's rate before its rollback (the same rate for other offers)
    accepted = tried["accepted"].fillna(False).to_numpy(dtype=bool)
    per_attempt = pd.DataFrame({
        "request_id": tried["request_id"].to_numpy(),
        "rate": np.where(accepted, after, before),
        "accepted": accepted,
        "credit": np.where(accepted, tried["credit_amount"].fillna(0.0).to_numpy(dtype=float), 0.0),
        "spend": np.where(accepted & (pct > 0), MONTHS_PER_YEAR * (before - after), 0.0),
    })  # fmt: skip
    # The rate the account pays from then on: the accepted offer's, else the one it had.
    final = per_attempt.sort_values("accepted", kind="stable").groupby("request_id")["rate"].last()
    sums = per_attempt.groupby("request_id")[["credit", "spend"]].sum()
    frame = decisions[["request_id", "durable_save"]].set_index("request_id")
    saved = frame["durable_save"].astype(bool)
    kept = MONTHS_PER_YEAR * final.reindex(frame.index).fillna(0.0) - sums["credit"].reindex(frame.index).fillna(0.0)
    return pd.DataFrame({
        "request_id": frame.index.to_numpy(),
        "revenue_kept": np.where(saved, kept, 0.0),
        "rollback_spend": sums["spend"].reindex(frame.index).fillna(0.0).to_numpy(),
    })  # fmt: skip


def outcomes_by(requests: pd.DataFrame, key: str) -> pd.DataFrame:
    """Requests, durable saves, save rate, revenue kept and rollback spend per value of ``key``."""
    grouped = requests.groupby(key, observed=True, sort=True)
    table = grouped.agg(
        requests=("request_id", "size"),
        saved=("durable_save", "sum"),
        revenue_kept=("revenue_kept", "sum"),
        rollback_spend=("rollback_spend", "sum"),
    ).reset_index()
    table["saved"] = table["saved"].astype(int)
    table["save_rate"] = table["saved"] / table["requests"]
    return table[[key, *OUTCOME_COLUMNS]]


def concession_sizes(decisions: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Rollbacks offered by reason × segment: requests, rollbacks, rollback share and mean rollback %.

    Every attempt with a rollback counts (the inside rep's and a specialist's after a flip): the question
    is what customers in the same situation were offered, whatever became of it.
    """
    rolled = attempts[attempts["rollback_pct"].fillna(0.0) > 0]
    rolled = rolled.merge(decisions[["request_id", "reason", "segment"]], on="request_id", how="inner")
    sizes = rolled.groupby(["reason", "segment"]).agg(
        rollbacks=("rollback_pct", "size"), mean_rollback_pct=("rollback_pct", "mean")
    )
    counts = decisions.groupby(["reason", "segment"]).size().rename("requests")
    table = pd.concat([counts, sizes], axis=1).reset_index()
    table["rollbacks"] = table["rollbacks"].fillna(0).astype(int)
    table["rollback_share"] = table["rollbacks"] / table["requests"]
    return table[["reason", "segment", "requests", "rollbacks", "rollback_share", "mean_rollback_pct"]]


def concession_gaps(concessions: pd.DataFrame, min_rollbacks: int) -> pd.DataFrame:
    """Per reason, the segments given the largest and the smallest rollbacks on average, and the gap in points.

    Only segments with at least ``min_rollbacks`` rollbacks for the reason are compared (fewer are noise).
    """
    rows = []
    enough = concessions[concessions["rollbacks"] >= min_rollbacks].dropna(subset=["mean_rollback_pct"])
    for reason, group in enough.groupby("reason", sort=True):
        if len(group) < 2:
            continue
        ranked = group.sort_values(["mean_rollback_pct", "segment"])
        low, high = ranked.iloc[0], ranked.iloc[-1]
        rows.append({
            "reason": reason, "high_segment": high["segment"], "high_pct": float(high["mean_rollback_pct"]),
            "low_segment": low["segment"], "low_pct": float(low["mean_rollback_pct"]),
            "gap_pct": float(high["mean_rollback_pct"] - low["mean_rollback_pct"]),
        })  # fmt: skip
    columns = ["reason", "high_segment", "high_pct", "low_segment", "low_pct", "gap_pct"]
    return pd.DataFrame(rows, columns=columns).sort_values("gap_pct", ascending=False, ignore_index=True)


# ---- a rep or territory against its mix of calls ---------------------------------------------------------------


def mix_strata(requests: pd.DataFrame, min_requests: int) -> pd.Series:
    """Each request's stratum: its reason and segment (``price · commercial``) where the desk had enough of them.

    A reason × segment with fewer than ``min_requests`` requests has too few for a rate of its own: its
    requests share one with the reason's other thin segments (``price · other segments``), or are the reason
    alone (``price``) when every segment of it is thin. The strata split the requests, so the desk's saves are
    exactly the sum of its strata's rates over its requests.
    """
    reason, segment = requests["reason"].astype(str), requests["segment"].astype(str)
    own = segment.groupby([reason, segment]).transform("size").to_numpy() >= min_requests
    any_own = pd.Series(own, index=requests.index).groupby(reason).transform("any").to_numpy(dtype=bool)
    pooled = np.where(any_own, reason + " · " + OTHER_SEGMENTS, reason)
    return pd.Series(np.where(own, reason + " · " + segment, pooled), index=requests.index, name="stratum")


def mix_rates(requests: pd.DataFrame, min_requests: int) -> pd.DataFrame:
    """The desk's durable save rate of each stratum (``mix_strata``): ``stratum``, ``requests``, ``saved``, rate."""
    saved = requests["durable_save"].astype(int).rename("saved")
    table = saved.groupby(mix_strata(requests, min_requests)).agg(requests="size", saved="sum").reset_index()
    table["save_rate"] = table["saved"] / table["requests"]
    return table[["stratum", "requests", "saved", "save_rate"]]


def chance_of_saves(counts: Sequence[int], rates: Sequence[float]) -> np.ndarray:
    """P(exactly k saves), k = 0 … Σ counts, for requests saved independently at their stratum's rate.

    Args:
        counts: The requests in each stratum.
        rates: Each stratum's save rate.
    """
    pmf = np.ones(1)
    for n, p in zip(counts, rates, strict=True):
        pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n + 1), n, p))
    return pmf


def mix_adjusted(requests: pd.DataFrame, key: str, min_requests: int, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each rep's (or territory's) durable saves against what the desk's rates predict for their mix of calls.

    Args:
        requests: One row per matured request: ``request_id``, ``reason``, ``segment``, ``durable_save`` and
            ``key``.
        key: The column to compare by: ``rep_id`` or ``territory``.
        min_requests: Fewer matured requests are ``too few`` to judge; also the requests a reason × segment
            needs for a rate of its own (``mix_strata``).
        confidence: The chance ranges' joint coverage: reps (or territories) saving at the desk's rates all
            stay inside their ranges with at least this chance.

    Returns:
        One row per value of ``key``, the lowest ratio first: ``requests``, ``saved``, ``save_rate``,
        ``expected`` (saves at the desk's rates for the same reasons and segments), ``expected_rate``,
        ``ratio`` (saved / expected), ``low`` and ``high`` (the chance range: each tail has at most
        ``(1 - confidence) / 2`` divided by the number judged) and ``verdict``: ``below`` (saved fewer than
        ``low``), ``above`` (more than ``high``), ``as expected`` or ``too few``.
    """
    strata = mix_strata(requests, min_requests)
    frame = pd.DataFrame({key: requests[key], "stratum": strata, "saved": requests["durable_save"].astype(int)})
    rates = frame.groupby("stratum")["saved"].mean()
    frame["expected"] = frame["stratum"].map(rates)
    judged = int((frame.groupby(key, observed=True).size() >= min_requests).sum())
    tail = (1 - confidence) / 2 / max(judged, 1)
    rows = []
    for name, group in frame.groupby(key, observed=True, sort=True):
        counts = group.groupby("stratum").size()
        pmf = chance_of_saves(counts.tolist(), rates.reindex(counts.index).tolist())
        at_most, at_least = np.cumsum(pmf), np.cumsum(pmf[::-1])[::-1]
        low, high = int(np.flatnonzero(at_most >= tail)[0]), int(np.flatnonzero(at_least >= tail)[-1])
        saved, expected = int(group["saved"].sum()), float(group["expected"].sum())
        verdict = (TOO_FEW if len(group) < min_requests else BELOW if saved < low else ABOVE if saved > high
                   else AS_EXPECTED)  # fmt: skip
        rows.append({key: name, "requests": len(group), "saved": saved, "expected": expected, "low": low,
                     "high": high, "verdict": verdict})  # fmt: skip
    table = pd.DataFrame(rows, columns=[key, "requests", "saved", "expected", "low", "high", "verdict"])
    table["save_rate"] = table["saved"] / table["requests"]
    table["expected_rate"] = table["expected"] / table["requests"]
    table["ratio"] = table["saved"] / table["expected"].where(table["expected"] > 0)
    return table.sort_values(["ratio", key], na_position="last", ignore_index=True)[[key, *MIX_COLUMNS]]


def below_mix(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``mix_adjusted`` table that save clearly fewer than their mix of calls predicts."""
    return table[table["verdict"] == BELOW]


# ---- the desk ---------------------------------------------------------------------------------------------------


def desk_outcomes(
    decisions: pd.DataFrame, attempts: pd.DataFrame, *, min_requests: int, min_rollbacks: int
) -> DeskOutcomes:
    """Save rates, revenue kept, rollback spend, flips, concession sizes and mix comparisons of matured requests.

    Args:
        decisions: One row per answered request whose durable-save window has closed: ``request_id``,
            ``request_date``, ``reason``, ``rep_id`` and ``offer`` (the first inside-sales attempt's, as
            ``features.requests.logged_offers`` gives them), ``durable_save``, ``territory``, ``segment``.
        attempts: Every ``save_attempts`` row of those requests.
        min_requests: Matured requests a rep or territory needs to be judged against its mix of calls
            (``settings.monitor.min_requests``).
        min_rollbacks: Rollbacks a segment needs for a reason before its mean size is compared
            (``settings.monitor.min_rollbacks``).
    """
    money = request_money(decisions, attempts)
    requests = decisions.merge(money, on="request_id", how="left")
    requests["durable_save"] = requests["durable_save"].astype(bool)
    requests["month"] = pd.to_datetime(requests["request_date"]).dt.to_period("M").astype(str)
    flips = requests.assign(flip=requests["offer"] == "flip")
    flips = flips.assign(flip_saved=flips["flip"] & flips["durable_save"])
    by_flip = flips.groupby("territory", sort=True).agg(
        requests=("request_id", "size"), flips=("flip", "sum"), flips_saved=("flip_saved", "sum")
    )
    by_flip["flip_share"] = by_flip["flips"] / by_flip["requests"]
    concessions = concession_sizes(decisions, attempts)
    count = len(requests)
    totals = {
        "requests": float(count),
        "save_rate": float(requests["durable_save"].mean()) if count else float("nan"),
        "revenue_kept": float(requests["revenue_kept"].sum()),
        "rollback_spend": float(requests["rollback_spend"].sum()),
        "flips": float(flips["flip"].sum()),
        "flip_save_rate": float(flips.loc[flips["flip"], "durable_save"].mean()) if flips["flip"].any() else 0.0,
    }
    return DeskOutcomes(
        by_offer=outcomes_by(requests, "offer"),
        by_rep=outcomes_by(requests, "rep_id"),
        by_territory=outcomes_by(requests, "territory"),
        by_month=outcomes_by(requests, "month"),
        flips=by_flip.reset_index(),
        concessions=concessions,
        gaps=concession_gaps(concessions, min_rollbacks),
        mix_rates=mix_rates(requests, min_requests),
        rep_mix=mix_adjusted(requests, "rep_id", min_requests),
        territory_mix=mix_adjusted(requests, "territory", min_requests),
        totals=totals,
    )


# ---- an offer against the bar -----------------------------------------------------------------------------------


def wilson_upper(rate: pd.Series, n: pd.Series, z: float = 1.96) -> pd.Series:
    """The upper end of the Wilson score interval (95 % by default) of a rate observed on ``n`` trials."""
    n = n.astype("float64")
    centre = rate + z * z / (2 * n)
    spread = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)
