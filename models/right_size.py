"""Right-sizing: the smaller service an account's measured fill says it needs, and what it does to rate and cost.

A right-size changes the account's biggest line (by weekly capacity): one fewer
pickup a week when it has more than one (and is not a cart), otherwise a smaller
container. It is proposed only when the containers' measured fill after the
change stays under the target: an account whose fill is unknown or already high
gets no proposal, and the offer is marked not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.requests import BIGGEST_LINE_COLUMNS
from models.cost_to_serve import CostToServe


@dataclass(frozen=True)
class RightSizeRules:
    """How a right-size is proposed, and how it changes rate and cost.

    The defaults are what the simulated hauler does (``sources/simulator/saves.py``).

    Attributes:
        target_fill_pct: Highest fill, in % of capacity, the smaller service may run at.
        max_steps: Most steps (one pickup, or one container size) taken in one proposal.
        container_ratio: Size of the smaller container relative to the current one.
        cart_yards: Size of the smaller cart, in cubic yards.
        rate_elasticity: The line's rate scales by (capacity ratio) to this power.
        cost_elasticity: The line's cost to serve scales by (capacity ratio) to this power.
        swap_cost: Delivering a smaller container, in dollars (a frequency change costs nothing).
    """

    target_fill_pct: float = 85.0
    max_steps: int = 1
    container_ratio: float = 0.67
    cart_yards: float = 0.35
    rate_elasticity: float = 0.85
    cost_elasticity: float = 0.9
    swap_cost: float = 75.0

    def __post_init__(self) -> None:
        """Refuse rules that could not shrink anything."""
        if self.max_steps < 1 or not 0 < self.container_ratio < 1 or self.target_fill_pct <= 0:
            raise ValueError(
                "Right-size rules: max_steps must be at least 1, container_ratio between 0 and 1, "
                "and target_fill_pct positive."
            )


def _number(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def right_size(
    accounts: pd.DataFrame,
    rules: RightSizeRules,
    cost_to_serve: CostToServe,
    index: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
) -> dict[str, np.ndarray]:
    """The right-size proposal of each account and its rate, cost and capacity after.

    Args:
        accounts: Accounts with the ``BIGGEST_LINE_COLUMNS``, ``weekly_capacity_yards``
            and the fill features (``fill_pct_mean_365d``, else ``fill_pct_last``).
        rules: How to right-size.
        cost_to_serve: The cost model, for the biggest line's share of cost.
        index: Each account's territory cost index.
        revenue: Each account's monthly revenue now.
        cost: Each account's monthly cost to serve now.

    Returns:
        Arrays in account order: ``new_monthly_rate``, ``monthly_cost_to_serve``,
        ``weekly_capacity_after``, ``one_off_cost``, ``applicable``,
        ``proposed_change`` and ``not_applicable_reason``.
    """
    missing = [c for c in BIGGEST_LINE_COLUMNS if c not in accounts]
    if missing:
        raise ValueError(f"Right-sizing needs the biggest line's columns {missing}: join biggest_lines(service_lines).")
    yards, pickups = _number(accounts, "biggest_yards"), _number(accounts, "biggest_pickups")
    cart = (accounts["biggest_container"].astype(str) == "cart").to_numpy()
    fill = _number(accounts, "fill_pct_mean_365d")
    fill = np.where(np.isnan(fill), _number(accounts, "fill_pct_last"), fill)

    new_yards, new_pickups = yards.copy(), pickups.copy()
    step_yards, step_pickups = _step(yards, pickups, cart, rules)
    shrinks = step_yards * step_pickups < yards * pickups
    for _ in range(rules.max_steps):
        # Fill rises as capacity falls, so once a step runs over the target the deeper ones do too.
        fits = fill * yards * pickups / (step_yards * step_pickups) <= rules.target_fill_pct
        new_yards, new_pickups = np.where(fits, step_yards, new_yards), np.where(fits, step_pickups, new_pickups)
        step_yards, step_pickups = _step(step_yards, step_pickups, cart, rules)
    ratio = (new_yards * new_pickups) / (yards * pickups)
    applicable = ratio < 1  # NaN (no line) compares False; no fill never fits

    lease = accounts["biggest_is_lease"].fillna(False).to_numpy(dtype=bool)
    line_cost = cost_to_serve.line_cost(index, yards, pickups, lease)
    # The line's rate is not a feature; its share of the account's cost stands in for its share of revenue.
    line_rate = revenue * line_cost / cost
    gone_rate = np.where(applicable, line_rate * (1 - ratio**rules.rate_elasticity), 0.0)
    gone_cost = np.where(applicable, line_cost * (1 - ratio**rules.cost_elasticity), 0.0)
    capacity = _number(accounts, "weekly_capacity_yards")
    swap = applicable & (new_yards != yards)
    return {
        "new_monthly_rate": revenue - gone_rate,
        "monthly_cost_to_serve": cost - gone_cost,
        "weekly_capacity_after": np.where(applicable, capacity - yards * pickups + new_yards * new_pickups, capacity),
        "one_off_cost": np.where(swap, rules.swap_cost, 0.0),
        "applicable": applicable,
        "proposed_change": _describe(accounts, yards, pickups, new_yards, new_pickups, applicable),
        "not_applicable_reason": _why_not(yards, pickups, fill, shrinks, applicable),
    }


def _step(
    yards: np.ndarray, pickups: np.ndarray, cart: np.ndarray, rules: RightSizeRules
) -> tuple[np.ndarray, np.ndarray]:
    """One step down: one fewer pickup when there is more than one (not carts), else a smaller container."""
    fewer = (pickups > 1) & ~cart
    smaller = np.where(cart, np.minimum(yards, rules.cart_yards), yards * rules.container_ratio)
    return np.where(fewer, yards, smaller), np.where(fewer, pickups - 1, pickups)


def _size(yards: float) -> str:
    return f"{round(yards, 1):g} yd"


def _frequency(pickups: float) -> str:
    return f"{round(pickups, 2):g}×/week"


def _describe(
    accounts: pd.DataFrame,
    yards: np.ndarray,
    pickups: np.ndarray,
    new_yards: np.ndarray,
    new_pickups: np.ndarray,
    applicable: np.ndarray,
) -> np.ndarray:
    """The change in a rep's words, e.g. ``trash: front-load 6 yd 3×/week → 2×/week``."""
    stream = accounts["biggest_stream"].astype(str).to_numpy()
    container = accounts["biggest_container"].astype(str).str.replace("_", "-").to_numpy()
    out = np.full(len(accounts), "", dtype=object)
    for i in np.flatnonzero(applicable):
        after = [_size(new_yards[i])] if new_yards[i] != yards[i] else []
        after += [_frequency(new_pickups[i])] if new_pickups[i] != pickups[i] else []
        out[i] = f"{stream[i]}: {container[i]} {_size(yards[i])} {_frequency(pickups[i])} → {' '.join(after)}"
    return out


def _why_not(
    yards: np.ndarray, pickups: np.ndarray, fill: np.ndarray, shrinks: np.ndarray, applicable: np.ndarray
) -> np.ndarray:
    """Why an account gets no right-size, in words (empty where it gets one)."""
    out = np.full(len(yards), "", dtype=object)
    no_line = ~applicable & np.isnan(yards * pickups)
    smallest = ~applicable & ~no_line & ~shrinks
    no_fill = ~applicable & ~no_line & ~smallest & np.isnan(fill)
    out[no_line] = "no service line to resize"
    out[smallest] = "already the smallest size"
    out[no_fill] = "no fill audit to size from"
    high = np.flatnonzero(~applicable & ~no_line & ~smallest & ~no_fill)
    out[high] = [f"containers already {f:.0f}% full" for f in fill[high]]
    return out
