"""The measured effect of the desk's proactive calls: listed against held-out accounts, with intervals.

The randomized holdout (``models.holdout``) makes the comparison fair: the held-out
accounts are those the desk would have called, left alone by a coin it cannot bias.
Within each risk band the effect on retention is the difference of the retention
rates (listed − held out); the desk's effect is the band effects weighted by the
listed accounts of each band (a stratified difference in means), so a month whose
holdout drew more high-risk accounts than its list is not misread::

    kept        = Σ_band n_listed,b × (r_listed,b − r_held,b)
    var(kept)   = Σ_band n_listed,b² × (r_l(1−r_l)/n_l + r_h(1−r_h)/n_h)       (Neyman, conservative)
    worth       = the same on the margin each account kept brings

Listed accounts count whether or not a rep reached them (intention to treat): the
figure is what the list achieved, at the desk's real compliance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

LISTED, HELD_OUT = "listed", "held_out"
"""Values of the ``arm`` column."""


@dataclass(frozen=True)
class DeskEffect:
    """What the calls changed: accounts kept and margin kept, each with its interval, overall and by risk band."""

    kept: float
    kept_low: float
    kept_high: float
    worth: float
    worth_low: float
    worth_high: float
    listed: int
    held_out: int
    by_band: pd.DataFrame
    """One row per risk band: listed, held_out, retention of each arm, kept and its interval."""

    def sentence(self) -> str:
        """The effect in a manager's words: "Calls kept 41 accounts (12 to 70), worth $183,000 (…)."."""
        return (
            f"Calls kept {self.kept:,.0f} accounts ({self.kept_low:,.0f} to {self.kept_high:,.0f}), worth"
            f" ${self.worth:,.0f} (${self.worth_low:,.0f} to ${self.worth_high:,.0f}), against"
            f" {self.held_out:,} held-out accounts."
        )

    def figures(self, prefix: str = "outreach.effect") -> dict[str, float]:
        """Flat figures for MLflow and JSON."""
        return {
            f"{prefix}.kept": self.kept, f"{prefix}.kept_low": self.kept_low, f"{prefix}.kept_high": self.kept_high,
            f"{prefix}.worth": self.worth, f"{prefix}.worth_low": self.worth_low,
            f"{prefix}.worth_high": self.worth_high, f"{prefix}.listed": float(self.listed),
            f"{prefix}.held_out": float(self.held_out),
        }  # fmt: skip


def desk_effect(accounts: pd.DataFrame, level: float = 0.95) -> DeskEffect:
    """The desk's effect from one row per listed or held-out account.

    Args:
        accounts: ``arm`` (``listed`` or ``held_out``), ``kept`` (still a customer at the end of the window),
            ``margin`` (what the account brings if kept) and ``risk_band``.
        level: Coverage of the intervals.

    Returns:
        The effect; bands without both arms are left out of it (and shown with NaN).
    """
    z = float(norm.ppf(0.5 + level / 2))
    rows, kept, kept_var, worth, worth_var = [], 0.0, 0.0, 0.0, 0.0
    for band, part in accounts.groupby("risk_band", sort=True):
        arms = {arm: part[part["arm"] == arm] for arm in (LISTED, HELD_OUT)}
        n_l, n_h = len(arms[LISTED]), len(arms[HELD_OUT])
        row = {"risk_band": band, "listed": n_l, "held_out": n_h}
        if n_l and n_h:
            r = {arm: arms[arm]["kept"].astype(float) for arm in arms}
            m = {arm: (arms[arm]["kept"].astype(float) * arms[arm]["margin"].astype(float)) for arm in arms}
            diff = r[LISTED].mean() - r[HELD_OUT].mean()
            var = _var_of_rate(r[LISTED]) + _var_of_rate(r[HELD_OUT])
            mdiff = m[LISTED].mean() - m[HELD_OUT].mean()
            mvar = sum(_var_of_margin(r[arm], arms[arm]["margin"].astype(float)) for arm in arms)
            kept += n_l * diff
            kept_var += n_l**2 * var
            worth += n_l * mdiff
            worth_var += n_l**2 * mvar
            row |= {"retention_listed": r[LISTED].mean(), "retention_held_out": r[HELD_OUT].mean(),
                    "kept": n_l * diff, "kept_low": n_l * (diff - z * np.sqrt(var)),
                    "kept_high": n_l * (diff + z * np.sqrt(var))}  # fmt: skip
        rows.append(row)
    half, mhalf = z * np.sqrt(kept_var), z * np.sqrt(worth_var)
    arm = accounts["arm"] if "arm" in accounts else pd.Series(dtype=object)
    return DeskEffect(
        kept, kept - half, kept + half, worth, worth - mhalf, worth + mhalf,
        int((arm == LISTED).sum()), int((arm == HELD_OUT).sum()), pd.DataFrame(rows),
    )  # fmt: skip


def _var_of_rate(kept: pd.Series) -> float:
    """Variance of a retention rate, with one stay and one loss added (Agresti–Caffo).

    A small arm whose accounts all stayed is not taken for a certain one.
    """
    n = len(kept)
    rate = (float(kept.sum()) + 1) / (n + 2)
    return rate * (1 - rate) / (n + 2)


def _var_of_margin(kept: pd.Series, margin: pd.Series) -> float:
    """Variance of the mean margin kept: the sample's, but never below the rate's (Agresti–Caffo) × mean margin²."""
    values = kept * margin
    sample = float(values.var(ddof=1) / len(values)) if len(values) > 1 else 0.0
    return max(sample, _var_of_rate(kept) * float(margin.mean()) ** 2)
