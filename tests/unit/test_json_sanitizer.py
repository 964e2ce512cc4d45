"""``pipelines.display.strict_json``: what every ``--json`` option prints is strict JSON, missing figures null."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.display import plain, strict_json


def refuse(constant: str) -> None:
    raise ValueError(f"not strict JSON: {constant}")


def test_non_finite_figures_become_null_and_numpy_values_plain() -> None:
    figures = {"auc": float("nan"), "lift": np.float32(np.inf), "rows": np.int64(3), "ok": np.bool_(True),
               "as_of": date(2026, 10, 31), "when": pd.NaT, "gone": pd.NA, "path": Path("data/x"),
               "edges": np.array([0.5, np.nan]), "nested": {"low": -math.inf, 3: (1, 2.5)}}  # fmt: skip
    parsed = json.loads(strict_json(figures), parse_constant=refuse)
    assert parsed == {"auc": None, "lift": None, "rows": 3, "ok": True, "as_of": "2026-10-31", "when": None,
                      "gone": None, "path": "data/x", "edges": [0.5, None],
                      "nested": {"low": None, "3": [1, 2.5]}}  # fmt: skip


def test_an_object_with_no_json_form_is_refused_not_printed_as_its_repr() -> None:
    with pytest.raises(TypeError, match="no JSON form"):
        plain({"model": object()})


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))  # fmt: skip
def test_any_mix_of_figures_parses_strictly_and_keeps_every_finite_number(value: object) -> None:
    parsed = json.loads(strict_json(value), parse_constant=refuse)

    def same(a: object, b: object) -> bool:
        if isinstance(a, float) and not math.isfinite(a):
            return b is None
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    assert same(value, parsed)
