"""Features and account context built shard by shard (as the workers do) equal the one-process build."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from features.build import book_start, build_features, features_of
from features.labels import LabelSpec
from features.requests import account_context, request_decisions
from features.snapshots import snapshot
from features.view import Tables, from_frames, scan_tables, shard_layout
from models.drift import add_counts, bin_counts, profile, psi, psi_of_counts
from pipelines.book import BookSource, NightBook, context_shard, feature_shard, territory_figures
from pipelines.nightly import shard
from pipelines.save_training import RequestSplit, sharded_decisions, training_requests
from pipelines.snapshots import month_territory, territories_kept, write_snapshots
from pipelines.workspace import Workspace
from sources.keys import stable_bucket
from sources.simulator import SimulationConfig, simulate_hauler

AS_OF = date(2026, 5, 31)
SHARDS = 3


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    hauler = simulate_hauler(SimulationConfig(accounts=1_200, months=20, seed=5))
    return {name: frame.to_pandas() for name, frame in hauler.raw.items() if len(frame)}


def write_clean(raw: dict[str, pd.DataFrame], folder: Path, shards: int = 0) -> Path:
    """The tables as validation leaves them: one file per table, or one file per table and account shard."""
    folder.mkdir(parents=True)
    for name, frame in raw.items():
        if not shards:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
            continue
        (folder / name).mkdir()
        bucket = stable_bucket(frame["account_id"], shards)
        for k in range(shards):
            frame[bucket == k].to_parquet(folder / name / f"{k}.parquet", index=False)
    return folder


def book_of(tables: Tables, folder: Path, out: Path) -> NightBook:
    """The nightly's four steps, one shard at a time: own features, territory figures once, context per shard."""
    source = BookSource(tables, folder, shard_layout(folder))
    first = book_start(tables, AS_OF)
    parts = [feature_shard(source, AS_OF, k, SHARDS, first, out) for k in range(SHARDS)]
    territory = territory_figures(parts, tables)
    return NightBook([context_shard(source, AS_OF, k, SHARDS, parts[k], territory) for k in range(SHARDS)])


@pytest.fixture(params=[0, SHARDS], ids=["one-file-per-table", "one-file-per-shard"])
def clean(request: pytest.FixtureRequest, raw: dict[str, pd.DataFrame], tmp_path: Path) -> Path:
    """The clean folder in either layout validation writes."""
    folder = write_clean(raw, tmp_path / "clean", request.param)
    assert shard_layout(folder) == request.param
    return folder


def test_the_shards_context_is_the_one_process_context(clean: Path, tmp_path: Path) -> None:
    tables = scan_tables(clean)
    book = book_of(tables, clean, tmp_path / "book")

    whole = account_context(tables, AS_OF, build_features(tables, AS_OF))
    assert len(book) == len(whole)
    # Each shard holds exactly the rows the one-process night gives that shard, in its order and types.
    for k, expected in enumerate(shard(whole, SHARDS)):
        pd.testing.assert_frame_equal(book.read(k), expected.reset_index(drop=True), check_exact=True)


def test_a_shard_whose_invoices_start_late_still_counts_from_the_extracts_first_month(
    raw: dict[str, pd.DataFrame],
) -> None:
    # The accounts of shard 0 lose their first year of invoices: only the book's first invoice (broadcast), not the
    # shard's own, says that those months were unbilled rather than before the extract.
    invoices = raw["invoices"]
    early = (stable_bucket(invoices["account_id"], SHARDS) == 0) & (invoices["invoice_date"] < date(2025, 6, 1))
    tables = from_frames({**raw, "invoices": invoices[~early]})
    whole = build_features(tables, AS_OF)
    assert whole.equals(build_features(tables, AS_OF, shards=SHARDS))


def test_drift_counted_by_shard_adds_up_to_the_books_psi(raw: dict[str, pd.DataFrame]) -> None:
    context = account_context(from_frames(raw), AS_OF)
    columns = ["tenure_days", "monthly_revenue", "days_since_invoice", "segment", "territory"]
    reference = profile(context.sample(frac=0.5, random_state=1), columns, ["segment", "territory"])
    counts = add_counts([bin_counts(reference, part) for part in shard(context, SHARDS)])
    assert psi_of_counts(reference, counts, len(context)) == psi(reference, context)


