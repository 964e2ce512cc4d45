"""A few rows reach LightGBM as a float matrix, many as a frame: the scores and explanations are the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import Months

from models.churn import SMALL_FRAME, ChurnModel, matrix


def test_the_matrix_and_the_frame_give_the_same_scores_and_contributions(
    churn_model: ChurnModel, months: Months
) -> None:
    rows = months.test.head(500).copy()
    rows.loc[rows.index[:20], "segment"] = None  # missing categories
    rows.loc[rows.index[20:40], "territory"] = "Atlantis"  # a category training never saw
    assert len(rows) <= SMALL_FRAME
    frame = churn_model.prepare(rows)
    assert isinstance(churn_model.model_input(rows), np.ndarray)
    by_frame = churn_model.booster.predict(frame, raw_score=True)
    np.testing.assert_array_equal(churn_model.raw_score(rows), by_frame)
    np.testing.assert_array_equal(
        churn_model.contributions(rows).to_numpy(), churn_model.booster.predict(frame, pred_contrib=True)
    )
    codes = matrix(rows, churn_model.columns, churn_model.categories)[:, churn_model.columns.index("territory")]
    assert np.isnan(codes[20:40]).all() and not np.isnan(codes[40:]).any()


def test_a_large_frame_keeps_the_frame_path(churn_model: ChurnModel, months: Months) -> None:
    many = pd.concat([months.test] * (SMALL_FRAME // len(months.test) + 1), ignore_index=True)
    assert len(many) > SMALL_FRAME
    assert isinstance(churn_model.model_input(many), pd.DataFrame)
