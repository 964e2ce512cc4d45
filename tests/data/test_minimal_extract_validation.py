"""Issue 17: a bare billing export (accounts with id, start and close; invoices with id, account, date and
amount) validates, says once what it lacks, builds billing features, and its failures are sentences."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.registry import BY_NAME
from features.view import scan_tables
from models.dataset import SplitError, TimeSplit
from sources.contract import ONE_TERRITORY, TABLES, UNKNOWN, table_info
from sources.extract_shape import ExtractShape
from sources.folders import WorkspaceFolders
from sources.simulator import SimulationConfig, simulate_hauler
from sources.validation import validate_workspace


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated hauler's accounts and invoices with only the columns a finance export has."""
    hauler = simulate_hauler(SimulationConfig(accounts=400, months=14, seed=4))
    root = tmp_path_factory.mktemp("bare")
    raw = root / "raw"
    raw.mkdir()
    hauler.raw["accounts"].to_pandas()[["account_id", "start_date", "close_date"]].to_parquet(raw / "accounts.parquet")
    invoices = hauler.raw["invoices"].to_pandas()[["invoice_id", "account_id", "invoice_date", "amount"]]
    invoices.to_csv(raw / "invoices.csv", index=False)
    (raw / "extract.json").write_text(json.dumps({"end_date": hauler.summary["end_date"]}))
    return root


def _folders(root: Path) -> WorkspaceFolders:
    return WorkspaceFolders(raw=root / "raw", clean=root / "clean", rejects=root / "rejects")


def test_a_bare_billing_export_validates_and_says_once_what_it_lacks(bare: Path) -> None:
    report = validate_workspace(_folders(bare))
    assert not report.fatal, [p.message() for p in report.problems]
    saved = json.loads((bare / "clean" / "validation.json").read_text())
    shape = ExtractShape.from_dict(saved["extract_shape"])
    assert set(shape.absent_tables) == {n for n in TABLES if n not in ("accounts", "invoices")}
    assert {"invoices.due_date", "invoices.paid_date", "accounts.territory"} <= set(shape.absent_columns)
    assert shape.defaulted == {f"accounts.{c}": v for c, v in table_info("accounts").defaults.items()}
    assert sum("This extract is" in note for note in report.notes) == 1
    accounts = pd.read_parquet(bare / "clean" / "accounts.parquet")
    assert set(accounts["territory"]) == {ONE_TERRITORY} and set(accounts["segment"]) == {UNKNOWN}
    tags = shape.tags()
    assert tags["extract.absent_tables"].split(",") == list(shape.absent_tables)


def test_invoices_alone_give_billing_features_and_leave_the_rest_out(bare: Path) -> None:
    validate_workspace(_folders(bare))
    frame = build_features(scan_tables(bare / "clean"), date(2026, 6, 30))
    tables = {BY_NAME[c].table for c in frame.columns if c in BY_NAME}
    assert tables == {"accounts", "invoices"}
    billing = [c for c in frame.columns if c in BY_NAME and BY_NAME[c].table == "invoices"]
    assert {"days_since_invoice", "unbilled_months_365d", "invoice_amount_last", "bill_change_pct_365d"} <= set(billing)
    # Without due and paid dates the late-payment features are absent, never zeros.
    assert not {"late_invoices_90d", "days_past_due"} & set(frame.columns)
    # A customer billed every month of the year in service has no unbilled month; some vary.
    assert frame["unbilled_months_365d"].min() == 0
    assert frame["invoice_amount_last"].n_unique() > 10


def test_a_short_history_trains_on_the_months_it_has_or_names_the_setting() -> None:
    full = TimeSplit.ending(date(2026, 7, 31), 5, 90)
    short = TimeSplit.fitting(date(2026, 7, 31), 5, 90, first=full.train[2])
    assert short.train == full.train[2:] and short.dropped_train_months == 2
    assert (short.valid, short.calibrate, short.test) == (full.valid, full.calibrate, full.test)
    with pytest.raises(SplitError, match=r"churn\.horizon_days"):
        TimeSplit.fitting(date(2026, 7, 31), 5, 90, first=full.valid)


