"""The mapping file of a one-row-per-customer extract: which CSV column means what.

A data scientist who brings an extract (one row per customer, a label column)
writes a small YAML file that says which column is the customer id, the tenure
or start date, the contract, the monthly rate, the services, the other
attributes and the label, how to clean the file and how to split it into
train, val and test parts. This module is what such a file means, as an
``ExtractMapping``; ``sources.mapping_file.load_mapping`` reads and checks the
file and ``sources.tabular.read_customer_extract`` applies it. Column names and
values in the mapping are written as they appear in the CSV; a mistake raises
``MappingError`` naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


class MappingError(ValueError):
    """A mapping file (or the CSV it points at) is not usable; the message says which key or column and why."""


@dataclass(frozen=True)
class StartDate:
    """Tenure from a start-date column, counted up to ``as_of``."""

    column: str
    as_of: date


@dataclass(frozen=True)
class Contract:
    """The contract column and the term in months of each of its values (0 = month to month)."""

    column: str
    terms: dict[str, int]


@dataclass(frozen=True)
class Services:
    """Service columns (flags or levels) and the values that mean "not subscribed"."""

    columns: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Label:
    """The label column and the value that means the customer churned."""

    column: str
    positive: str


@dataclass(frozen=True)
class Cleaning:
    """Cleaning applied before mapping.

    Attributes:
        blank_to_zero: Numeric columns whose blank cells mean 0.
        normalise: Lower-case column names and text values and replace spaces by ``_``.
    """

    blank_to_zero: tuple[str, ...] = ()
    normalise: bool = False


@dataclass(frozen=True)
class SeededRandomSplit:
    """Two ``train_test_split`` calls, as published: test off the whole file, then val off the rest.

    Sizes are what ``train_test_split`` takes: a fraction, or a row count.
    """

    test_size: float | int
    test_seed: int
    val_size: float | int
    val_seed: int


@dataclass(frozen=True)
class FirstRowsSplit:
    """The first ``train`` rows, the next ``val``, then ``test`` rows (default: all the rest)."""

    train: int
    val: int
    test: int | None = None


@dataclass(frozen=True)
class ByColumnSplit:
    """Parts chosen by a column's values (a cohort, a region, a signup year)."""

    column: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


Split = SeededRandomSplit | FirstRowsSplit | ByColumnSplit


@dataclass(frozen=True)
class ExtractMapping:
    """A checked mapping of one extract; see ``mappings/telco.yaml`` for a full example."""

    path: Path
    source: Path
    id: str
    label: Label
    split: Split
    tenure: str | None = None
    """Column holding tenure in months (or use ``start_date``)."""
    start_date: StartDate | None = None
    contract: Contract | None = None
    monthly_rate: str | None = None
    services: Services = Services()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    cleaning: Cleaning = Cleaning()

    def roles(self) -> list[tuple[str, str]]:
        """Every (key, CSV column) pair of the mapping, feature columns first."""
        pairs = [("tenure", self.tenure), ("start_date", self.start_date.column if self.start_date else None)]
        pairs += [("contract", self.contract.column if self.contract else None), ("monthly_rate", self.monthly_rate)]
        pairs += [("services", c) for c in self.services.columns] + [("categorical", c) for c in self.categorical]
        pairs += [("numeric", c) for c in self.numeric] + [("id", self.id), ("label", self.label.column)]
        return [(key, column) for key, column in pairs if column is not None]

    @property
    def columns(self) -> dict[str, str]:
        """Every CSV column the mapping reads, with the key that names it."""
        used = {column: key for key, column in self.roles()}
        if isinstance(self.split, ByColumnSplit):
            used.setdefault(self.split.column, "split.column")
        return used
