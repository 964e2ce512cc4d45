"""What a save policy is worth: against the simulator's truth, and from history alone.

Every policy is judged on the same requests in money: the expected net margin
of its offers, Σ P(durable save | offer) × margin kept − one-off cost.

- With the truth (a simulated hauler), P comes from the simulator: the policy's
  true value, the oracle's (the best allowed offer by the truth, under the same
  guardrails), the reps' (the offers they actually made), always rollback 10 %
  and never concede (contract education for everyone).
- From history alone, the doubly robust estimate: the model's value of the
  policy's offers, corrected on the requests where the rep happened to make the
  same offer by what really happened, weighted by 1 / P(the rep made it): the
  propensity the desk logged where it drew the offer (``offer_propensity``),
  else the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.exploration import PROPENSITY_COLUMN
from models.guardrails import GuardrailRules
from models.offer_propensity import behaviour_propensity
from models.policy import RECOMMENDED, decide

BASELINES = {"rollback10": "rollback_10", "never_concede": "contract_education"}
"""Fixed policies every policy is compared with: one offer for every request."""


@dataclass(frozen=True)
class PolicyValues:
    """The values of the policy and its comparisons on one set of requests, in dollars."""

    requests: int
    value: float
    oracle_value: float
    reps_value: float
    rollback10_value: float
    never_concede_value: float
    rollback_spend: float
    reps_rollback_spend: float
    dr_estimate: float
    dr_stderr: float

    def flat(self, prefix: str = "policy") -> dict[str, float]:
        """The figures ``evaluate --json`` prints (ratios, uplifts and errors as fractions)."""
        return {
            f"{prefix}.requests": self.requests,
            f"{prefix}.value": round(self.value, 2),
            f"{prefix}.oracle_value": round(self.oracle_value, 2),
            f"{prefix}.reps_value": round(self.reps_value, 2),
            f"{prefix}.rollback10_value": round(self.rollback10_value, 2),
            f"{prefix}.never_concede_value": round(self.never_concede_value, 2),
            f"{prefix}.value_ratio": _ratio(self.value, self.oracle_value),
            f"{prefix}.uplift_vs_reps": _ratio(self.value, self.reps_value) - 1.0,
            f"{prefix}.uplift_vs_rollback10": _ratio(self.value, self.rollback10_value) - 1.0,
            f"{prefix}.uplift_vs_never_concede": _ratio(self.value, self.never_concede_value) - 1.0,
            f"{prefix}.rollback_spend": round(self.rollback_spend, 2),
            f"{prefix}.reps_rollback_spend": round(self.reps_rollback_spend, 2),
            f"{prefix}.rollback_spend_ratio_vs_reps": _ratio(self.rollback_spend, self.reps_rollback_spend),
            f"{prefix}.dr_estimate": round(self.dr_estimate, 2),
            f"{prefix}.dr_error": _ratio(self.dr_estimate, self.value) - 1.0,
            f"{prefix}.dr_relative_stderr": _ratio(self.dr_stderr, self.dr_estimate),
        }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def true_save_probability(plans: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The simulator's P(durable save) of every (request, offer) row of ``plans``.

    Raises:
        ValueError: A row has no truth (the truth belongs to another hauler).
    """
    lookup = truth.set_index(["request_id", "offer"])["durable_save_probability"]
    index = pd.MultiIndex.from_arrays([plans["request_id"].astype(str), plans["offer"].astype(str)])
    found = lookup.reindex(index).to_numpy(dtype=float)
    if np.isnan(found).any():
        raise ValueError(f"{int(np.isnan(found).sum())} candidate rows have no save truth: wrong truth folder?")
    return found


def realized_value(p_save: np.ndarray, plans: pd.DataFrame) -> np.ndarray:
    """P(save) × margin kept − one-off cost of each row."""
    return p_save * plans["margin_kept"].to_numpy(dtype=float) - plans["one_off_cost"].to_numpy(dtype=float)


def rollback_spend(p_save: np.ndarray, plans: pd.DataFrame, annuity: float) -> np.ndarray:
    """Expected margin given away by each row's rollback: P(save) × monthly concession over the horizon."""
    is_rollback = plans["rollback_pct"].to_numpy(dtype=float) > 0
    return np.where(is_rollback, p_save * plans["concession_monthly"].to_numpy(dtype=float) * annuity, 0.0)


