"""Monitoring: is the churn model still right, and is the desk still saving accounts at a fair price?

Pure functions of data, no files and no MLflow; ``pipelines.monitor`` feeds them
and writes the report.

- **Drift**: the population stability index (``models.drift.psi``) of every
  feature and of the score against the profile the churn model keeps of its
  training data (``metadata["reference"]``), tonight and month by month.
- **Realized performance**: AUC and calibration of the champion's scores on
  past month ends whose churn window has closed, each month marked as one the
  training run used (``in training``: its train, validation, calibration or
  test month, or earlier) or one it never saw (``after training``); and how the
  accounts on each published proactive list whose window has closed turned out.
- **Desk outcomes**: durable save rate, net revenue kept and rollback spend by
  offer, rep and territory; flips; the size of rollbacks by segment for the
  same reason (are some customers given more than others in the same situation?).
- **Warnings**: ``warnings`` turns the thresholds (``settings.monitor``) into
  sentences; the report, the command and the nightly flow all print these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.registry import BY_NAME
from features.snapshots import month_ends
from models.dataset import TimeSplit
from models.drift import psi
from models.metrics import metrics_by

SCORE = "churn_probability"
"""The score's column: profiled beside the features at training time."""
IN_TRAINING, AFTER_TRAINING = "in training", "after training"
MONTHS_PER_YEAR = 12
MIN_REQUESTS = 30
"""Matured requests an offer, rep or territory needs before its save rate can raise a warning (noise below)."""
MIN_ROLLBACKS = 20
"""Rollbacks a segment needs for a reason before its mean size is compared with other segments'."""


class Thresholds(Protocol):
    """The thresholds ``warnings`` reads (``pipelines.settings.MonitorSettings``)."""

    psi_warning: float
    min_auc: float
    max_ece: float
    min_save_rate: float
    concession_gap_pct: float


# ---- drift -----------------------------------------------------------------------------------------------------


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


def shifted(drift: Mapping[str, float], threshold: float) -> list[str]:
    """The columns whose PSI is above ``threshold`` and whose shift is worth a warning, by name.

    Territory-level rates (``Feature.drift_warning`` False) move with the market every month by design; their
    PSI is reported, never warned.
    """
    return sorted(c for c, v in drift.items() if v > threshold and (c not in BY_NAME or BY_NAME[c].drift_warning))


def drift_warnings(drift: Mapping[str, float], threshold: float) -> list[str]:
    """One sentence per column whose PSI is above ``threshold``, the largest shift first."""
    names = sorted(shifted(drift, threshold), key=lambda c: (-drift[c], c))
    return [f"{c} has drifted: PSI {drift[c]:.2f} > {threshold:.2f} since training" for c in names]


# ---- realized performance --------------------------------------------------------------------------------------


def split_from_params(params: Mapping[str, str]) -> TimeSplit | None:
    """The training run's split, read back from its logged parameters (``TimeSplit.describe``); None if absent."""
    keys = ("train_as_of", "valid_as_of", "calibrate_as_of", "test_as_of")
    if not all(params.get(k) for k in keys):
        return None
    train = tuple(date.fromisoformat(d) for d in params["train_as_of"].split(","))
    valid, calibrate, test = (date.fromisoformat(params[k]) for k in keys[1:])
    return TimeSplit(train=train, valid=valid, calibrate=calibrate, test=test)


def role(split: TimeSplit, as_of: date) -> str:
    """What the training run did with a month: train, valid, calibrate, test, gap, before or after."""
    named = {d: "train" for d in split.train} | {split.valid: "valid", split.calibrate: "calibrate", split.test: "test"}
    if as_of in named:
        return named[as_of]
    if as_of > split.test:
        return "after"
    return "before" if as_of < split.train[0] else "gap"


def period(split: TimeSplit, as_of: date) -> str:
    """``in training`` for a month up to the run's test month (its figures flatter the model), else ``after``."""
    return AFTER_TRAINING if as_of > split.test else IN_TRAINING


def matured_months(split: TimeSplit, as_of: date, label_days: int) -> list[date]:
    """The split's month ends and every later one whose churn window has closed by ``as_of``."""
    later = [d for d in month_ends(split.test + timedelta(days=1), as_of) if d + timedelta(days=label_days) <= as_of]
    return [d for d in split.all_dates if d + timedelta(days=label_days) <= as_of] + later


