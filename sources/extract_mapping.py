"""The mapping file of a one-row-per-customer extract: which CSV column means what.

A data scientist who brings an extract (one row per customer, a label column)
writes a small YAML file that says which column is the customer id, the tenure
or start date, the contract, the monthly rate, the services, the other
attributes and the label, how to clean the file and how to split it into
train, val and test parts. ``load_mapping`` reads and checks that file and
returns an ``ExtractMapping``; ``sources.tabular.read_customer_extract``
applies it. Column names and values in the mapping are written as they appear
in the CSV; a mistake raises ``MappingError`` naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml


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
SPLIT_KINDS = {
    "seeded_random": {"test_size", "test_seed", "val_size", "val_seed"},
    "first_rows": {"train", "val", "test"},
    "by_column": {"column", "train", "val", "test"},
}


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


KEYS = {
    "source", "id", "tenure", "start_date", "contract", "monthly_rate", "services",
    "categorical", "numeric", "label", "cleaning", "split",
}  # fmt: skip


class _Yaml12Loader(yaml.SafeLoader):
    """YAML where only true/false are booleans, so ``positive: Yes`` stays the text "Yes" as in the CSV."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Yaml12Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


class _Reader:
    """Typed access to the mapping's keys, each failure naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(f"{self.path}: {key}: {message}")

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping of keys ({', '.join(sorted(allowed))}), got {value!r}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(key, f"unknown key(s) {unknown}; expected some of {sorted(allowed)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.fail(key, f"expected a column name or value (text), got {value!r}")
        return str(value)

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {value!r}")
        return tuple(self.text(item, f"{key}[{i}]") for i, item in enumerate(value))

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def size(self, value: Any, key: str) -> float | int:
        """A part's size as ``train_test_split`` takes it: a fraction in (0, 1) or a row count."""
        if isinstance(value, float) and 0.0 < value < 1.0:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise self.fail(key, f"expected a fraction between 0 and 1 or a row count >= 1, got {value!r}")

    def day(self, value: Any, key: str) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(key, f"expected a date as YYYY-MM-DD, got {value!r}") from None


def load_mapping(path: Path | str) -> ExtractMapping:
    """Read and check a mapping file.

    Args:
        path: The YAML mapping file. Its ``source`` is resolved relative to it.

    Returns:
        The checked mapping.

    Raises:
        MappingError: The file is missing or not YAML, a key is missing, unknown
            or of the wrong type, or a column is used for two roles.
    """
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: no such mapping file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise MappingError(f"{path}: not a readable YAML file: {error}") from None
    r = _Reader(path)
    spec = r.table(raw, "(top level)", KEYS)
    for key in ("source", "id", "label", "split"):
        if key not in spec:
            raise r.fail(key, "missing; every mapping needs source, id, label and split")
    if "tenure" in spec and "start_date" in spec:
        raise r.fail("tenure", "give either tenure (months) or start_date (with as_of), not both")
    label = r.table(spec["label"], "label", {"column", "positive"})
    cleaning = r.table(spec.get("cleaning") or {}, "cleaning", {"blank_to_zero", "normalise"})
    if not isinstance(cleaning.get("normalise", False), bool):
        raise r.fail("cleaning.normalise", f"expected true or false, got {cleaning['normalise']!r}")
    mapping = ExtractMapping(
        path=path,
        source=(path.parent / r.text(spec["source"], "source")).resolve(),
        id=r.text(spec["id"], "id"),
        label=Label(r.text(label.get("column"), "label.column"), r.text(label.get("positive"), "label.positive")),
        split=_split(spec["split"], r),
        tenure=r.text(spec["tenure"], "tenure") if "tenure" in spec else None,
        start_date=_start_date(spec["start_date"], r) if "start_date" in spec else None,
        contract=_contract(spec["contract"], r) if "contract" in spec else None,
        monthly_rate=r.text(spec["monthly_rate"], "monthly_rate") if "monthly_rate" in spec else None,
        services=_services(spec.get("services"), r),
        categorical=r.texts(spec.get("categorical"), "categorical"),
        numeric=r.texts(spec.get("numeric"), "numeric"),
        cleaning=Cleaning(
            r.texts(cleaning.get("blank_to_zero"), "cleaning.blank_to_zero"), cleaning.get("normalise", False)
        ),
    )
    _check_roles(mapping, r)
    return mapping


