"""Loading a mapping file: read the YAML, check every key, return an ``ExtractMapping``.

Each key is checked for its type (``mapping_keys.KeyReader``), each split kind
for its settings, and the whole for one role per column and at least one
feature; a mistake raises ``MappingError`` naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sources.extract_mapping import (
    ByColumnSplit,
    Cleaning,
    Contract,
    ExtractMapping,
    FirstRowsSplit,
    Label,
    MappingError,
    SeededRandomSplit,
    Services,
    Split,
    StartDate,
)
from sources.mapping_keys import KeyReader, MappingYamlLoader

KEYS = {
    "source", "id", "tenure", "start_date", "contract", "monthly_rate", "services",
    "categorical", "numeric", "label", "cleaning", "split",
}  # fmt: skip
SPLIT_KINDS = {
    "seeded_random": {"test_size", "test_seed", "val_size", "val_seed"},
    "first_rows": {"train", "val", "test"},
    "by_column": {"column", "train", "val", "test"},
}


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
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=MappingYamlLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise MappingError(f"{path}: not a readable YAML file: {error}") from None
    r = KeyReader(path)
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


def _start_date(value: Any, r: KeyReader) -> StartDate:
    spec = r.table(value, "start_date", {"column", "as_of"})
    if "as_of" not in spec:
        raise r.fail("start_date.as_of", "missing: the day tenure is counted up to (YYYY-MM-DD)")
    return StartDate(r.text(spec.get("column"), "start_date.column"), r.day(spec["as_of"], "start_date.as_of"))


def _contract(value: Any, r: KeyReader) -> Contract:
    spec = r.table(value, "contract", {"column", "terms"})
    terms = spec.get("terms")
    if not isinstance(terms, dict) or not terms:
        raise r.fail("contract.terms", f"expected value: months pairs (e.g. Month-to-month: 0), got {terms!r}")
    months = {r.text(k, "contract.terms"): r.integer(v, f"contract.terms.{k}") for k, v in terms.items()}
    return Contract(r.text(spec.get("column"), "contract.column"), months)


def _services(value: Any, r: KeyReader) -> Services:
    if value is None or isinstance(value, list):
        return Services(columns=r.texts(value, "services"))
    spec = r.table(value, "services", {"columns", "absent"})
    return Services(r.texts(spec.get("columns"), "services.columns"), r.texts(spec.get("absent"), "services.absent"))


def _split(value: Any, r: KeyReader) -> Split:
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


def _check_roles(mapping: ExtractMapping, r: KeyReader) -> None:
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