def realized_performance(scored: pd.DataFrame, split: TimeSplit | None) -> pd.DataFrame:
    """AUC, calibration error, churn rate and mean score by month of scored, labelled accounts.

    Args:
        scored: ``as_of`` (a month end), ``churn`` (the matured label) and ``churn_probability``.
        split: The champion's training split, to mark each month (None: unknown, nothing to judge).

    Returns:
        One row per month: ``as_of``, ``role``, ``period``, ``rows``, ``base_rate``, ``mean_score``, ``auc``, ``ece``.
    """
    columns = ["as_of", "role", "period", "rows", "base_rate", "mean_score", "auc", "ece"]
    if scored.empty or split is None:
        return pd.DataFrame(columns=columns)
    frame = scored.assign(churn=scored["churn"].astype(float), as_of=pd.to_datetime(scored["as_of"]))
    table = metrics_by(frame, "as_of", y="churn", p=SCORE)
    table["mean_score"] = frame.groupby("as_of")[SCORE].mean().reindex(table["as_of"]).to_numpy()
    days = [d.date() for d in table["as_of"]]
    table["role"] = [role(split, d) for d in days]
    table["period"] = [period(split, d) for d in days]
    return table[columns].sort_values("as_of", ignore_index=True)


def list_performance(listed: pd.DataFrame, book_rates: Mapping[date, float]) -> pd.DataFrame:
    """How the accounts on each matured published proactive list turned out.

    The calls themselves may have kept some listed accounts, so the observed rate
    is a floor on what the list would have seen uncalled; the lift against the
    whole book still says whether the list picked the right accounts.

    Args:
        listed: ``business_date``, ``account_id``, ``churn_probability`` (as published) and ``churn`` (matured).
        book_rates: The churn rate of every account in service, by business date.

    Returns:
        One row per business date: ``listed``, ``predicted``, ``observed``, ``book_rate``, ``lift``.
    """
    columns = ["business_date", "listed", "predicted", "observed", "book_rate", "lift"]
    if listed.empty:
        return pd.DataFrame(columns=columns)
    table = (
        listed.assign(churn=listed["churn"].astype(float))
        .groupby("business_date", sort=True)
        .agg(listed=("account_id", "size"), predicted=("churn_probability", "mean"), observed=("churn", "mean"))
        .reset_index()
    )
    table["book_rate"] = [book_rates.get(pd.Timestamp(d).date(), np.nan) for d in table["business_date"]]
    table["lift"] = table["observed"] / table["book_rate"].where(table["book_rate"] > 0)
    return table[columns]


# ---- desk outcomes ---------------------------------------------------------------------------------------------


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
    totals: dict[str, float] = field(default_factory=dict)


OUTCOME_COLUMNS = ["requests", "saved", "save_rate", "revenue_kept", "rollback_spend"]


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


def concession_gaps(concessions: pd.DataFrame, min_rollbacks: int = MIN_ROLLBACKS) -> pd.DataFrame:
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


