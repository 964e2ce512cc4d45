"""What the data contract expects, in words, plus the rules that span columns.

Validation messages and the data dictionary both describe a column's type and
checks; they read them from the contract through the functions here, so the
words a rep's data team sees in an error are the words in the dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

from sources.contract import table_info

DATE_FORMAT = "YYYY-MM-DD"

_DTYPE_WORDS = {
    "string[pyarrow]": "text",
    "str": "text",
    "float64": "a number",
    "Int64": "a whole number",
    "boolean": "true or false (also yes/no, 1/0)",
    "datetime64[ns]": f"a date as {DATE_FORMAT}",
}


@dataclass(frozen=True)
class DateOrder:
    """A date that may not come before another date of the same row.

    Attributes:
        later: The column holding the later date (a close, an end, a due date).
        earlier: The column it may not precede (the start, the invoice date).
    """

    later: str
    earlier: str

    def describe(self) -> str:
        """The rule in words, for the data dictionary."""
        return f"`{self.later}` is on or after `{self.earlier}`"


def date_orders(table: str) -> tuple[DateOrder, ...]:
    """The date-order rules the contract declares for a table (a row breaking one is quarantined)."""
    return tuple(DateOrder(later, earlier) for later, earlier in table_info(table).date_order)


def describe_dtype(column: pa.Column) -> str:
    """The type a contract column expects, in words.

    Args:
        column: A pandera column of the contract.

    Returns:
        For example ``"a number"`` or ``"a date as YYYY-MM-DD"``.
    """
    dtype = str(column.dtype)
    return _DTYPE_WORDS.get(dtype, dtype)


def describe_check(check: pa.Check) -> str:
    """What a pandera check allows, in words.

    Args:
        check: One of the built-in checks the contract uses.

    Returns:
        For example ``"one of: phone, email, web"`` or ``"between 0 and 120"``.
    """
    stats = check.statistics or {}
    name = check.name
    if name == "isin":
        return "one of: " + ", ".join(str(value) for value in stats["allowed_values"])
    if name == "notin":
        return "none of: " + ", ".join(str(value) for value in stats["forbidden_values"])
    if name == "in_range":
        return _range_words(stats)
    bounds = {
        "greater_than_or_equal_to": ("at least", "min_value"),
        "greater_than": ("more than", "min_value"),
        "less_than_or_equal_to": ("at most", "max_value"),
        "less_than": ("less than", "max_value"),
        "equal_to": ("equal to", "value"),
    }
    if name in bounds:
        words, stat = bounds[name]
        return f"{words} {stats[stat]}"
    if name == "str_matches":
        return f"text matching the pattern {stats['pattern']}"
    if name == "str_length":
        return _length_words(stats)
    return str(check.error or name)


def _range_words(stats: dict[str, object]) -> str:
    low, high = stats["min_value"], stats["max_value"]
    if stats.get("include_min", True) and stats.get("include_max", True):
        return f"between {low} and {high}"
    low_word = "from" if stats.get("include_min", True) else "above"
    high_word = "to" if stats.get("include_max", True) else "below"
    return f"{low_word} {low} {high_word} {high}"


def _length_words(stats: dict[str, object]) -> str:
    if stats.get("exact_value") is not None:
        return f"text of exactly {stats['exact_value']} characters"
    low, high = stats.get("min_value"), stats.get("max_value")
    if low == 1 and high is None:
        return "non-empty text"
    if high is None:
        return f"text of at least {low} characters"
    return f"text of {low or 0} to {high} characters"


def describe_nullable(column: pa.Column) -> str:
    """What the contract says about an empty cell of a column."""
    return "may be empty" if column.nullable else "a value (this column may not be empty)"
