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
- **Desk outcomes** (``models.desk_outcomes``): durable save rate, net revenue
  kept and rollback spend by offer, rep and territory; reps and territories
  against what their mix of calls predicts; flips; rollback size by segment for
  the same reason.
- **Promises** (``models.promise``): each offer, rep and territory's durable
  saves against the P(save) the save model gave the same requests; warned only
  when clearly below (there is no fixed bar for an offer's save rate).
- **Warnings**: ``warning_records`` turns the thresholds (``settings.monitor``)
  into ``MonitorWarning``s, a cause (stable from day to day, to send each once)
  and a sentence; ``warnings`` gives the sentences the report, the command and
  the nightly flow print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.snapshots import month_ends
from models.dataset import TimeSplit
from models.desk_outcomes import ABOVE, BELOW, CONFIDENCE, TOO_FEW, DeskOutcomes, below_mix
from models.drift import SCORE, moves_by_design
from models.metrics import metrics_by
from models.promise import PROMISE_KINDS, promise_warnings

IN_TRAINING, AFTER_TRAINING = "in training", "after training"


class Thresholds(Protocol):
    """The thresholds ``warnings`` reads (``pipelines.settings.MonitorSettings``)."""

    psi_warning: float
    min_auc: float
    max_ece: float
    concession_gap_pct: float
    min_requests: int
    min_rollbacks: int


# ---- drift -----------------------------------------------------------------------------------------------------


def shifted(drift: Mapping[str, float], threshold: float) -> list[str]:
    """The columns whose PSI is above ``threshold`` and whose shift is worth a warning, by name.

    Territory-level rates (``Feature.drift_warning`` False) move with the market every month by design; their
    PSI is reported, never warned.
    """
    return sorted(c for c, v in drift.items() if v > threshold and not moves_by_design(c))


def shifted_by_size(drift: Mapping[str, float], threshold: float) -> list[str]:
    """``shifted``, the largest shift first."""
    return sorted(shifted(drift, threshold), key=lambda c: (-drift[c], c))


def drift_warnings(drift: Mapping[str, float], threshold: float) -> list[str]:
    """One sentence per column whose PSI is above ``threshold``, the largest shift first."""
    names = shifted_by_size(drift, threshold)
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
    promise: dict[str, pd.DataFrame] = field(default_factory=dict)
    """``models.promise.promise_table`` by ``offer``, ``rep_id`` and ``territory`` (absent: nothing to judge)."""
    promise_sources: dict[str, int] = field(default_factory=dict)
    """How many promises were published with the lists and how many recomputed by the save champion."""
    skipped: list[str] = field(default_factory=list)
    """What the report could not show and why (an optional table missing, no save champion), as sentences."""


@dataclass(frozen=True)
class MonitorWarning:
    """One warning of the report: its ``cause`` (the same from day to day while it lasts) and its sentence."""

    cause: str
    """What is wrong, as a key (``pipelines.alerts`` sends each once a day): ``drift <column>``, ``auc <month>``,
    ``ece <month>``, ``<offer|rep|territory> below promise <name>``, ``<rep|territory> below mix <name>`` or
    ``concession gap <reason>``."""
    text: str


def flagged_gaps(gaps: pd.DataFrame, gap_pct: float) -> pd.DataFrame:
    """The reasons where one segment's mean rollback exceeds another's by more than ``gap_pct`` points."""
    return gaps[gaps["gap_pct"] > gap_pct]


def mix_warnings(outcomes: DeskOutcomes) -> list[MonitorWarning]:
    """One warning per rep, then per territory, saving clearly fewer than their mix of calls predicts."""
    out = []
    for kind, table, key, whose in (("rep", outcomes.rep_mix, "rep_id", "their"),
                                    ("territory", outcomes.territory_mix, "territory", "its")):  # fmt: skip
        judged, kinds = int((table["verdict"] != TOO_FEW).sum()), {"rep": "reps", "territory": "territories"}[kind]
        for row in below_mix(table).to_dict("records"):
            out.append(MonitorWarning(
                f"{kind} below mix {row[key]}",
                f"{kind} {row[key]} saves fewer than {whose} mix of calls predicts: durable save rate"
                f" {row['save_rate']:.1%} where the desk's rates for the same reasons and segments would give"
                f" {row['expected_rate']:.1%}, on {row['requests']} matured requests ({row['saved']} saves against"
                f" {row['expected']:.1f} expected; were all {judged} {kinds} judged saving at the desk's rates, one"
                f" falling below its range would happen less than {(1 - CONFIDENCE) / 2:.1%} of the time)",
            ))  # fmt: skip
    return out


def warnings(report: MonitorReport, thresholds: Thresholds) -> list[str]:
    """Every threshold the report crosses, as a sentence a retention manager can act on (``warning_records``)."""
    return [warned.text for warned in warning_records(report, thresholds)]


def warning_records(report: MonitorReport, thresholds: Thresholds) -> list[MonitorWarning]:
    """Every threshold the report crosses, as a cause and a sentence a retention manager can act on.

    Realized AUC and calibration warn only for months after training: the months
    the training run used say how well it fitted, not how it holds up. Offers,
    reps and territories are warned when they save clearly fewer than the save
    model promised on their requests; a rep or territory with no promise to
    judge it by, against the desk's rates for its mix of calls.
    """
    drift = dict(zip(report.drift["column"], report.drift["psi"], strict=True))
    out = [
        MonitorWarning(f"drift {c}", s)
        for c, s in zip(
            shifted_by_size(drift, thresholds.psi_warning), drift_warnings(drift, thresholds.psi_warning), strict=True
        )
    ]
    after = report.performance[report.performance["period"] == AFTER_TRAINING]
    for row in after.to_dict("records"):
        month = pd.Timestamp(row["as_of"]).date().isoformat()
        if row["auc"] < thresholds.min_auc:
            out.append(MonitorWarning(
                f"auc {month}",
                f"churn model ranking has degraded: AUC {row['auc']:.2f} < {thresholds.min_auc:.2f} on the"
                f" accounts as of {month} (after training, labels matured)",
            ))  # fmt: skip
        if row["ece"] > thresholds.max_ece:
            out.append(MonitorWarning(
                f"ece {month}",
                f"churn model is miscalibrated: ECE {row['ece']:.3f} > {thresholds.max_ece:.3f} on the accounts"
                f" as of {month} (after training, labels matured; predicted {row['mean_score']:.1%},"
                f" observed {row['base_rate']:.1%})",
            ))  # fmt: skip
    out += [MonitorWarning(cause, text) for cause, text in promise_warnings(report.promise)]
    # A rep or territory judged by the model's promise is not judged again by the desk's rates for its mix.
    promised = {PROMISE_KINDS[key] for key, table in report.promise.items() if len(table)}
    out += [w for w in mix_warnings(report.outcomes) if w.cause.split(" ", 1)[0] not in promised]
    for row in flagged_gaps(report.outcomes.gaps, thresholds.concession_gap_pct).to_dict("records"):
        out.append(MonitorWarning(
            f"concession gap {row['reason']}",
            f"concession gap for reason {row['reason']}: {row['high_segment']} accounts got {row['high_pct']:.1f}%"
            f" rollbacks on average, {row['low_segment']} accounts {row['low_pct']:.1f}%"
            f" (gap {row['gap_pct']:.1f} points > {thresholds.concession_gap_pct:.1f})",
        ))  # fmt: skip
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
    # Reps and territories judged against their mix of calls: saves over expected, and how many fall outside.
    judged = (("rep", "reps", report.outcomes.rep_mix, "rep_id"),
              ("territory", "territories", report.outcomes.territory_mix, "territory"))  # fmt: skip
    for kind, kinds, table, key in judged:
        for row in table[table["verdict"] != TOO_FEW].to_dict("records"):
            out |= {f"desk.{kind}.{row[key]}.save_rate": row["save_rate"],
                    f"desk.{kind}.{row[key]}.expected_save_rate": row["expected_rate"],
                    f"desk.{kind}.{row[key]}.save_ratio": row["ratio"]}  # fmt: skip
        out |= {f"desk.{kinds}_below": (table["verdict"] == BELOW).sum(),
                f"desk.{kinds}_above": (table["verdict"] == ABOVE).sum()}  # fmt: skip
    for key, kind in PROMISE_KINDS.items():
        table = report.promise.get(key, pd.DataFrame(columns=[key, "verdict"]))
        for row in table[table["verdict"] != TOO_FEW].to_dict("records"):
            out |= {f"promise.{kind}.{row[key]}.save_rate": row["save_rate"],
                    f"promise.{kind}.{row[key]}.promised_rate": row["promised_rate"]}  # fmt: skip
        out[f"promise.{key}.below"] = (table["verdict"] == BELOW).sum()
    for row in report.outcomes.gaps.to_dict("records"):
        out[f"desk.concession_gap.{row['reason']}"] = row["gap_pct"]
    out["warnings"] = float(len(list(warned)))
    return {k: float(v) for k, v in out.items() if np.isfinite(float(v))}