def _start_date(value: Any, r: _Reader) -> StartDate:
    spec = r.table(value, "start_date", {"column", "as_of"})
    if "as_of" not in spec:
        raise r.fail("start_date.as_of", "missing: the day tenure is counted up to (YYYY-MM-DD)")
    return StartDate(r.text(spec.get("column"), "start_date.column"), r.day(spec["as_of"], "start_date.as_of"))


def _contract(value: Any, r: _Reader) -> Contract:
    spec = r.table(value, "contract", {"column", "terms"})
    terms = spec.get("terms")
    if not isinstance(terms, dict) or not terms:
        raise r.fail("contract.terms", f"expected value: months pairs (e.g. Month-to-month: 0), got {terms!r}")
    months = {r.text(k, "contract.terms"): r.integer(v, f"contract.terms.{k}") for k, v in terms.items()}
    return Contract(r.text(spec.get("column"), "contract.column"), months)


def _services(value: Any, r: _Reader) -> Services:
    if value is None or isinstance(value, list):
        return Services(columns=r.texts(value, "services"))
    spec = r.table(value, "services", {"columns", "absent"})
    return Services(r.texts(spec.get("columns"), "services.columns"), r.texts(spec.get("absent"), "services.absent"))


def _split(value: Any, r: _Reader) -> Split:
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind not in SPLIT_KINDS:
        raise r.fail("split.kind", f"expected one of {sorted(SPLIT_KINDS)}, got {kind!r}")
    spec = r.table(value, "split", SPLIT_KINDS[kind] | {"kind"})
    needed = SPLIT_KINDS[kind] - ({"test"} if kind == "first_rows" else set())
    missing = sorted(needed - set(spec))
    if missing:
        raise r.fail("split", f"a {kind} split needs {sorted(needed)}; missing {missing}")
    if kind == "seeded_random":
        return SeededRandomSplit(
            test_size=r.size(spec["test_size"], "split.test_size"),
            test_seed=r.integer(spec["test_seed"], "split.test_seed"),
            val_size=r.size(spec["val_size"], "split.val_size"),
            val_seed=r.integer(spec["val_seed"], "split.val_seed"),
        )
    if kind == "first_rows":
        test = spec.get("test")
        return FirstRowsSplit(
            train=r.integer(spec["train"], "split.train", 1),
            val=r.integer(spec["val"], "split.val", 1),
            test=None if test is None else r.integer(test, "split.test", 1),
        )
    parts = {part: r.texts(spec[part], f"split.{part}") for part in ("train", "val", "test")}
    for part, values in parts.items():
        if not values:
            raise r.fail(f"split.{part}", "expected a non-empty list of the column's values")
    for one, other in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sorted(set(parts[one]) & set(parts[other]))
        if shared:
            raise r.fail("split", f"values {shared} are listed for both {one} and {other}")
    return ByColumnSplit(r.text(spec["column"], "split.column"), parts["train"], parts["val"], parts["test"])


def _check_roles(mapping: ExtractMapping, r: _Reader) -> None:
    """Each column has one role; blank_to_zero names numeric columns; there is a feature."""
    seen: dict[str, str] = {}
    for key, column in mapping.roles():
        if column in seen:
            raise r.fail(key, f"column {column!r} is already used as {seen[column]}; give each column one role")
        seen[column] = key
    numbers = {mapping.tenure, mapping.monthly_rate, *mapping.numeric}
    for column in mapping.cleaning.blank_to_zero:
        if column not in numbers:
            raise r.fail(
                "cleaning.blank_to_zero", f"{column!r} is not a numeric column (tenure, monthly_rate, numeric)"
            )
    if len(seen) == 2:
        raise r.fail("(top level)", "the mapping declares no feature column (tenure, contract, categorical, ...)")
