"""Proactive outreach, judged: the uplift model's training rows, and its Qini against the simulator's true effects.

``evaluate_outreach`` (``savedesk evaluate``) fits the uplift model (``models.uplift``) on
every month-end snapshot whose label window closed before the test month, with the
treatment read from the extract's ``proactive_calls`` (called in the month after the
as-of date), and scores the test month three ways against the truth's ``call_effects``
(``sources.simulator.calls``): savedesk's ranking (expected incremental margin), the
churn model's risk alone, and the oracle (true effect × revenue). The figures:
``outreach.qini_savedesk``, ``outreach.qini_risk``, ``outreach.qini_oracle``, their ratios,
and the matured outcomes per arm (``outreach.called_outcomes``, ``outreach.control_outcomes``,
``outreach.uplift_ready``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date, timedelta
from itertools import product

import numpy as np
import pandas as pd
import polars as pl

from features.labels import churn_labels
from features.registry import BY_NAME
from features.snapshots import snapshot
from features.view import Tables
from models.churn import ChurnModel
from models.holdout import risk_band
from models.names import CHURN_MODEL
from models.outreach_effect import HELD_OUT, LISTED, DeskEffect, desk_effect
from models.outreach_params import UpliftParams
from models.training_sample import draw_keys
from models.uplift import CALLED, UpliftModel, outcome_counts, qini, ready
from models.uplift_selection import choose_uplift
from pipelines.book import BookSource
from pipelines.outreach_ranking import ranking_note, uplift_path
from pipelines.settings import Settings
from pipelines.training import book_snapshot, label_spec
from pipelines.workspace import Workspace
from serving.publication.catalog import HOLDOUT_FILE, LIST_FILES

TREATMENT_DAYS = 31
"""A call counts as the treatment of an as-of date when it falls in the month after it."""
FIRST_MONTHS = 3
"""Month ends skipped at the start of the extract: the features need some history behind them."""


def month_end(day: date) -> date:
    """The last month end on or before ``day``: the as-of of a month's calls (made in the month's first week)."""
    following = day + timedelta(days=1)
    return day if following.day == 1 else following.replace(day=1) - timedelta(days=1)


def called_after(workspace: Workspace, as_of: date) -> set[str]:
    """Accounts called in the ``TREATMENT_DAYS`` after ``as_of`` (empty without ``proactive_calls``)."""
    calls = workspace.tables.get("proactive_calls")
    if calls is None:
        return set()
    window = (pl.col("call_date") > as_of) & (pl.col("call_date") <= as_of + timedelta(days=TREATMENT_DAYS))
    if "outcome" in calls.collect_schema().names():
        window &= pl.col("outcome").is_null() | (pl.col("outcome") == "reached")
    return set(calls.filter(window).select("account_id").collect()["account_id"].to_list())


def training_dates(settings: Settings, workspace: Workspace, test: date) -> list[date]:
    """Month ends whose label window closed before ``test``, after the first ``FIRST_MONTHS`` of the extract."""
    horizon = settings.churn.horizon_days + settings.churn.lead_days
    ends = pd.date_range(workspace.start, test, freq="ME").date
    return [d for d in ends[FIRST_MONTHS:] if d + timedelta(days=horizon) <= test]


def uplift_rows(settings: Settings, workspace: Workspace, dates: list[date]) -> pd.DataFrame:
    """Snapshots (features and churn label) of ``dates``, each row marked ``CALLED``."""
    spec = label_spec(settings)
    frames = []
    for day in dates:
        frame = snapshot(workspace.tables, day, workspace.end, spec).to_pandas()
        frames.append(frame.assign(**{CALLED: frame["account_id"].isin(called_after(workspace, day))}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sampled_uplift_rows(
    settings: Settings, workspace: Workspace, dates: list[date]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The uplift rows of a book too large for one process (``churn.training = "sample"``), and its outcomes.

    The outcomes per arm are the whole book's, counted first from the labels alone, shard by shard. Then each
    month's snapshot is built for the kept accounts alone (``cut_snapshot``): the called accounts, and the
    uncalled ones of a seeded account draw (``control_share``), both thinned alike (``thin``) when they would
    come to more than ``churn.max_training_rows``. An account's place in the draw is the churn sample's stable key
    (``models.training_sample.draw_keys``), so an account is a control in every month or in none, and the same
    accounts are drawn on every machine and run.
    """
    spec, params = label_spec(settings), settings.outreach.uplift
    called = {day: called_after(workspace, day) for day in dates}
    outcomes = {"called": 0, "control": 0}
    source, shards = BookSource.of(workspace, settings.clean_dir), settings.nightly.shards
    for day, k in product(dates, range(shards)):  # one shard's labels at a time
        accounts = churn_labels(source.shard(k, shards), day, workspace.end, spec)["account_id"]
        reached = int(accounts.is_in(pl.Series(list(called[day]), dtype=accounts.dtype).implode()).sum())
        outcomes["called"] += reached
        outcomes["control"] += len(accounts) - reached
    control_share, thin = uplift_draw(outcomes, params.control_per_called, settings.churn.max_training_rows)

    def keep(day: date) -> Callable[[pl.DataFrame], pl.DataFrame]:
        def cut(frame: pl.DataFrame) -> pl.DataFrame:
            is_called = frame["account_id"].is_in(
                pl.Series(list(called[day]), dtype=frame["account_id"].dtype).implode()
            )
            place = draw_keys(frame["account_id"].to_list(), params.seed) / float(2**64)
            kept = np.where(is_called.to_numpy(), place < thin, place < thin * control_share)
            return frame.with_columns(is_called.alias(CALLED)).filter(pl.Series(kept))

        return cut

    frames = [book_snapshot(settings, workspace, day, keep(day)).to_pandas() for day in dates]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), outcomes


