"""How the simulated desk makes proactive calls: who it lists, how many it reaches, how long a call matters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutreachConfig:
    """The simulated desk's proactive outreach (``sources.simulator.calls``).

    Each month the desk lists accounts worth a call: the riskiest by what the tables
    show (``risk_share`` of the eligible accounts, less a random ``holdout_share`` of
    them held back as a control), plus ``random_share`` of the rest at random, so the
    history holds called and uncalled accounts across the whole book. Reps reach
    ``compliance`` of the listed accounts. A call changes the account's request log-odds
    for ``effect_months`` months (the month of the call and the next ones), and the
    desk calls no account again while an earlier call still acts.

    Attributes:
        enabled: Whether the desk makes proactive calls at all (off: the hauler of
            before issue 18, with no ``proactive_calls`` table and no call truth).
        risk_share: Share of the eligible accounts listed by risk each month.
        random_share: Share of the other eligible accounts listed at random each month.
        holdout_share: Share of the risk-ranked list held out (never called) each month.
        compliance: Share of listed accounts a rep reaches.
        effect_months: Months a call acts on the hazard.
        risk_noise_sd: Spread (log-odds) of the desk's error in ranking risk: its ranking
            reads the observable hazard, never the hidden frailty.
    """

    enabled: bool = True
    risk_share: float = 0.06
    random_share: float = 0.03
    holdout_share: float = 0.10
    compliance: float = 0.8
    effect_months: int = 3
    risk_noise_sd: float = 0.5

    def __post_init__(self) -> None:
        for name in ("risk_share", "random_share", "holdout_share", "compliance"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.effect_months < 1:
            raise ValueError(f"effect_months must be >= 1, got {self.effect_months}")
