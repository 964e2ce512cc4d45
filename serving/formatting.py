"""How a rep's pages write values: text, words, percentages and dollars (the published page and the live page).

A missing value (None, NaN, or text that is not a number where a number is
expected) is written as an empty string.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def text(value: Any) -> str:
    """``value`` as text; empty when it is missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def words(value: Any) -> str:
    """A code as words: ``rollback_10`` → ``rollback 10``."""
    return text(value).replace("_", " ")


def number(value: Any) -> float | None:
    """``value`` as a float, as ``pd.to_numeric(errors="coerce")`` reads it; None when it is missing."""
    if isinstance(value, float | int):  # the common case, without pandas (NaN stays NaN)
        found = float(value)
    else:
        coerced = pd.to_numeric(value, errors="coerce")
        if pd.isna(coerced):
            return None
        found = float(coerced)
    return None if math.isnan(found) else found


def percent(value: Any) -> str:
    """A probability as a whole percentage: ``0.123`` → ``12 %``."""
    found = number(value)
    return "" if found is None else f"{100 * found:.0f} %"


def dollars(value: Any) -> str:
    """Money to the dollar, with a true minus sign: ``-1234.5`` → ``−$1,234``."""
    found = number(value)
    return "" if found is None else f"${found:,.0f}".replace("$-", "−$")
