"""The cost to serve an account: what the price floor and every offer's margin rest on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sources.contract import ONE_TERRITORY
from sources.extract_shape import ONE_TERRITORY_COST_INDEX

# The simulated hauler's territories (sources/simulator/config.py); a test keeps them equal.
SIMULATED_COST_INDEX: tuple[tuple[str, float], ...] = (
    ("LA Metro", 1.25), ("Bay Area", 1.35), ("Sacramento Valley", 1.10), ("Seattle Metro", 1.20),
    ("Phoenix", 0.95), ("Dallas-Fort Worth", 0.90), ("Houston", 0.92), ("Austin", 1.00),
    ("Chicago Metro", 1.10), ("Tampa Bay", 0.95), ("Atlanta", 0.93), ("Toronto", 1.15),
)  # fmt: skip


@dataclass(frozen=True)
class CostToServe:
    """Monthly cost to serve an account: what the price floor and every margin rest on.

    A line costs ``index × (per_line + per_yard_lifted × yards × pickups a week ×
    weeks_per_month + compactor if leased)``, where ``index`` is the territory's
    cost index (labour, fuel, disposal fees relative to 1.0). The defaults are the
    simulated hauler's own cost model (``sources/simulator/book.py``), so the
    economics are honest on simulated data. A real hauler puts its finance team's
    cost to serve here: route cost per lift, disposal per yard and equipment by
    territory.

    Attributes:
        territory_index: (territory, cost index) pairs.
        default_index: Index of a territory missing from the table; ``None``
            makes a missing territory an error, so a new territory is never
            priced on a guess.
        one_territory_index: Index of the one territory (``sources.contract.ONE_TERRITORY``, ``all``) that an
            extract without territories gives every account, unless ``territory_index`` names it: 1.0, the
            reference the indexes are relative to (a desk with one book is its own average). Said in the
            extract's sentence and tags (``sources.extract_shape``).
        per_line: Fixed monthly cost of a line (billing, container upkeep), in dollars.
        per_yard_lifted: Collection and disposal per cubic yard lifted, in dollars.
        weeks_per_month: Weeks in an average month.
        compactor: Monthly cost of a leased compactor, in dollars.
        unknown_size_cost_ratio: Cost to serve as a share of the monthly revenue of an account whose lines are
            not in the extract (no service_lines): a hauler's typical operating ratio.
    """

    territory_index: tuple[tuple[str, float], ...] = SIMULATED_COST_INDEX
    default_index: float | None = None
    one_territory_index: float = ONE_TERRITORY_COST_INDEX
    per_line: float = 14.0
    unknown_size_cost_ratio: float = 0.65
    per_yard_lifted: float = 5.2
    weeks_per_month: float = 4.33
    compactor: float = 180.0

    def index_of(self, territory: pd.Series) -> np.ndarray:
        """Each row's territory cost index; unknown territories get ``default_index`` or an error."""
        codes, distinct = pd.factorize(territory)  # a dozen territories: look each up once
        table = self.indexes()
        found = np.array([table.get(t, np.nan) for t in distinct.tolist()], dtype=float)
        index = np.where(codes < 0, np.nan, found[codes] if len(found) else np.nan)
        unknown = np.isnan(index)
        if unknown.any() and self.default_index is None:
            names = sorted(territory[unknown].astype(str).unique())[:10]
            raise ValueError(
                f"No cost index for territories {names}: add them to the offer catalog's "
                "cost_to_serve.territory_index (or set cost_to_serve.default_index)."
            )
        return np.where(unknown, self.default_index if self.default_index is not None else np.nan, index)

    def unknown(self, territory: pd.Series) -> list[str]:
        """The territories that cannot be priced: missing from the table while there is no ``default_index``."""
        if self.default_index is not None:
            return []
        known = set(self.indexes())
        return sorted(str(name) for name in pd.unique(territory.dropna()) if name not in known)

    def indexes(self) -> dict[str, float]:
        """Every territory's cost index: ``territory_index``, and the one territory of an extract without any."""
        return {ONE_TERRITORY: self.one_territory_index, **dict(self.territory_index)}

    def line_cost(self, index: np.ndarray, yards: np.ndarray, pickups: np.ndarray, lease: np.ndarray) -> np.ndarray:
        """Monthly cost of single lines."""
        lifted = self.per_yard_lifted * yards * pickups * self.weeks_per_month
        return index * (self.per_line + lifted + self.compactor * lease)

    def account_cost(
        self, index: np.ndarray, lines: np.ndarray, weekly_yards: np.ndarray, lease: np.ndarray
    ) -> np.ndarray:
        """Monthly cost of whole accounts from their line count, weekly capacity and lease."""
        lifted = self.per_yard_lifted * weekly_yards * self.weeks_per_month
        return index * (self.per_line * lines + lifted + self.compactor * lease)