def uplift_draw(outcomes: dict[str, int], control_per_called: float, max_rows: int) -> tuple[float, float]:
    """The share of uncalled accounts kept, and the thinning of both arms that keeps the rows within ``max_rows``.

    Twice the ``control_per_called`` uncalled rows per called one are kept: the selection then draws its own
    ``control_per_called`` from them (``models.uplift_selection.training_sample``).
    """
    called, control = outcomes["called"], outcomes["control"]
    control_share = min(1.0, 2 * control_per_called * called / max(1, control))
    rows = called + control_share * control
    return control_share, min(1.0, max_rows / max(1.0, rows))


def train_uplift(
    settings: Settings, workspace: Workspace, test: date, churn: ChurnModel, params: UpliftParams
) -> tuple[UpliftModel | None, dict[str, int]]:
    """The uplift model on the churn model's features (None until there are enough outcomes), and the counts.

    Under ``churn.training = "sample"`` the rows are ``sampled_uplift_rows`` and the counts the whole book's.
    """
    dates = training_dates(settings, workspace, test)
    if settings.churn.training == "sample":
        rows, counts = sampled_uplift_rows(settings, workspace, dates)
    else:
        rows = uplift_rows(settings, workspace, dates)
        counts = outcome_counts(rows) if not rows.empty else {"called": 0, "control": 0}
    if rows.empty:
        return None, {"called": 0, "control": 0}
    if not ready(counts, params):
        return None, counts
    categorical = [c for c in churn.columns if c in BY_NAME and BY_NAME[c].categorical]
    return choose_uplift(rows, churn, categorical, params), counts


def true_effects(settings: Settings, as_of: date) -> pd.DataFrame | None:
    """The truth's call effects of the month after ``as_of`` (callable accounts only), when the workspace has them."""
    path = settings.truth_dir / "call_effects.parquet"
    if not path.is_file():
        return None
    month = as_of + timedelta(days=1)
    columns = ["account_id", "retention_effect"]  # that month's callable rows alone, not every month's
    return pd.read_parquet(path, columns=columns, filters=[("month", "==", month), ("callable", "==", True)])


def evaluate_outreach(
    settings: Settings, workspace: Workspace, test: date, churn: ChurnModel, params: UpliftParams
) -> dict[str, float | int | str]:
    """The uplift model's figures on the test month (see the module docstring); ``{}`` without ``proactive_calls``."""
    if "proactive_calls" not in workspace.tables:
        return {}
    test = month_end(test)
    model, counts = train_uplift(settings, workspace, test, churn, params)
    figures: dict[str, float | int | str] = {
        "outreach.called_outcomes": counts["called"],
        "outreach.control_outcomes": counts["control"],
        "outreach.uplift_ready": int(model is not None),
    }
    truth = true_effects(settings, test)
    if model is None or truth is None:
        return figures
    frame = snapshot(workspace.tables, test, workspace.end, label_spec(settings)).to_pandas()
    frame = frame.merge(truth, on="account_id", how="inner")
    revenue = pd.to_numeric(frame["monthly_revenue"], errors="coerce").fillna(0.0).to_numpy()
    value = frame["retention_effect"].to_numpy(dtype=float) * revenue * params.value_months
    savedesk = model.incremental_margin(frame, params)
    risk = churn.predict_proba(frame)
    oracle = qini(value, value)
    figures |= {
        "outreach.qini_savedesk": round(qini(savedesk, value), 4),
        "outreach.qini_risk": round(qini(risk, value), 4),
        "outreach.qini_oracle": round(oracle, 4),
        "outreach.qini_ratio_risk": round(qini(savedesk, value) / qini(risk, value), 4)
        if qini(risk, value)
        else float("nan"),
        "outreach.qini_ratio_oracle": round(qini(savedesk, value) / oracle, 4) if oracle else float("nan"),
        "outreach.effect_corr": round(float(np.corrcoef(model.effect(frame), frame["retention_effect"])[0, 1]), 4),
        "outreach.learner": model.chosen,
        **{f"outreach.cv_qini.{name}": score for name, score in model.scores.items()},
        "outreach.test_accounts": len(frame),
        "outreach.test_as_of": test.isoformat(),
    }
    return figures


