"""One-row-per-customer extracts: mapping checks, the three split kinds, the published Telco split, the command."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from typer.testing import CliRunner

from models.churn import choose_tree_count, train_churn_model
from models.tabular import SMALL_TABLE_PARAMS, model_inputs
from pipelines.tabular_cli import tabular_app
from sources.extract_mapping import MappingError
from sources.mapping_file import load_mapping
from sources.tabular import read_customer_extract

TELCO_MAPPING = Path(__file__).parents[2] / "mappings" / "telco.yaml"
TELCO_CSV = Path(__file__).parents[3] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
needs_telco = pytest.mark.skipif(not TELCO_CSV.is_file(), reason=f"the Telco sample is not at {TELCO_CSV}")
runner = CliRunner()
Edit = Callable[[str], str]

BINS_MAPPING = """
source: bins.csv
id: Acct No
start_date: {column: Since, as_of: 2025-06-30}
contract: {column: Plan, terms: {None: 0, Annual: 12, Three Year: 36}}
monthly_rate: Rate
services: {columns: [Recycling, Organics], absent: [No]}
categorical: [Region]
numeric: [Missed Pickups]
label: {column: Left, positive: Y}
cleaning: {normalise: true}
split: {kind: by_column, column: Cohort, train: [A, B], val: [C], test: [D]}
"""


def _bins_csv(path: Path, rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """A skip-bin hauler's extract, nothing like Telco, with churn driven by its own columns."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["None", "Annual", "Three Year"], rows)
    missed = rng.poisson(1.0, rows)
    risk = -1.0 + 1.5 * (plan == "None") + 0.6 * missed + rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "Acct No": [f"K{i:04d}" for i in range(rows)],
            "Since": pd.Timestamp("2025-06-30") - pd.to_timedelta(rng.integers(30, 3000, rows), unit="D"),
            "Plan": plan,
            "Rate": rng.uniform(40, 400, rows).round(2),
            "Recycling": rng.choice(["Yes", "No"], rows),
            "Organics": rng.choice(["Yes", "No"], rows),
            "Region": rng.choice(["North Coast", "Valley"], rows),
            "Missed Pickups": missed,
            "Left": np.where(risk > 0.5, "Y", "N"),
            "Cohort": np.resize(["A", "B", "C", "D"], rows),
            "Lines": rng.integers(1, 4, rows),
        }
    )
    frame["Since"] = frame["Since"].dt.strftime("%Y-%m-%d")
    frame.to_csv(path / "bins.csv", index=False)
    return frame


def _write(path: Path, text: str) -> Path:
    (path / "bins.yaml").write_text(text, encoding="utf-8")
    return path / "bins.yaml"


def _with_split(split: str) -> str:
    return BINS_MAPPING.replace(BINS_MAPPING.strip().splitlines()[-1], f"split: {split}")


@pytest.fixture
def bins(tmp_path: Path) -> Path:
    _bins_csv(tmp_path)
    return _write(tmp_path, BINS_MAPPING)


