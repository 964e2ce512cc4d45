"""The feature build: registry and computation agree, shards agree, absent tables mean absent features."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from features.build import BUILDERS, FeatureRegistryError, build_features, feature_names
from features.docs import DOC_PATH, render_feature_docs
from features.registry import BY_NAME, FEATURES, model_columns
from features.view import Tables, from_frames
from sources.contract import TABLES, table_info
from sources.simulator import SimulationConfig, simulate_hauler

AS_OF = date(2026, 5, 31)


@pytest.fixture(scope="module")
def tables() -> Tables:
    hauler = simulate_hauler(SimulationConfig(accounts=1_500, months=20, seed=9))
    return from_frames(dict(hauler.raw))


def test_every_registered_feature_is_computed_in_registry_order(tables: Tables) -> None:
    assert build_features(tables, AS_OF).columns == ["account_id", *model_columns()]


def test_a_computed_but_unregistered_feature_fails_the_build(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    original = BUILDERS["contacts"]
    monkeypatch.setitem(BUILDERS, "contacts", lambda v, d: original(v, d).with_columns(pl.lit(1).alias("sneaky")))
    with pytest.raises(FeatureRegistryError, match=r"computed but not registered: \['sneaky'\]"):
        build_features(tables, AS_OF)


def test_a_registered_but_uncomputed_feature_fails_the_build(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    original = BUILDERS["contacts"]
    monkeypatch.setitem(BUILDERS, "contacts", lambda v, d: original(v, d).drop("escalations_365d"))
    with pytest.raises(FeatureRegistryError, match=r"registered but not computed: \['escalations_365d'\]"):
        build_features(tables, AS_OF)


def test_one_row_per_account_in_service(tables: Tables) -> None:
    frame = build_features(tables, AS_OF)
    accounts = tables["accounts"].collect()
    in_service = accounts.filter(
        (pl.col("start_date") <= AS_OF) & (pl.col("close_date").is_null() | (pl.col("close_date") > AS_OF))
    )
    assert frame["account_id"].is_unique().all()
    assert set(frame["account_id"]) == set(in_service["account_id"])


def test_sharded_and_unsharded_builds_are_identical(tables: Tables) -> None:
    whole = build_features(tables, AS_OF)
    assert whole.equals(build_features(tables, AS_OF, shards=3))


@pytest.mark.parametrize("absent", [t for t in TABLES if not table_info(t).required])
def test_an_absent_optional_table_means_absent_features(tables: Tables, absent: str) -> None:
    present = {name: frame for name, frame in tables.items() if name != absent}
    frame = build_features(present, AS_OF)
    assert frame.columns == ["account_id", *feature_names(set(present))]
    assert not any(BY_NAME[c].table == absent for c in frame.columns[1:])


def test_counts_are_never_negative_and_windows_nest(tables: Tables) -> None:
    frame = build_features(tables, AS_OF)
    counts = [f.name for f in FEATURES if f.kind == "count"]
    assert frame.select(pl.min_horizontal(counts)).to_series().min() >= 0
    assert (frame["missed_pickups_30d"] <= frame["missed_pickups_90d"]).all()
    assert (frame["missed_pickups_90d"] <= frame["missed_pickups_365d"]).all()
    assert (frame["complaints_90d"] <= frame["complaints_365d"]).all()
    assert (frame["prior_requests_365d"] <= frame["prior_requests"]).all()


def test_templates_only_name_registered_features() -> None:
    for feature in FEATURES:
        assert feature.template_fields <= set(BY_NAME), feature.name


def test_feature_docs_are_generated_from_the_registry() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_feature_docs(), "run: make docs"
