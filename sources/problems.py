"""The long layout every row check returns, and the reasons built from it.

A problem frame has one line per failing (row, column, rule): ``row`` (0-based
position in the file), ``column``, ``rule`` (a short name to count by),
``expected`` and ``found`` (the raw value as written, quoted).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

PROBLEM_COLUMNS = ("row", "column", "rule", "expected", "found")
FOUND_MAX_CHARS = 80


def problem_frame(
    rows: np.ndarray, column: str, rule: str, expected: str | pd.Series, found: pd.Series | str
) -> pd.DataFrame:
    """Problems of one rule on one column.

    Args:
        rows: Row positions that failed.
        column: The column concerned.
        rule: A short name of the rule, to count problems by.
        expected: What the contract expects: one text, or one per row.
        found: What the rows hold: one text, or one per row.

    Returns:
        A problem frame.
    """
    size = len(rows)

    def per_row(text: str | pd.Series) -> np.ndarray:
        if isinstance(text, pd.Series):
            return text.to_numpy(dtype=object)
        return np.full(size, text, dtype=object)

    return pd.DataFrame(
        {
            "row": np.asarray(rows, dtype="int64"),
            "column": np.full(size, column, dtype=object),
            "rule": np.full(size, rule, dtype=object),
            "expected": per_row(expected),
            "found": per_row(found),
        }
    )


@cache
def no_problems() -> pd.DataFrame:
    """An empty problem frame (shared: never modify it)."""
    return problem_frame(np.empty(0, dtype="int64"), "", "", "", "")


def concat_problems(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """All problems of several checks in one frame."""
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else no_problems()


def found_text(raw: pd.Series, rows: np.ndarray) -> pd.Series:
    """The raw values of some rows as they are quoted back to a person."""
    text = raw.take(rows).astype("str").str.slice(0, FOUND_MAX_CHARS)
    return ("'" + text + "'").fillna("empty").reset_index(drop=True)


def reject_reasons(problems: pd.DataFrame) -> pd.Series:
    """One reason text per rejected row, several problems joined with "; ".

    Args:
        problems: Problems of one table, any number per row.

    Returns:
        Reason texts indexed by row position, sorted by row.
    """
    text = problems["column"] + ": expected " + problems["expected"] + ", found " + problems["found"]
    rows = problems["row"].to_numpy()
    several = pd.Series(rows).duplicated(keep=False).to_numpy()
    # Most rejected rows have one problem: only the others pay for a Python join.
    single = pd.Series(text.to_numpy()[~several], index=rows[~several], dtype=object)
    joined = pd.Series(text.to_numpy()[several]).groupby(rows[several]).agg("; ".join)
    return pd.concat([single, joined]).sort_index().astype("str")