def test_a_new_extract_needs_only_a_mapping(bins: Path) -> None:
    frame = read_customer_extract(load_mapping(bins))
    assert frame["account_id"].iloc[0] == "K0000"
    assert {"tenure_days", "tenure_years", "contract_term_months", "month_to_month", "monthly_revenue", "lines"} <= set(
        frame.columns
    )
    assert set(frame["region"].unique()) == {"north_coast", "valley"}
    assert frame["missed_pickups"].dtype == "float64"
    assert set(frame.loc[frame["contract_term_months"] == 0, "month_to_month"]) == {1.0}
    assert frame["lines"].between(0, 2).all()
    assert frame["split"].value_counts().to_dict() == {"train": 200, "val": 100, "test": 100}

    result = runner.invoke(tabular_app, ["evaluate", "--mapping", str(bins), "--json", "--budget-seconds", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == {"train": 200, "val": 100, "test": 100}
    assert report["test_auc"] > 0.7  # churn is driven by the plan and missed pickups
    assert report["settings_search"]["budget_seconds"] == 2.0 and report["settings_search"]["declared_cv_auc"]


def test_tenure_from_a_start_date_counts_days_to_as_of(bins: Path) -> None:
    frame = read_customer_extract(load_mapping(bins))
    raw = pd.read_csv(bins.parent / "bins.csv")
    expected = (pd.Timestamp("2025-06-30") - pd.to_datetime(raw["Since"])).dt.days
    assert (frame["tenure_days"].to_numpy() == expected.to_numpy()).all()


def test_first_rows_split_takes_rows_in_file_order(bins: Path) -> None:
    path = _write(bins.parent, _with_split("{kind: first_rows, train: 250, val: 50, test: 60}"))
    frame = read_customer_extract(load_mapping(path))
    assert len(frame) == 360
    assert (frame["split"].iloc[:250] == "train").all() and (frame["split"].iloc[250:300] == "val").all()
    assert (frame["split"].iloc[300:] == "test").all()
    rest = read_customer_extract(
        load_mapping(_write(bins.parent, _with_split("{kind: first_rows, train: 250, val: 50}")))
    )
    assert (rest["split"] == "test").sum() == 100
    with pytest.raises(
        MappingError, match="first_rows asks for 250 train [+] 50 val [+] 200 test rows, but bins.csv has 400"
    ):
        read_customer_extract(
            load_mapping(_write(bins.parent, _with_split("{kind: first_rows, train: 250, val: 50, test: 200}")))
        )


def test_seeded_random_split_is_train_test_split_twice(bins: Path) -> None:
    split = "{kind: seeded_random, test_size: 0.25, test_seed: 4, val_size: 0.2, val_seed: 5}"
    frame = read_customer_extract(load_mapping(_write(bins.parent, _with_split(split))))
    raw = pd.read_csv(bins.parent / "bins.csv")
    rest, test = train_test_split(raw, test_size=0.25, random_state=4)
    train, val = train_test_split(rest, test_size=0.2, random_state=5)
    for part, rows in (("train", train), ("val", val), ("test", test)):
        assert set(frame.loc[frame["split"] == part, "account_id"]) == set(rows["Acct No"])


@needs_telco
def test_telco_mapping_reproduces_the_published_split() -> None:
    frame = read_customer_extract(load_mapping(TELCO_MAPPING))
    df = pd.read_csv(TELCO_CSV)
    df_full_train, df_test = train_test_split(df, test_size=0.2, random_state=1)
    df_train, df_val = train_test_split(df_full_train, test_size=0.33, random_state=11)
    for part, rows in (("train", df_train), ("val", df_val), ("test", df_test)):
        ids = frame.loc[frame["split"] == part, "account_id"]
        assert sorted(ids) == sorted(rows["customerID"]), part
    assert frame["churn"].sum() == (df["Churn"] == "Yes").sum() == 1869
    assert frame.loc[frame["account_id"] == "4472-LVYGI", "totalcharges"].item() == 0.0  # a blank TotalCharges


@pytest.fixture(scope="module")
def telco_report() -> dict:
    # The declared settings (no search): the figures of the published split below are theirs.
    result = runner.invoke(
        tabular_app, ["evaluate", "--mapping", str(TELCO_MAPPING), "--json", "--budget-seconds", "0"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@needs_telco
def test_telco_evaluate_prints_the_figures_beside_the_published_baseline(telco_report: dict) -> None:
    assert {"test_auc", "val_auc", "baseline_lr_test_auc", "baseline_lr_val_auc", "rows", "params"} <= set(telco_report)
    assert telco_report["rows"] == {"train": 3774, "val": 1860, "test": 1409}
    assert telco_report["refit_trees"] == telco_report["trees"]  # the refit keeps the trees chosen by CV on train
    assert telco_report["baseline_lr_test_auc"] == pytest.approx(0.858, abs=5e-4)  # the published figures
    assert telco_report["baseline_lr_val_auc"] == pytest.approx(0.8363, abs=5e-5)
    assert telco_report["val_auc"] > telco_report["baseline_lr_val_auc"]
    assert telco_report["test_auc"] > telco_report["baseline_lr_test_auc"]


@needs_telco
@pytest.mark.xfail(
    strict=True,
    reason="acceptance bar not reached without tuning on test: the settings chosen on val and by CV on train"
    " (bench/telco.py) score 0.8590 on test (published LR 0.8580); on 40 re-splits the model leads the LR on 38"
    " but reaches 0.86 on 5 (bench/telco_splits.py); remove this mark when a change chosen without test reaches it",
)
def test_telco_acceptance_bar(telco_report: dict) -> None:
    assert telco_report["test_auc"] >= 0.86


def test_without_a_validation_set_the_model_keeps_exactly_the_trees_asked_for(bins: Path) -> None:
    frame = read_customer_extract(load_mapping(bins))
    train = frame[frame["split"] == "train"]
    columns, categorical = model_inputs(frame)
    params = replace(SMALL_TABLE_PARAMS, learning_rate=0.1, n_estimators=400, early_stopping_rounds=30)
    trees, cv_auc = choose_tree_count(train, columns, categorical, params=params)
    assert 1 <= trees <= 400 and 0.5 < cv_auc <= 1.0
    assert choose_tree_count(train, columns, categorical, params=params) == (trees, cv_auc)  # seeded folds
    model = train_churn_model(train, None, None, columns, categorical, params=replace(params, n_estimators=trees))
    assert model.booster.num_trees() == model.best_iteration == trees
    again = train_churn_model(train, None, None, columns, categorical, params=replace(params, n_estimators=trees))
    assert (model.raw_score(frame) == again.raw_score(frame)).all()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("label: {column: Left, positive: Y}\n", ""), "label: missing"),
        (lambda t: t.replace("categorical:", "catgorical:"), "unknown key(s) ['catgorical']"),
        (lambda t: t.replace("kind: by_column", "kind: by_month"), "split.kind: expected one of"),
        (lambda t: t.replace("Annual: 12", "Annual: twelve"), "contract.terms.Annual: expected a whole number"),
        (lambda t: t.replace("categorical: [Region]", "categorical: [Region, Rate]"), "'Rate' is already used as"),
        (lambda t: t.replace("val: [C]", "val: [C, A]"), "values ['A'] are listed for both train and val"),
        (lambda t: t.replace("as_of: 2025-06-30", "as_of: June"), "start_date.as_of: expected a date"),
        (lambda t: t.replace("start_date: {", "tenure: Months\nstart_date: {"), "either tenure (months) or start_date"),
        (lambda t: t.replace("normalise: true", "blank_to_zero: [Region]"), "'Region' is not a numeric column"),
        (lambda t: _with_split("{kind: first_rows, train: 10}"), "a first_rows split needs ['train', 'val']"),
    ],
)
def test_a_bad_mapping_names_the_key(bins: Path, edit: Edit, message: str) -> None:
    with pytest.raises(MappingError) as error:
        load_mapping(_write(bins.parent, edit(BINS_MAPPING)))
    assert message in str(error.value) and "bins.yaml" in str(error.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("[Region]", "[Region, Depot]"), "no column 'Depot' (from categorical)"),
        (lambda t: t.replace("source: bins.csv", "source: elsewhere.csv"), "no such CSV file"),
        (lambda t: t.replace("positive: Y", "positive: Yes"), "no row of 'Left' holds 'Yes'; it holds ['N', 'Y']"),
        (lambda t: t.replace("Three Year: 36", "Two Year: 24"), "holds contract values contract.terms does not list"),
        (lambda t: t.replace("[Missed Pickups]", "[Missed Pickups, Lines]"), "'Lines' would be named 'lines'"),
        (
            lambda t: t.replace("test: [D]", "test: [E]"),
            "split.test: no row of 'Cohort' holds any of ['E']; it holds ['A', 'B', 'C', 'D']",
        ),
    ],
)
def test_a_mapping_that_does_not_fit_its_csv_names_the_column(bins: Path, edit: Edit, message: str) -> None:
    with pytest.raises(MappingError) as error:
        read_customer_extract(load_mapping(_write(bins.parent, edit(BINS_MAPPING))))
    assert message in str(error.value)