def evaluate_champion_outreach(
    settings: Settings, workspace: Workspace, test_as_of: str, alias: str = "champion"
) -> dict[str, float | int | str]:
    """``evaluate_outreach`` with the churn model holding ``alias`` as the risk ranking (``{}`` without one)."""
    from pipelines.services import open_tracker

    tracker = open_tracker(settings)
    version = tracker.alias_version(CHURN_MODEL, alias)
    if version is None:
        return {}
    churn = tracker.load_churn_model(version.model_uri)
    return evaluate_outreach(settings, workspace, date.fromisoformat(test_as_of), churn, settings.outreach.uplift)


def train_and_keep_uplift(settings: Settings, workspace: Workspace, churn: ChurnModel) -> str:
    """Fit the uplift model on every matured month of the extract and keep it (or why not) for the nightly.

    Returns:
        A sentence for the command's output: the outcomes per arm and whether the model will rank.
    """
    path = uplift_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "proactive_calls" not in workspace.tables:
        path.unlink(missing_ok=True)
        return "No proactive_calls table: proactive outreach stays ranked by saveable value."
    params = settings.outreach.uplift
    model, counts = train_uplift(settings, workspace, workspace.end + timedelta(days=1), churn, params)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        pickle.dump({"model": model, "counts": counts}, handle)
    partial.replace(path)
    return ranking_note(model, counts, params)


def measured_effects(settings: Settings, tables: Tables, as_of: date) -> list[tuple[str, DeskEffect]]:
    """The measured effect of the desk (``models.outreach_effect``) per month of holdouts matured by ``as_of``.

    Listed proactive accounts against the held-out ones that would have been listed.

    An account counts once a month (its first night); kept = no cancellation request or close within the churn
    window after that night; margin = its monthly revenue that night × ``outreach.uplift.value_months``.
    """
    catalog, spec = settings.catalog, label_spec(settings)
    folder = catalog.folder
    rows = []
    for published in sorted(folder.glob("????-??-??")) if folder.is_dir() else []:
        try:
            day = date.fromisoformat(published.name)
        except ValueError:
            continue
        version = catalog.resolved(day)
        if spec.window(day)[1] > as_of or not (version / HOLDOUT_FILE).is_file():
            continue
        listed = pd.read_parquet(version / LIST_FILES["proactive"], columns=["account_id"]).assign(arm=LISTED)
        held = pd.read_parquet(version / HOLDOUT_FILE)
        held = held[held["would_list"].astype(bool)][["account_id"]].assign(arm=HELD_OUT)
        night = pd.concat([listed, held], ignore_index=True)
        labels = churn_labels(tables, day, as_of, spec).to_pandas()[["account_id", "churn"]]
        context = catalog.context(day)
        revenue = (pd.read_parquet(context, columns=["account_id", "monthly_revenue", "churn_probability"])
                   if context.is_file() else pd.DataFrame(columns=["account_id", "monthly_revenue"]))  # fmt: skip
        night = night.merge(labels, on="account_id", how="inner").merge(revenue, on="account_id", how="left")
        rows.append(night.assign(month=f"{day.year}-{day.month:02d}", day=day))
    if not rows:
        return []
    frame = pd.concat(rows, ignore_index=True).sort_values("day").drop_duplicates(["month", "account_id"])
    monthly = pd.to_numeric(frame["monthly_revenue"], errors="coerce").fillna(0.0)
    risk = frame["churn_probability"] if "churn_probability" in frame else pd.Series(0.0, index=frame.index)
    months = settings.outreach.uplift.value_months
    frame = frame.assign(kept=frame["churn"].astype(float) < 0.5, margin=monthly * months, risk_band=risk_band(risk))
    return [(str(month), desk_effect(part)) for month, part in frame.groupby("month", sort=True)]


def effect_figures(effects: list[tuple[str, DeskEffect]]) -> dict[str, float]:
    """MLflow figures of each month's measured effect: ``outreach.effect.<month>.kept|kept_low|…``."""
    out: dict[str, float] = {}
    for month, effect in effects:
        out |= effect.figures(f"outreach.effect.{month}")
    return out
