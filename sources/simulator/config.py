"""Parameters of the synthetic hauler: its size and its hidden behaviour.

The defaults give a plausible North American hauler: commercial accounts
cancel at 8-12 % a year, 55-75 % of cancellation requests have a reason the desk
can act on, and a quarter to a half of requests end in a durable save.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sources.simulator.call_config import OutreachConfig

DEFAULT_END = date(2026, 10, 31)
"""Last day of a simulated extract unless told otherwise: fixed, never the clock."""


@dataclass(frozen=True)
class Territory:
    """A sales territory: where it is, how it prices, how well it runs its routes."""

    name: str
    city: str
    state: str
    cost_index: float
    price_markup_pct: float
    route_failure_rate: float
    competitor_entry_month: int | None
    """Month index (0 = first simulated month) a competitor enters; negative = before."""


TERRITORIES: tuple[Territory, ...] = (
    Territory("LA Metro", "Los Angeles", "CA", 1.25, 1.5, 0.06, -8),
    Territory("Bay Area", "San Jose", "CA", 1.35, 2.0, 0.04, None),
    Territory("Sacramento Valley", "Sacramento", "CA", 1.10, 1.0, 0.05, 9),
    Territory("Seattle Metro", "Seattle", "WA", 1.20, 1.0, 0.04, None),
    Territory("Phoenix", "Phoenix", "AZ", 0.95, 2.5, 0.07, 14),
    Territory("Dallas-Fort Worth", "Dallas", "TX", 0.90, 2.0, 0.05, None),
    Territory("Houston", "Houston", "TX", 0.92, 3.0, 0.09, 4),
    Territory("Austin", "Austin", "TX", 1.00, 1.0, 0.04, None),
    Territory("Chicago Metro", "Chicago", "IL", 1.10, 1.5, 0.06, None),
    Territory("Tampa Bay", "Tampa", "FL", 0.95, 1.0, 0.05, 17),
    Territory("Atlanta", "Atlanta", "GA", 0.93, 2.0, 0.08, None),
    Territory("Toronto", "Toronto", "ON", 1.15, 0.5, 0.03, None),
)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that shapes a simulated hauler.

    Attributes:
        accounts: Accounts on the book at the start, plus those that join later.
        months: Months of history in the extract.
        seed: Seed of the one random generator; same seed, same bytes.
        end: Last day of the extract.
        territories: The hauler's territories.
        segment_mix: Share of accounts per segment.
        new_account_share: Share of accounts that start during the extract.
        cpi_pct: Annual CPI-linked increase, in %.
        hidden_frailty_sd: Spread (log-odds) of the account-level hazard that no
            table shows; the rest of the hazard is observable.
        request_base_logit: Log-odds of a monthly cancellation request per segment
            for an account with nothing wrong.
        closure_base_logit: Log-odds of a monthly closure without any request.
        reps_per_territory: Inside sales reps per territory.
        price_shift_from: First day of a pricing regime change (None: no change, the default).
            From then on every anniversary increase is ``price_shift_pct`` points larger: a
            hauler that starts passing on more than before, which the monitoring's drift
            test simulates after a model's training period.
        price_shift_pct: Points added to every anniversary increase from ``price_shift_from`` on.
        silent_leave_logit: Log-odds of a monthly silent leave for an account with nothing wrong (None: nobody
            leaves silently, the default). A silent leaver stops being served and billed without calling or
            closing: the extract shows only its invoices stopping; the truth records the day
            (``truth/silent_leavers.parquet``). Price increases, billing trouble and the hidden frailty raise it.
        outreach: The desk's proactive calls and their true effects (``sources.simulator.calls``).
    """

    accounts: int = 5_000
    months: int = 24
    seed: int = 7
    end: date = DEFAULT_END
    territories: tuple[Territory, ...] = TERRITORIES
    segment_mix: dict[str, float] = field(
        default_factory=lambda: {
            "residential": 0.40,
            "commercial": 0.46,
            "industrial": 0.10,
            "municipal": 0.04,
        }
    )
    new_account_share: float = 0.12
    cpi_pct: float = 3.2
    hidden_frailty_sd: float = 0.35
    request_base_logit: dict[str, float] = field(
        default_factory=lambda: {
            "residential": -6.2,
            "commercial": -7.05,
            "industrial": -7.05,
            "municipal": -7.4,
        }
    )
    closure_base_logit: float = -8.2
    reps_per_territory: int = 3
    price_shift_from: date | None = None
    price_shift_pct: float = 0.0
    surcharges: bool = True
    """Whether territories draw fuel surcharges and environmental fees at random (off: anniversary increases
    only, for a hauler whose price features must stay stable, e.g. a drift test's control)."""
    silent_leave_logit: float | None = None
    outreach: OutreachConfig = OutreachConfig()

    def with_end(self, end: date) -> SimulationConfig:
        """The same configuration with another last day."""
        return replace(self, end=end)
