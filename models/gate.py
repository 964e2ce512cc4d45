"""The promotion gate: declared thresholds, and a decision that says why.

A challenger becomes champion only if it passes the absolute thresholds and,
when there is a champion, is no worse than it on the same test month: overall
AUC, calibration, and no segment's AUC falling by more than its margin. The
rules are data (``GateRules``, set in settings); ``decide`` is a pure function,
and the tracking module records what it decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateRules:
    """Thresholds and margins of the promotion gate."""

    min_auc: float = 0.65
    max_ece: float = 0.03
    min_auc_gain: float = 0.0
    """How much the challenger's AUC must exceed the champion's (negative: how much worse it may be)."""
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

    @property
    def reasons(self) -> list[str]:
        """The failed checks in words (empty when promoted)."""
        return [c.describe() for c in self.checks if not c.passed]

    def summary(self) -> str:
        """One line for a tag or a log."""
        head = "promote" if self.promote else "refuse"
        against = f" against {self.compared_with}" if self.compared_with else " (no champion yet)"
        return f"{head}{against}: " + "; ".join(c.describe() for c in self.checks)


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    rules: GateRules,
    challenger_segments: dict[str, tuple[float, int]] | None = None,
    champion_segments: dict[str, tuple[float, int]] | None = None,
    champion_label: str | None = None,
) -> GateDecision:
    """Decide whether a challenger replaces the champion.

    Args:
        challenger: The challenger's test-month metrics (``auc``, ``ece``).
        champion: The champion's metrics on the same test month, or None.
        rules: The declared thresholds.
        challenger_segments: Segment -> (AUC, rows) of the challenger.
        champion_segments: The same for the champion.
        champion_label: How to name the champion in the decision (e.g. ``v3``).

    Returns:
        The decision with every check.
    """
    checks = [
        Check("auc >= min_auc", challenger["auc"], rules.min_auc, challenger["auc"] >= rules.min_auc),
        Check("ece <= max_ece", challenger["ece"], rules.max_ece, challenger["ece"] <= rules.max_ece),
    ]
    if champion is not None:
        need = champion["auc"] + rules.min_auc_gain
        checks.append(Check("auc >= champion auc + min_auc_gain", challenger["auc"], need, challenger["auc"] >= need))
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
    return GateDecision(all(c.passed for c in checks), checks, champion_label)
