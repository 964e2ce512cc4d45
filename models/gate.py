"""The promotion gate: declared thresholds, and a decision that says why.

A challenger becomes champion only if it passes the absolute thresholds and,
when there is a champion, earns it on the same out-of-time rows: the paired
interval of its AUC gain (``models.comparison``) must lie above
``min_auc_gain`` (a gain that is not luck), or, when whoever trained it declared
a reason (a cheaper feature, a fix, a data source retired), above
``-noninferiority_margin`` (no worse, within the margin). Calibration may not
get worse than ``max_ece_increase`` and no segment's AUC may fall by more than
its margin. The rules are data (``GateRules``, set in settings); ``decide`` is a
pure function, and the registry records what it decided with its interval and
the list changes it would bring (``models.list_changes``).

The absolute thresholds are judged with intervals sized by the sample
(``models.score_intervals``): a model is refused only when it is clearly below
``min_auc`` (the AUC's upper bound under it) or clearly miscalibrated (the ECE's
lower bound above ``max_ece``). A figure past its threshold whose interval
still reaches it proves nothing either way on so few rows: the model passes,
and the decision says so in a caveat ("promoted on 127 requests: ECE 0.144
(noise-corrected interval 0.051 to 0.220) is not clearly above 0.080") that the
registry's tags and audit log keep. The ECE's interval takes away the inflation
noise gives an ECE (``models.score_intervals``), so on very few rows it may sit
wholly below the measured figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the settings hold GateRules: reading them loads neither NumPy nor pandas
    from collections.abc import Mapping

    from models.comparison import AucInterval
    from models.list_changes import ListChanges
    from models.score_intervals import MetricInterval


@dataclass(frozen=True)
class GateRules:
    """Thresholds and margins of the promotion gate."""

    min_auc: float = 0.65
    max_ece: float = 0.03
    min_auc_gain: float = 0.0
    """The paired interval's lower bound of the AUC gain must exceed this (a significant gain)."""
    noninferiority_margin: float = 0.005
    """With a declared reason, the lower bound need only exceed ``-noninferiority_margin`` (no worse)."""
    interval_level: float = 0.95
    """Coverage of the paired interval of the AUC gain."""
    bootstrap_rounds: int = 1000
    """Paired bootstrap draws of the test month's accounts."""
    bootstrap_seed: int = 7
    """Seed of the draws: the same rows and models give the same interval."""
    max_ece_increase: float = 0.005
    segment_auc_margin: float = 0.03
    min_segment_rows: int = 200
    """Segments smaller than this on the test month are not compared (their AUC is noise)."""


@dataclass(frozen=True)
class Check:
    """One rule of the gate, with the figures it compared."""

    rule: str
    value: float
    threshold: float
    passed: bool

    def describe(self) -> str:
        """The check in words."""
        verdict = "ok" if self.passed else "FAILED"
        return f"{self.rule}: {self.value:.4f} vs {self.threshold:.4f} ({verdict})"


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided and every check behind it."""

    promote: bool
    checks: list[Check] = field(default_factory=list)
    compared_with: str | None = None
    interval: AucInterval | None = None
    """The paired interval of the AUC gain over the champion (None without a champion)."""
    reason: str | None = None
    """Why the challenger was trained, as declared (``savedesk train --reason``)."""
    list_changes: ListChanges | None = None
    """How the lists would change if the challenger were champion."""
    intervals: Mapping[str, MetricInterval] | None = None
    """The bootstrap intervals of the challenger's own AUC and ECE (``models.score_intervals``), when given."""
    caveats: list[str] = field(default_factory=list)
    """Thresholds the challenger's figure is past but its interval still reaches: passed, and said so."""

    @property
    def reasons(self) -> list[str]:
        """The failed checks in words (empty when promoted)."""
        return [c.describe() for c in self.checks if not c.passed]

    def summary(self) -> str:
        """One line for a tag or a log."""
        head = "promote" if self.promote else "refuse"
        against = f" against {self.compared_with}" if self.compared_with else " (no champion yet)"
        gain = f" {self.interval.describe()};" if self.interval is not None else ""
        caveats = "".join(f"; caveat: {c}" for c in self.caveats)
        return f"{head}{against}:{gain} " + "; ".join(c.describe() for c in self.checks) + caveats

    def record(self) -> dict[str, Any]:
        """What the registry keeps of the decision beyond its summary.

        The intervals, the reason, the list changes and the caveats (None where there is none: the audit log
        leaves it out).
        """
        return {
            "interval": self.interval.as_dict() if self.interval is not None else None,
            "reason": self.reason,
            "list_changes": self.list_changes.as_dict() if self.list_changes is not None else None,
            "intervals": {k: v.as_dict() for k, v in self.intervals.items()} if self.intervals is not None else None,
            "caveats": list(self.caveats) or None,
        }


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    rules: GateRules,
    challenger_segments: dict[str, tuple[float, int]] | None = None,
    champion_segments: dict[str, tuple[float, int]] | None = None,
    champion_label: str | None = None,
    interval: AucInterval | None = None,
    reason: str | None = None,
    list_changes: ListChanges | None = None,
    intervals: Mapping[str, MetricInterval] | None = None,
    rows_word: str = "rows",
) -> GateDecision:
    """Decide whether a challenger replaces the champion.

    Args:
        challenger: The challenger's test-month metrics (``auc``, ``ece``).
        champion: The champion's metrics on the same test month, or None.
        rules: The declared thresholds.
        challenger_segments: Segment -> (AUC, rows) of the challenger.
        champion_segments: The same for the champion.
        champion_label: How to name the champion in the decision (e.g. ``v3``).
        interval: The paired interval of the AUC gain on the same rows; without it (a caller holding only
            metrics) the point AUCs are compared instead.
        reason: Why the challenger was trained; with it, a non-inferior challenger may be promoted.
        list_changes: How the lists would change (carried into the decision, not judged).
        intervals: The bootstrap intervals of the challenger's ``auc`` and ``ece`` on its test rows; with them
            the absolute thresholds refuse only what is clearly past them (without them, the point figures).
        rows_word: What a test row is, in a caveat's words (``requests`` for the save model).

    Returns:
        The decision with every check.
    """
    checks, caveats = _absolute_checks(challenger, rules, intervals or {})
    reason = (reason or "").strip() or None
    if champion is not None and interval is not None:
        checks.append(_gain_check(interval, rules, reason))
    elif champion is not None:
        need = champion["auc"] + rules.min_auc_gain
        checks.append(Check("auc >= champion auc + min_auc_gain", challenger["auc"], need, challenger["auc"] >= need))
    if champion is not None:
        limit = champion["ece"] + rules.max_ece_increase
        checks.append(
            Check("ece <= champion ece + max_ece_increase", challenger["ece"], limit, challenger["ece"] <= limit)
        )
        for segment, (champion_auc, rows) in sorted((champion_segments or {}).items()):
            mine = (challenger_segments or {}).get(segment)
            if mine is None or rows < rules.min_segment_rows or champion_auc != champion_auc:  # NaN: one class only
                continue
            floor = champion_auc - rules.segment_auc_margin
            checks.append(Check(f"segment {segment} auc >= champion - margin", mine[0], floor, mine[0] >= floor))
    promote = all(c.passed for c in checks)
    if caveats:
        caveats = [f"{'promoted on' if promote else 'on'} {_rows(intervals, rows_word)}: {c}" for c in caveats]
    return GateDecision(promote, checks, champion_label, interval, reason, list_changes, intervals, caveats)


