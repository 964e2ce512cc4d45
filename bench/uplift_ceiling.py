"""How close can any ranking by what a call changes come to the oracle, on this hauler's data?

Issue 18 asks savedesk's proactive ranking for a Qini of at least 0.8× the oracle's (ranking by each
account's true effect × revenue). This bench puts savedesk's figure beside three rankings that know more
than any learner can, all judged on the same test month against the simulator's truth (``call_effects``)
by ``pipelines.outreach``'s rule:

- **risk**: the churn model's probability alone (as ``outreach.qini_risk``);
- **savedesk**: the uplift learner ``models.uplift_selection.choose_uplift`` chooses on the training rows
  (what ``savedesk evaluate --json`` reports as ``outreach.qini_ratio_oracle``);
- **noise-free outcomes**: the offset learner (``models.uplift_offset``, same settings) fitted not on who
  churned but on each training row's *true* probability of churning, called or not (from the truth's
  hazards): what the learner would reach with no luck in the outcomes;
- **true effects, learned**: a LightGBM regressor fitted on every training row's *true* call effect (from the
  truth): the most the features can tell about the effect, with unlimited outcomes.

Only the last two read the truth for training; they bound what a learner on real outcomes can reach.

    .venv/bin/python bench/uplift_ceiling.py --data data/v50
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/features.py

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from scipy.special import expit

from features.registry import BY_NAME
from features.snapshots import snapshot
from models.names import CHURN_MODEL
from models.uplift import qini
from models.uplift_offset import correction
from models.uplift_selection import choose_uplift, training_sample
from pipelines.outreach import month_end, training_dates, true_effects, uplift_rows
from pipelines.services import open_tracker
from pipelines.settings import load_settings
from pipelines.training import label_spec
from pipelines.workspace import open_workspace


def truth_of_rows(truth_dir: Path, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The truth's ``call_effects`` columns of each training row (its account, the month after its as-of date)."""
    effects = pd.read_parquet(truth_dir / "call_effects.parquet", columns=["account_id", "month", *columns])
    effects["as_of"] = pd.to_datetime(effects["month"]) - timedelta(days=1)
    keys = rows[["account_id", "as_of"]].assign(as_of=pd.to_datetime(rows["as_of"]))
    return keys.merge(effects, on=["account_id", "as_of"], how="left")[columns]


def true_outcomes(truth_dir: Path, rows: pd.DataFrame, months: int) -> np.ndarray:
    """Each training row's true probability of a request within ``months`` months, in the arm it was in."""
    hazards = truth_of_rows(truth_dir, rows, ["request_hazard_uncalled", "request_hazard_called"])
    hazard = np.where(rows["called"], hazards["request_hazard_called"], hazards["request_hazard_uncalled"])
    return np.asarray(1 - (1 - np.clip(hazard.astype(float), 0, 1)) ** months)


def main() -> None:
    """Print the four rankings' Qini against the oracle's (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="A trained workspace of a simulated hauler.")
    args = parser.parse_args()
    settings = load_settings(args.data)
    workspace = open_workspace(settings)
    tracker = open_tracker(settings)
    version = tracker.alias_version(CHURN_MODEL, "champion")
    if version is None:
        raise SystemExit("No churn champion: run `savedesk train` on the workspace first.")
    churn = tracker.load_churn_model(version.model_uri)
    params = settings.outreach.uplift
    spec = label_spec(settings)
    test = month_end(spec.last_labelled_as_of(workspace.end))
    started = time.perf_counter()
    rows = training_sample(uplift_rows(settings, workspace, training_dates(settings, workspace, test)), params)
    frame = snapshot(workspace.tables, test, workspace.end, spec).to_pandas()
    truth = true_effects(settings, test)
    if truth is None:
        raise SystemExit("No truth: the bench needs a simulated hauler's workspace.")
    frame = frame.merge(truth, on="account_id", how="inner")
    revenue = pd.to_numeric(frame["monthly_revenue"], errors="coerce").fillna(0.0).to_numpy()
    value = frame["retention_effect"].to_numpy(dtype=float) * revenue
    oracle = qini(value, value)
    categorical = [c for c in churn.columns if c in BY_NAME and BY_NAME[c].categorical]

    chosen = choose_uplift(rows, churn, categorical, params)
    rankings = {"risk": churn.predict_proba(frame), f"savedesk ({chosen.chosen})": chosen.effect(frame)}

    soft = true_outcomes(settings.truth_dir, rows, months=3)
    known = ~np.isnan(soft)
    called = rows["called"].to_numpy(dtype=bool)
    x, x_test = churn.prepare(rows), churn.prepare(frame)
    start, start_test = churn.raw_score(rows), churn.raw_score(frame)
    arms = []
    for arm in (known & ~called, known & called):
        model = LGBMRegressor(**(correction(int(arm.sum()), params).get_params() | {"objective": "cross_entropy"}))
        arms.append(model.fit(x[arm], soft[arm], init_score=start[arm]))
        start = start + model.predict(x, raw_score=True)
        start_test = start_test + model.predict(x_test, raw_score=True)
    uncalled_test = start_test - arms[1].predict(x_test, raw_score=True)
    rankings["offset learner on noise-free outcomes"] = expit(uncalled_test) - expit(start_test)

    effects = truth_of_rows(settings.truth_dir, rows, ["retention_effect"])["retention_effect"]
    learned = LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=31, min_child_samples=100,
                            random_state=params.seed, n_jobs=params.threads, verbose=-1)  # fmt: skip
    learned.fit(x[effects.notna().to_numpy()], effects.dropna().to_numpy())
    rankings["true effects, learned from the features"] = np.asarray(learned.predict(x_test))

    print(f"Test month after {test} · {len(frame):,} accounts · {len(rows):,} training rows "
          f"({int(called.sum()):,} called) · {time.perf_counter() - started:.0f} s")  # fmt: skip
    print(f"{'ranking':<52}{'Qini / oracle':>14}{'Qini / risk':>13}")
    risk = qini(rankings["risk"], value)
    for name, effect in rankings.items():
        score = risk if name == "risk" else qini(np.asarray(effect) * revenue, value)
        print(f"{name:<52}{score / oracle:>14.3f}{score / risk:>13.3f}")


if __name__ == "__main__":
    main()