def test_snapshots_written_by_shard_are_the_one_process_snapshot(raw: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    tables = from_frames(raw)
    end = date(2026, 10, 31)
    rows = write_snapshots(Workspace(tables, date(2025, 3, 1), end), [AS_OF], tmp_path, shards=SHARDS)
    files = sorted((tmp_path / f"as_of={AS_OF}").iterdir())
    assert [f.name for f in files] == [f"{k}.parquet" for k in range(SHARDS)]
    for k, path in enumerate(files):  # each file holds its shard's accounts only
        assert (stable_bucket(pl.read_parquet(path)["account_id"], SHARDS) == k).all()
    together = pl.concat([pl.read_parquet(f) for f in files]).sort("account_id")
    assert rows[AS_OF] == together.height
    assert together.equals(snapshot(tables, AS_OF, end).drop("as_of"))


@pytest.mark.parametrize("absent", [(), ("rate_changes",), ("cancellation_requests", "save_attempts")])
@pytest.mark.parametrize("shards", [1, SHARDS])
def test_a_sample_built_alone_is_the_books_rows_of_the_sample(
    raw: dict[str, pd.DataFrame], absent: tuple[str, ...], shards: int
) -> None:
    # Training builds only its sampled accounts' features, with the territory figures of the whole book: the rows
    # must be the one-process build's rows of those accounts, with or without the tables behind the territory.
    tables = from_frames({name: frame for name, frame in raw.items() if name not in absent})
    ids = raw["accounts"]["account_id"]
    sample = pl.DataFrame({"account_id": ids[stable_bucket(ids, 7) < 2].tolist()})
    for day in (date(2025, 12, 31), AS_OF):
        whole = build_features(tables, day)
        alone = features_of(tables, day, sample, shards=shards)
        assert 0 < alone.height < whole.height
        assert alone.equals(whole.join(sample, on="account_id", how="semi"))


def test_requests_decided_on_their_accounts_alone_are_the_decisions_on_the_whole_books_context(clean: Path) -> None:
    # The save model's rows: each month's context built for that month's requesting accounts alone, with the
    # book's territory figures taken shard by shard, equals the context of the whole book cut to them.
    tables = scan_tables(clean)
    source = BookSource(tables, clean, shard_layout(clean))
    end, start = date(2026, 10, 31), date(2025, 9, 1)
    alone = request_decisions(tables, end, start, end, territory=lambda day: month_territory(source, day, SHARDS))
    whole = request_decisions(tables, end, start, end, contexts={})
    assert len(alone) > 100 and alone["decided_as_of"].nunique() > 6
    pd.testing.assert_frame_equal(alone, whole, check_exact=True)
    pd.testing.assert_frame_equal(request_decisions(tables, end, start, end), whole, check_exact=True)
    # One account shard at a time, each from its shard's rows (the book's first invoice and territory figures).
    # Equal to the last bit but for a rare ratio (tenure in years): polars' division by a constant rounds the
    # other way in the shard's query plan (1 ulp), so the floats are compared to 1e-12.
    for shards in (1, SHARDS, 7):
        by_shard = sharded_decisions(source, shards, end, start, end, LabelSpec())
        pd.testing.assert_frame_equal(by_shard, whole, check_exact=False, rtol=1e-12, atol=0)


def test_a_months_territory_figures_are_computed_once_inside_a_training_run(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.snapshots as snapshots

    source = BookSource(scan_tables(clean), clean, shard_layout(clean))
    passes: list[date] = []
    real = snapshots.territory_part
    monkeypatch.setattr(snapshots, "territory_part", lambda tables, as_of: passes.append(as_of) or real(tables, as_of))
    other = date(2026, 4, 30)

    alone = month_territory(source, AS_OF, SHARDS)
    with territories_kept():
        first, again, before = (month_territory(source, d, SHARDS) for d in (AS_OF, AS_OF, other))
    after = month_territory(source, AS_OF, SHARDS)

    # One pass over every shard per month inside the run; every call outside it makes its own.
    assert passes == [AS_OF] * SHARDS + [AS_OF] * SHARDS + [other] * SHARDS + [AS_OF] * SHARDS
    assert first is not None and before is not None
    assert again is first  # kept, not recomputed
    for figures in (first, after):  # a table by territory, in no particular order
        assert figures is not None and alone is not None
        assert figures.sort("territory").equals(alone.sort("territory"))
    assert not before.sort("territory").equals(first.sort("territory"))


def test_a_training_share_keeps_every_test_request_and_the_drawn_accounts_training_requests(clean: Path) -> None:
    # The save model's row budget on a national book: a seeded share of the accounts is trained on, each with all
    # its training requests, the same accounts however the book is sharded; the test period is kept whole.
    source = BookSource(scan_tables(clean), clean, shard_layout(clean))
    end, start = date(2026, 10, 31), date(2025, 3, 1)
    whole = sharded_decisions(source, 1, end, start, end, LabelSpec())
    split = RequestSplit(train_end=date(2026, 4, 30), test_start=date(2026, 7, 31), test_end=end, training_share=0.5)
    keep = partial(training_requests, split=split, seed=7)
    kept = {shards: sharded_decisions(source, shards, end, start, end, LabelSpec(), keep) for shards in (1, SHARDS)}
    for frame in kept.values():
        pd.testing.assert_frame_equal(frame, kept[1], check_exact=False, rtol=1e-12, atol=0)

    training = whole["request_date"] <= pd.Timestamp(split.train_end)
    testing = whole["request_date"] > pd.Timestamp(split.test_start)
    later = kept[1][kept[1]["request_date"] > pd.Timestamp(split.train_end)]
    assert len(later) > 20 and later["request_id"].tolist() == whole.loc[testing, "request_id"].tolist()
    trained = kept[1][kept[1]["request_date"] <= pd.Timestamp(split.train_end)]
    asked = whole.loc[training, "account_id"]
    drawn = set(trained["account_id"])
    assert 0.35 < len(drawn) / asked.nunique() < 0.65  # about the share, of accounts
    # An account is in with every training request or out with all of them.
    of_drawn = whole.loc[training & whole["account_id"].isin(drawn), "request_id"]
    assert trained["request_id"].tolist() == of_drawn.tolist()
    other = training_requests(whole, split, seed=8)
    assert set(other.loc[other["request_date"] <= pd.Timestamp(split.train_end), "account_id"]) != drawn  # seeded
    assert training_requests(whole, RequestSplit(split.train_end, split.test_start, end), seed=7) is whole