def desk_outcomes(decisions: pd.DataFrame, attempts: pd.DataFrame) -> DeskOutcomes:
    """Save rates, revenue kept, rollback spend, flips and concession sizes of matured requests.

    Args:
        decisions: One row per answered request whose durable-save window has closed: ``request_id``,
            ``request_date``, ``reason``, ``rep_id`` and ``offer`` (the first inside-sales attempt's, as
            ``features.requests.logged_offers`` gives them), ``durable_save``, ``territory``, ``segment``.
        attempts: Every ``save_attempts`` row of those requests.
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
        gaps=concession_gaps(concessions),
        totals=totals,
    )


# ---- the report and its warnings -------------------------------------------------------------------------------


@dataclass
class MonitorReport:
    """Everything the monitoring report shows, as of one day."""

    as_of: date
    models: dict[str, Any]
    """The champion churn model: name, version, run and training split."""
    drift: pd.DataFrame
    """PSI of each feature and of the score as of ``as_of``."""
    drift_by_month: pd.DataFrame
    performance: pd.DataFrame
    outcomes: DeskOutcomes
    outcome_window: tuple[date, date]
    """First and last request date of the matured requests the desk outcomes count."""
    thresholds: Thresholds
    """The thresholds the report was judged against (``settings.monitor``)."""
    lists: pd.DataFrame = field(default_factory=lambda: list_performance(pd.DataFrame(), {}))
    """Matured published proactive lists (``list_performance``)."""


def wilson_upper(rate: pd.Series, n: pd.Series, z: float = 1.96) -> pd.Series:
    """The upper end of the Wilson score interval (95 % by default) of a rate observed on ``n`` trials."""
    n = n.astype("float64")
    centre = rate + z * z / (2 * n)
    spread = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def low_save_rates(outcomes: DeskOutcomes, min_save_rate: float) -> list[tuple[str, str, int, float, float]]:
    """(kind, name, requests, save rate, upper bound) of every offer, rep and territory saving too few.

    "Too few" means clearly below ``min_save_rate``: even the upper end of the rate's 95 % Wilson interval is
    below it. A rep at 24.6 % on 57 requests is not told off for a 25 % bar that chance alone explains.
    """
    found = []
    for kind, table, key in (
        ("offer", outcomes.by_offer, "offer"),
        ("rep", outcomes.by_rep, "rep_id"),
        ("territory", outcomes.by_territory, "territory"),
    ):
        upper = wilson_upper(table["save_rate"], table["requests"])
        low = table.assign(upper=upper)[(table["requests"] >= MIN_REQUESTS) & (upper < min_save_rate)]
        found += [
            (kind, str(r[key]), int(r["requests"]), float(r["save_rate"]), float(r["upper"]))
            for r in low.to_dict("records")
        ]
    return found


def flagged_gaps(gaps: pd.DataFrame, gap_pct: float) -> pd.DataFrame:
    """The reasons where one segment's mean rollback exceeds another's by more than ``gap_pct`` points."""
    return gaps[gaps["gap_pct"] > gap_pct]


def warnings(report: MonitorReport, thresholds: Thresholds) -> list[str]:
    """Every threshold the report crosses, as a sentence a retention manager can act on.

    Realized AUC and calibration warn only for months after training: the months
    the training run used say how well it fitted, not how it holds up.
    """
    out = drift_warnings(dict(zip(report.drift["column"], report.drift["psi"], strict=True)), thresholds.psi_warning)
    after = report.performance[report.performance["period"] == AFTER_TRAINING]
    for row in after.to_dict("records"):
        month = pd.Timestamp(row["as_of"]).date().isoformat()
        if row["auc"] < thresholds.min_auc:
            out.append(
                f"churn model ranking has degraded: AUC {row['auc']:.2f} < {thresholds.min_auc:.2f} on the"
                f" accounts as of {month} (after training, labels matured)"
            )
        if row["ece"] > thresholds.max_ece:
            out.append(
                f"churn model is miscalibrated: ECE {row['ece']:.3f} > {thresholds.max_ece:.3f} on the accounts"
                f" as of {month} (after training, labels matured; predicted {row['mean_score']:.1%},"
                f" observed {row['base_rate']:.1%})"
            )
    for kind, name, requests, rate, upper in low_save_rates(report.outcomes, thresholds.min_save_rate):
        out.append(
            f"{kind} {name} saves too few: durable save rate {rate:.1%} (at most {upper:.1%} at 95 % confidence)"
            f" < {thresholds.min_save_rate:.0%} on {requests} matured requests"
        )
    for row in flagged_gaps(report.outcomes.gaps, thresholds.concession_gap_pct).to_dict("records"):
        out.append(
            f"concession gap for reason {row['reason']}: {row['high_segment']} accounts got {row['high_pct']:.1f}%"
            f" rollbacks on average, {row['low_segment']} accounts {row['low_pct']:.1f}%"
            f" (gap {row['gap_pct']:.1f} points > {thresholds.concession_gap_pct:.1f})"
        )
    return out


def figures(report: MonitorReport, warned: Iterable[str] = ()) -> dict[str, float]:
    """The report's headline figures, flat, for MLflow (non-finite values left out)."""
    drift = zip(report.drift["column"], report.drift["psi"], strict=True)
    out: dict[str, float] = {f"drift.{c}": float(v) for c, v in drift}
    for row in report.performance.to_dict("records"):
        month = pd.Timestamp(row["as_of"]).date().isoformat()
        out |= {f"realized.{month}.auc": row["auc"], f"realized.{month}.ece": row["ece"]}
    after = report.performance[report.performance["period"] == AFTER_TRAINING]
    if len(after):
        out |= {"realized.after_training.auc": after["auc"].mean(), "realized.after_training.ece": after["ece"].mean()}
    for row in report.lists.to_dict("records"):
        day = pd.Timestamp(row["business_date"]).date().isoformat()
        out |= {f"lists.{day}.observed": row["observed"], f"lists.{day}.lift": row["lift"]}
    out |= {f"desk.{k}": v for k, v in report.outcomes.totals.items()}
    for row in report.outcomes.by_offer.to_dict("records"):
        out[f"desk.offer.{row['offer']}.save_rate"] = row["save_rate"]
    for row in report.outcomes.gaps.to_dict("records"):
        out[f"desk.concession_gap.{row['reason']}"] = row["gap_pct"]
    out["warnings"] = float(len(list(warned)))
    return {k: float(v) for k, v in out.items() if np.isfinite(float(v))}
