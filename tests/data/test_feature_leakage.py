"""No feature reads tomorrow: perturbing what was stamped after the as-of date changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.registry import model_columns
from features.view import Tables, from_frames
from sources.contract import TABLES, table_info
from sources.simulator import SimulationConfig, simulate_hauler

END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    hauler = simulate_hauler(SimulationConfig(accounts=1_200, months=18, seed=5, end=END))
    return {name: pl.DataFrame(pl.from_arrow(table)) for name, table in hauler.raw.items()}


def _tables(frames: dict[str, pl.DataFrame]) -> Tables:
    return from_frames(dict(frames))


def _perturb(frame: pl.DataFrame, name: str, as_of: date, rng: np.random.Generator, mode: str) -> pl.DataFrame:
    """Delete or alter rows stamped after ``as_of``, and rewrite later-known facts of earlier rows."""
    info = table_info(name)
    future = (frame[info.event_time] > as_of).to_numpy()
    if mode == "delete":
        return frame.filter(~pl.Series(future & (rng.random(frame.height) < 0.7)))
    altered = frame.with_row_index("_row")
    shift = pl.Series(rng.integers(-400, 400, size=frame.height)).cast(pl.Int64)
    changes = []
    for column in TABLES[name].columns:
        if column not in frame.columns or column == info.key:
            continue
        dtype = frame.schema[column]
        col = pl.col(column)
        if dtype == pl.Date:
            if column in info.known_later:
                # Later-known dates: any value after as_of may become another value after as_of.
                later = pl.lit(as_of) + pl.duration(days=shift.abs() + 1)
                new = pl.when(col > as_of).then(pl.when(shift > 0).then(later).otherwise(None)).otherwise(col)
                changes.append(pl.when(pl.Series(future)).then(later).otherwise(new).alias(column))
                continue
            new = pl.lit(as_of) + pl.duration(days=shift.abs() + 1)
        elif dtype in (pl.Float64, pl.Float32):
            new = col * 3.7 + 11
        elif dtype == pl.Int64:
            new = col + 12
        elif dtype == pl.Boolean:
            new = ~col
        elif column.endswith("_id"):
            continue  # keep rows attached to accounts and lines, so the alteration can matter
        else:
            values = frame[column].drop_nulls().unique().sort().to_list()
            if not values:
                continue
            new = pl.lit(values[int(rng.integers(len(values)))])
        changes.append(pl.when(pl.Series(future)).then(new).otherwise(col).alias(column))
    revealed = [
        pl.when(pl.col(info.revealed_by[c]) > as_of).then(pl.lit(frame[c].drop_nulls().min())).otherwise(pl.col(c))
        for c in info.revealed_by
        if c in frame.columns and frame[c].drop_nulls().len()
    ]
    out = altered.with_columns(changes).with_columns(revealed).drop("_row")
    return out.select(frame.columns).cast(frame.schema)  # type: ignore[arg-type]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    days_before_end=st.integers(min_value=30, max_value=300),
    seed=st.integers(min_value=0, max_value=10_000),
    mode=st.sampled_from(["delete", "alter"]),
)
def test_rows_stamped_after_as_of_never_change_a_feature(
    frames: dict[str, pl.DataFrame], days_before_end: int, seed: int, mode: str
) -> None:
    as_of = END - timedelta(days=days_before_end)
    rng = np.random.default_rng(seed)
    original = build_features(_tables(frames), as_of)
    perturbed_frames = {name: _perturb(frame, name, as_of, rng, mode) for name, frame in frames.items()}
    assert any(not perturbed_frames[n].equals(frames[n]) for n in frames), "the perturbation must change the data"
    perturbed = build_features(_tables(perturbed_frames), as_of)
    assert original.columns == ["account_id", *model_columns()]  # every registered feature is under test
    assert original.equals(perturbed)


def test_the_perturbation_would_be_seen_by_a_leaky_feature(frames: dict[str, pl.DataFrame]) -> None:
    """Guard the guard: the same perturbation does change a count that looks past as_of."""
    as_of = END - timedelta(days=120)
    perturbed = _perturb(frames["service_events"], "service_events", as_of, np.random.default_rng(1), "delete")
    assert perturbed.height < frames["service_events"].height
    leaky_before = frames["service_events"].group_by("account_id").len().sort("account_id")
    leaky_after = perturbed.group_by("account_id").len().sort("account_id")
    assert not leaky_before.equals(leaky_after)
