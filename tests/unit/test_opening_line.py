"""The opening line of a convert call speaks to the sale or the move, never to a grievance."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.opening_line import APOLOGY, opening_lines


def _decisions(reason: str | None, offer: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure_days": [2000.0],
            "reason": [reason],
            "offer": [offer],
            "proposed_monthly_rate": [412.0],
            "proposed_term_months": [36.0],
            "proposed_service": [None],
        }
    )


@pytest.mark.parametrize(
    ("reason", "said", "unsaid"),
    [("sold", "new owner", "new address"), ("moved_out_of_area", "new address", "new owner")],
)
def test_a_convert_call_opens_on_the_change_not_on_an_apology(reason: str, said: str, unsaid: str) -> None:
    line = opening_lines(_decisions(reason, "convert"), np.array([None], dtype=object), date(2026, 10, 31))[0]
    assert said in line and unsaid not in line
    assert APOLOGY not in line and "frustrating" not in line
    assert "$412 a month" in line


def test_any_other_offer_keeps_its_own_opening() -> None:
    line = opening_lines(_decisions("price", "renewal_rate_lock"), np.array([None], dtype=object), date(2026, 10, 31))
    assert "lock your rate at $412 a month on a 36-month agreement" in line[0]
    assert "new owner" not in line[0]