def _absolute_checks(
    challenger: dict[str, float], rules: GateRules, intervals: Mapping[str, MetricInterval]
) -> tuple[list[Check], list[str]]:
    """``min_auc`` and ``max_ece``: on the interval's far bound when there is one, with a caveat when it decided.

    A model is refused when its AUC's upper bound is below ``min_auc`` or its ECE's lower bound is above
    ``max_ece``; a point figure past its threshold whose interval still reaches it passes with a caveat.
    """
    auc, ece = intervals.get("auc"), intervals.get("ece")
    checks, caveats = [], []
    if auc is None:
        checks.append(Check("auc >= min_auc", challenger["auc"], rules.min_auc, challenger["auc"] >= rules.min_auc))
    else:
        checks.append(Check("auc upper bound >= min_auc", auc.high, rules.min_auc, auc.high >= rules.min_auc))
        if auc.value < rules.min_auc <= auc.high:
            caveats.append(
                f"AUC {auc.value:.3f} (interval {auc.low:.3f} to {auc.high:.3f}) is not clearly below"
                f" {rules.min_auc:.3f}"
            )
    if ece is None:
        checks.append(Check("ece <= max_ece", challenger["ece"], rules.max_ece, challenger["ece"] <= rules.max_ece))
    else:
        checks.append(Check("ece lower bound <= max_ece", ece.low, rules.max_ece, ece.low <= rules.max_ece))
        if ece.value > rules.max_ece >= ece.low:
            caveats.append(
                f"ECE {ece.value:.3f} (noise-corrected interval {ece.low:.3f} to {ece.high:.3f}) is not clearly above"
                f" {rules.max_ece:.3f}"
            )
    return checks, caveats


def _rows(intervals: Mapping[str, MetricInterval] | None, word: str) -> str:
    """How many test rows the intervals were drawn on, in words (``127 requests``)."""
    rows = next(iter((intervals or {}).values())).rows
    return f"{rows:,} {word}"


def _gain_check(interval: AucInterval, rules: GateRules, reason: str | None) -> Check:
    """A significant gain; or, with a declared reason, non-inferiority within the margin."""
    if interval.low > rules.min_auc_gain:
        return Check("auc gain lower bound > min_auc_gain", interval.low, rules.min_auc_gain, True)
    if reason is None:
        hint = (
            " (non-inferior: promoted only with a declared reason)"
            if interval.low > -rules.noninferiority_margin
            else ""
        )
        return Check(f"auc gain lower bound > min_auc_gain{hint}", interval.low, rules.min_auc_gain, False)
    margin = -rules.noninferiority_margin
    return Check("auc gain lower bound > -noninferiority_margin (reason declared)", interval.low, margin,
                 interval.low > margin)  # fmt: skip