@pytest.mark.parametrize("test", [date(2026, 8, 2), date(2026, 7, 31), date(2026, 4, 30), date(2026, 3, 30)])
def test_every_snapshot_falls_on_the_tests_day_of_the_month(test: date) -> None:
    split = TimeSplit.ending(test, 5, 90)
    days = list(split.all_dates)
    assert days == sorted(days) and len(set(days)) == len(days)
    month_end = (test + pd.offsets.MonthEnd(0)).date() == test
    for day in days:
        last = (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()
        assert day == last if month_end else day.day == min(test.day, last.day)
    # One snapshot a month, and the calibration month's label window ends on or before the test day.
    months = [d.year * 12 + d.month for d in days[:-1]]
    assert months == list(range(months[0], months[0] + len(months)))
    assert split.calibrate + timedelta(days=90) <= test


def test_a_small_books_leaves_shrink_with_it_and_a_large_ones_stay_as_declared() -> None:
    from models.params import MIN_LEAF, ChurnParams

    declared = ChurnParams()
    sizes = [declared.for_rows(rows).min_child_samples for rows in (100, 10_000, 30_000, 70_000, 1_000_000)]
    assert sizes == sorted(sizes) and sizes[0] == MIN_LEAF and sizes[-1] == declared.min_child_samples
    assert declared.for_rows(70_000) == declared  # the demo's book keeps the declared settings
    assert ChurnParams(min_child_share=0).for_rows(100) == ChurnParams(min_child_share=0)


def test_the_one_territory_is_priced_at_the_documented_index_and_said(bare: Path) -> None:
    from models.cost_to_serve import CostToServe
    from sources.extract_shape import COST_INDEX_SETTING, ONE_TERRITORY_COST_INDEX

    validate_workspace(_folders(bare))
    shape = ExtractShape.from_dict(json.loads((bare / "clean" / "validation.json").read_text())["extract_shape"])
    cost = CostToServe()
    assert cost.unknown(pd.Series([ONE_TERRITORY])) == []
    assert cost.index_of(pd.Series([ONE_TERRITORY])).tolist() == [ONE_TERRITORY_COST_INDEX]
    assert cost.unknown(pd.Series(["Nowhere"])) == ["Nowhere"]  # a named territory is still never guessed
    assert shape.assumed == {COST_INDEX_SETTING: str(ONE_TERRITORY_COST_INDEX)}
    assert COST_INDEX_SETTING in shape.sentence() and COST_INDEX_SETTING in shape.tags()["extract.assumed"]
    assert ExtractShape().assumed == {} and ExtractShape().tags()["extract.assumed"] == "none"


def test_an_unexpected_failure_is_one_sentence_and_a_log_file(
    bare: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sources.validation
    from pipelines.cli import app

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("save_attempts")

    monkeypatch.setattr(sources.validation, "validate_workspace", broken)
    with pytest.raises(SystemExit) as ended:
        app(["validate", "--data", str(bare)], prog_name="savedesk")
    said = capsys.readouterr().err
    assert ended.value.code == 70
    assert "Traceback" not in said and "KeyError" in said
    logs = sorted((bare / "logs").glob("savedesk-*.log"))
    assert logs and "Traceback" in logs[-1].read_text() and str(logs[-1]) in said


def test_a_known_refusal_is_its_sentence(bare: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import app

    with pytest.raises(SystemExit) as ended:
        app(["features", "--data", str(bare), "--as-of", "1990-01-31", "--out", str(bare / "f.parquet")])
    said = capsys.readouterr()
    assert ended.value.code != 0
    assert "Traceback" not in said.err + said.out and "1990-01-31" in said.err + said.out


def test_a_model_no_better_than_one_column_is_called_out() -> None:
    import numpy as np

    from models.baselines import TRIVIAL_MARGIN, no_better_than_trivial, single_feature_auc

    rng = np.random.default_rng(0)
    days = rng.integers(20, 200, size=4_000)
    churn = rng.random(4_000) < 1 / (1 + np.exp(-(days - 150) / 15))
    frame = pd.DataFrame({"days_since_invoice": days, "churn": churn})
    train, test = frame.iloc[:2_000], frame.iloc[2_000:]
    recency = single_feature_auc(train, test, "days_since_invoice")
    assert recency is not None and recency > 0.8  # the direction is learnt on train: longer unbilled, riskier
    negated = frame.assign(days_since_invoice=-frame["days_since_invoice"])
    flipped = single_feature_auc(negated.iloc[:2_000], negated.iloc[2_000:], "days_since_invoice")
    assert flipped == pytest.approx(recency)
    assert "billing recency" in no_better_than_trivial(recency, {"billing recency": recency, "tenure": 0.5})
    assert no_better_than_trivial(recency + TRIVIAL_MARGIN, {"billing recency": recency}) == ""
    assert "random order" in no_better_than_trivial(0.505, {"tenure": 0.45})


def test_a_wrong_setting_is_named_with_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import app

    (tmp_path / "savedesk.toml").write_text('[churn]\ndefinition = "silence"\n')
    with pytest.raises(SystemExit) as ended:
        app(["validate", "--data", str(tmp_path)])
    said = capsys.readouterr().err
    assert ended.value.code == 2
    assert "churn.definition" in said and "savedesk.toml" in said and "Traceback" not in said