def test_a_bad_number_names_the_column_and_line(bins: Path) -> None:
    raw = pd.read_csv(bins.parent / "bins.csv", dtype=str)
    raw.loc[6, "Rate"] = "n/a"
    raw.to_csv(bins.parent / "bins.csv", index=False)
    with pytest.raises(MappingError, match=r"column 'Rate' should hold numbers; line 8: 'n/a'"):
        read_customer_extract(load_mapping(bins))


def test_start_dates_with_utc_offsets_keep_their_day_and_odd_days_name_the_line(bins: Path) -> None:
    raw = pd.read_csv(bins.parent / "bins.csv", dtype=str)
    raw.loc[0, "Since"] = raw.loc[0, "Since"] + "T23:30:00-06:00"  # offsets that differ between rows
    raw.loc[1, "Since"] = raw.loc[1, "Since"] + "T01:00:00+05:30"
    raw.to_csv(bins.parent / "bins.csv", index=False)
    days = pd.Timestamp("2025-06-30") - pd.to_datetime(raw.loc[:1, "Since"].str.slice(0, 10))

    frame = read_customer_extract(load_mapping(bins))

    assert frame["tenure_days"].iloc[:2].tolist() == days.dt.days.tolist()
    raw.loc[5, "Since"] = "0001-01-01"
    raw.to_csv(bins.parent / "bins.csv", index=False)
    with pytest.raises(
        MappingError, match=r"'Since' should hold start dates .* from 1900-01-01 .* line 7: '0001-01-01'"
    ):
        read_customer_extract(load_mapping(bins))


def test_a_repeated_customer_id_names_the_lines(bins: Path) -> None:
    raw = pd.read_csv(bins.parent / "bins.csv", dtype=str)
    raw.loc[9, "Acct No"] = "K0002"
    raw.to_csv(bins.parent / "bins.csv", index=False)
    with pytest.raises(MappingError, match=r"'Acct No' should name each customer once; repeated on line 4: 'K0002'"):
        read_customer_extract(load_mapping(bins))


def test_yes_and_no_stay_text_in_a_mapping(bins: Path) -> None:
    mapping = load_mapping(_write(bins.parent, BINS_MAPPING.replace("positive: Y", "positive: Yes")))
    assert mapping.label.positive == "Yes" and mapping.services.absent == ("No",)


def test_the_command_refuses_a_bad_mapping_with_a_message(bins: Path) -> None:
    path = _write(bins.parent, BINS_MAPPING.replace("[Region]", "[Region, Depot]"))
    result = runner.invoke(tabular_app, ["evaluate", "--mapping", str(path), "--json"])
    assert result.exit_code == 2
    assert "no column 'Depot' (from categorical)" in " ".join(result.output.split())
    assert "Traceback" not in result.output