def doubly_robust_value(
    plans: pd.DataFrame,
    logged_offer: pd.Series,
    outcome: pd.Series,
    logged_propensity: pd.Series,
    max_weight: float = 20.0,
) -> tuple[float, float]:
    """Doubly robust off-policy estimate of the recommended offers' total value, and its standard error.

    For each request i with logged offer a_i, outcome y_i and propensity π_i:
    q̂(i, π(i)) + 1[a_i = π(i)] / π_i × (r_i − q̂(i, a_i)), where q̂ is the
    model's expected net value and r_i = y_i × margin kept(a_i) − cost(a_i).

    Args:
        plans: ``decide`` rows (model ``p_save`` and ``expected_net_value``).
        logged_offer: The rep's offer, by ``request_id``.
        outcome: Whether the save was durable (bool), by ``request_id``.
        logged_propensity: P(the rep made the logged offer), by ``request_id``.
        max_weight: Largest weight 1 / π_i (bounds the variance a rare offer brings, at a small bias).

    Returns:
        The estimate and its standard error (from the spread of the per-request terms), in dollars.
    """
    chosen = plans[plans["choice"] == RECOMMENDED].set_index("request_id")
    ids = chosen.index
    offers = logged_offer.reindex(ids).astype(str).to_numpy()
    at_logged = plans.set_index(["request_id", "offer"]).reindex(pd.MultiIndex.from_arrays([ids, offers]))
    y = outcome.reindex(ids).astype(float).to_numpy()
    reward = y * at_logged["margin_kept"].to_numpy(dtype=float) - at_logged["one_off_cost"].to_numpy(dtype=float)
    residual = np.nan_to_num(reward - at_logged["expected_net_value"].to_numpy(dtype=float))
    matches = chosen["offer"].astype(str).to_numpy() == offers
    weight = matches / np.maximum(logged_propensity.reindex(ids).to_numpy(dtype=float), 1.0 / max_weight)
    terms = chosen["expected_net_value"].to_numpy(dtype=float) + weight * residual
    return float(terms.sum()), float(terms.std(ddof=1) * np.sqrt(len(terms))) if len(terms) > 1 else float("nan")


def evaluate_policy(
    plans: pd.DataFrame,
    truth: pd.DataFrame,
    requests: pd.DataFrame,
    logged_propensity: pd.Series,
    rules: GuardrailRules,
    annuity: float,
    max_weight: float = 20.0,
) -> PolicyValues:
    """Value of the recommendations in ``plans`` and of every comparison, on the same requests.

    Args:
        plans: ``decide`` rows of the requests (one row per request × offer).
        truth: The simulator's ``save_response`` (``request_id``, ``offer``, ``durable_save_probability``).
        requests: The requests with ``request_id``, the rep's ``offer`` and ``durable_save``; an optional
            ``offer_propensity`` is the propensity logged where the desk drew the offer, and is used there.
        logged_propensity: The estimated P(the rep made the logged offer), by ``request_id`` (used where no
            propensity was logged).
        rules: The guardrails (the oracle keeps them too).
        annuity: Present value of a dollar a month over the value horizon (rollback spend).
        max_weight: Largest inverse-propensity weight of the doubly robust estimate.
    """
    p_true = true_save_probability(plans, truth)
    value = realized_value(p_true, plans)
    spend = rollback_spend(p_true, plans, annuity)
    offers = plans["offer"].astype(str)
    logged = requests.set_index("request_id")
    rep_offer = logged["offer"].astype(str).reindex(plans["request_id"]).to_numpy()
    reps = offers.to_numpy() == rep_offer
    recommended = (plans["choice"] == RECOMMENDED).to_numpy()
    estimated = logged_propensity.reindex(logged.index).to_numpy(dtype=float)
    behaviour = pd.Series(behaviour_propensity(logged, estimated), index=logged.index)
    dr, stderr = doubly_robust_value(plans, logged["offer"], logged["durable_save"], behaviour, max_weight)
    # The oracle: the same guardrails, judged on true values (the repeat rule compares values).
    base = plans.drop(columns=[c for c in plans.columns if c in _DECIDED])
    oracle = (decide(base, p_true, rules)["choice"] == RECOMMENDED).to_numpy()
    return PolicyValues(
        requests=int(recommended.sum()),
        value=float(value[recommended].sum()),
        oracle_value=float(value[oracle].sum()),
        reps_value=float(value[reps].sum()),
        rollback10_value=float(value[(offers == BASELINES["rollback10"]).to_numpy()].sum()),
        never_concede_value=float(value[(offers == BASELINES["never_concede"]).to_numpy()].sum()),
        rollback_spend=float(spend[recommended].sum()),
        reps_rollback_spend=float(spend[reps].sum()),
        dr_estimate=dr,
        dr_stderr=stderr,
    )


_DECIDED = ("p_save", "expected_net_value", "allowed", "blocked_by", "needs_manager", "capped_to", "note", "rank",
            "choice", "reason_codes", PROPENSITY_COLUMN)  # fmt: skip
