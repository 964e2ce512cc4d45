"""One-row-per-customer extracts mapped into savedesk's vocabulary.

``read_customer_extract`` applies an ``ExtractMapping`` to its CSV and returns
one row per customer with the contract's names where they exist
(``account_id``, ``tenure_days``, ``tenure_years``, ``contract_term_months``,
``month_to_month``, ``monthly_revenue``, ``lines``), the extract's own
attributes (categoricals as text, numerics as floats), the label ``churn`` and
the part each row belongs to, ``split`` (train, val or test). A new extract
needs a mapping file, not code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from sources.coercion import DateRange, coerce_dates
from sources.contract import EARLIEST_DAY
from sources.extract_mapping import (
    ByColumnSplit,
    ExtractMapping,
    FirstRowsSplit,
    MappingError,
    SeededRandomSplit,
)
from sources.reader import TableReadError, read_table

DAYS_PER_MONTH = 365.25 / 12
PARTS = ("train", "val", "test")
RESERVED = (
    "account_id", "tenure_days", "tenure_years", "contract_term_months", "month_to_month",
    "monthly_revenue", "lines", "churn", "split",
)  # fmt: skip
"""Output columns the mapping itself fills: an extract attribute may not take these names."""
SHOWN_PROBLEMS = 5


def read_customer_extract(mapping: ExtractMapping) -> pd.DataFrame:
    """Read a mapping's CSV and map it into savedesk's vocabulary, one row per customer.

    Args:
        mapping: A checked mapping (``load_mapping``).

    Returns:
        The mapped extract, in file order, with its ``split`` column; rows that
        the split leaves out (a ``by_column`` value listed for no part, rows after
        a ``first_rows`` test count) are dropped.

    Raises:
        MappingError: The CSV is missing or unreadable, lacks a mapped column,
            or holds a value the mapping cannot place (with column, line and value).
    """
    if not mapping.source.is_file():
        raise MappingError(f"{mapping.path}: source: no such CSV file {mapping.source}")
    try:
        raw = read_table(mapping.source)
    except TableReadError as error:
        raise MappingError(f"{mapping.path}: source: {error}") from None
    missing = {column: key for column, key in mapping.columns.items() if column not in raw.columns}
    if missing:
        named = ", ".join(f"{column!r} (from {key})" for column, key in missing.items())
        raise MappingError(f"{mapping.source}: no column {named}; the CSV has {list(raw.columns)}")
    table = raw.apply(_blank_as_missing)
    out = pd.DataFrame({"account_id": _ids(table, mapping)}, index=table.index)
    for name, values in _contract_columns(table, mapping).items():
        out[name] = values
    for column in (*mapping.services.columns, *mapping.categorical):
        out[_name(column, mapping)] = _text(table[column], mapping)
    for column in mapping.numeric:
        out[_name(column, mapping)] = _number(table, column, mapping)
    out["churn"] = _label(table, mapping)
    out["split"] = _split_parts(table, mapping)
    return out[out["split"].notna()].reset_index(drop=True)


def clean_value(value: str, mapping: ExtractMapping) -> str:
    """A text value as the cleaning writes it (lower case, ``_`` for spaces when normalising)."""
    return value.strip().lower().replace(" ", "_") if mapping.cleaning.normalise else value.strip()


def _name(column: str, mapping: ExtractMapping) -> str:
    name = column.lower().replace(" ", "_") if mapping.cleaning.normalise else column
    if name in RESERVED:
        raise MappingError(f"{mapping.path}: column {column!r} would be named {name!r}, which savedesk reserves")
    return name


def _text(column: pd.Series, mapping: ExtractMapping) -> pd.Series:
    return column.map(lambda v: clean_value(v, mapping) if isinstance(v, str) and v else None).astype("str")


def _blank_as_missing(column: pd.Series) -> pd.Series:
    stripped = column.str.strip()
    return stripped.mask(stripped == "")


def _problem_lines(values: pd.Series, show_values: bool = True) -> str:
    """Where the values sit in the file (line 1 is the header) and what they are, the first few."""
    first = zip(values.index.to_numpy()[:SHOWN_PROBLEMS], values.to_numpy()[:SHOWN_PROBLEMS], strict=True)
    shown = [f"line {row + 2}" + (f": {value!r}" if show_values else "") for row, value in first]
    more = f" and {len(values) - SHOWN_PROBLEMS} more" if len(values) > SHOWN_PROBLEMS else ""
    return "; ".join(shown) + more


def _number(table: pd.DataFrame, column: str, mapping: ExtractMapping) -> pd.Series:
    """A numeric column as floats: blanks are 0 when cleaning says so, otherwise missing."""
    text = table[column].fillna("")
    if column in mapping.cleaning.blank_to_zero:
        text = text.mask(text == "", "0")
    values = pd.to_numeric(text.mask(text == ""), errors="coerce").astype("float64")
    bad = text[(text != "") & values.isna()]
    if len(bad):
        raise MappingError(f"{mapping.source}: column {column!r} should hold numbers; {_problem_lines(bad)}")
    return values


def _ids(table: pd.DataFrame, mapping: ExtractMapping) -> pd.Series:
    ids = table[mapping.id].astype("str")
    blank = table[mapping.id][table[mapping.id].isna()]
    if len(blank):
        raise MappingError(
            f"{mapping.source}: id column {mapping.id!r} is blank on {_problem_lines(blank, show_values=False)}"
        )
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        raise MappingError(
            f"{mapping.source}: id column {mapping.id!r} should name each customer once; repeated on"
            f" {_problem_lines(repeated)}"
        )
    return ids


def _contract_columns(table: pd.DataFrame, mapping: ExtractMapping) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    if mapping.tenure is not None:
        months = _number(table, mapping.tenure, mapping)
        out["tenure_days"], out["tenure_years"] = months * DAYS_PER_MONTH, months / 12.0
    if mapping.start_date is not None:
        column, as_of = mapping.start_date.column, pd.Timestamp(mapping.start_date.as_of)
        # As validation reads dates: a UTC offset keeps the local day, a day outside the contract's range fails.
        starts, unreadable, outside = coerce_dates(table[column], DateRange(mapping.start_date.as_of))
        bad = table[column][unreadable | outside | (starts > as_of).to_numpy()]
        if len(bad):
            raise MappingError(
                f"{mapping.source}: column {column!r} should hold start dates (YYYY-MM-DD) from"
                f" {EARLIEST_DAY} to {as_of.date()} (start_date.as_of); {_problem_lines(bad)}"
            )
        days = (as_of - starts.dt.normalize()).dt.days.astype("float64")  # whole days from the start day
        out["tenure_days"], out["tenure_years"] = days, days / 365.25
    if mapping.contract is not None:
        column = mapping.contract.column
        terms = {clean_value(value, mapping): months for value, months in mapping.contract.terms.items()}
        values = _text(table[column], mapping)
        unknown = values[values.notna() & ~values.isin(list(terms))]
        if len(unknown):
            raise MappingError(
                f"{mapping.source}: column {column!r} holds contract values contract.terms does not list"
                f" ({sorted(terms)}); {_problem_lines(unknown)}"
            )
        term = values.map(terms).astype("float64")
        out["contract_term_months"], out["month_to_month"] = term, (term == 0).astype("float64").mask(term.isna())
    if mapping.monthly_rate is not None:
        out["monthly_revenue"] = _number(table, mapping.monthly_rate, mapping)
    if mapping.services.columns and mapping.services.absent:
        absent = [clean_value(value, mapping) for value in mapping.services.absent]
        held = [_text(table[c], mapping).pipe(lambda s: s.notna() & ~s.isin(absent)) for c in mapping.services.columns]
        out["lines"] = pd.concat(held, axis=1).sum(axis=1).astype("float64")
    return out


def _label(table: pd.DataFrame, mapping: ExtractMapping) -> pd.Series:
    column, positive = mapping.label.column, clean_value(mapping.label.positive, mapping)
    values = _text(table[column], mapping)
    blank = values[values.isna()]
    if len(blank):
        raise MappingError(
            f"{mapping.source}: label column {column!r} is blank on {_problem_lines(blank, show_values=False)}"
        )
    if not (values == positive).any():
        raise MappingError(
            f"{mapping.path}: label.positive: no row of {column!r} holds {mapping.label.positive!r};"
            f" it holds {sorted(table[column].unique())}"
        )
    return values == positive


def _split_parts(table: pd.DataFrame, mapping: ExtractMapping) -> pd.Series:
    """The part of each row: "train", "val", "test", or missing when the split leaves it out.

    A ``seeded_random`` split makes exactly the calls of the published protocol,
    on row positions: ``train_test_split(rows, test_size, random_state=test_seed)``
    and then ``train_test_split(rest, val_size, random_state=val_seed)``.
    """
    split, n = mapping.split, len(table)
    parts = pd.Series(None, index=table.index, dtype="object")
    if isinstance(split, SeededRandomSplit):
        try:
            rest, test = train_test_split(np.arange(n), test_size=split.test_size, random_state=split.test_seed)
            train, val = train_test_split(rest, test_size=split.val_size, random_state=split.val_seed)
        except ValueError as error:
            raise MappingError(f"{mapping.path}: split: {error}") from None
        for part, rows in zip(PARTS, (train, val, test), strict=True):
            parts.iloc[rows] = part
    elif isinstance(split, FirstRowsSplit):
        test = n - split.train - split.val if split.test is None else split.test
        if split.train + split.val + test > n or test < 1:
            raise MappingError(
                f"{mapping.path}: split: first_rows asks for {split.train} train + {split.val} val"
                f" + {split.test or 'at least 1'} test rows, but {mapping.source.name} has {n}"
            )
        ends = np.cumsum([split.train, split.val, test])
        for part, start, end in zip(PARTS, (0, *ends[:2]), ends, strict=True):
            parts.iloc[start:end] = part
    elif isinstance(split, ByColumnSplit):
        values = _text(table[split.column], mapping)
        for part in PARTS:
            listed = list(getattr(split, part))
            chosen = values.isin([clean_value(v, mapping) for v in listed])
            if not chosen.any():
                raise MappingError(
                    f"{mapping.path}: split.{part}: no row of {split.column!r} holds any of {listed};"
                    f" it holds {sorted(table[split.column].dropna().unique())[:20]}"
                )
            parts[chosen] = part
    return parts
