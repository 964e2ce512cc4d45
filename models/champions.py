"""The champion models the desk plans with, as one value handed to whoever plans.

``models.tracking.Tracker.load_champions`` is the one loader by alias (``Tracker.load_versions`` by version number,
for the live plan of a publication); the nightly, the intraday flow and the live plan all receive its result and
stamp ``versions`` on what they plan. The stamp is also what a published day's manifest keeps as ``models``;
``version_numbers`` and ``same_models`` read and compare stamps of that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.churn import ChurnModel
from models.save import SaveModel

KINDS = ("churn", "save")
"""The two models a plan needs, as a stamp names them."""


@dataclass(frozen=True)
class Champions:
    """The champion churn and save models, and what they are."""

    churn: ChurnModel
    save: SaveModel
    versions: dict[str, dict[str, Any]]
    """``{"churn": {"name", "version", "alias"}, "save": {...}}``: stamped on what is planned with them."""


def model_identity(stamp: Mapping[str, Any] | None) -> dict[str, tuple[str, int]] | None:
    """``{"churn": (name, version), "save": (...)}`` of a stamp, or None when it does not name both models whole."""
    if not isinstance(stamp, Mapping):
        return None
    found = {}
    for kind in KINDS:
        entry = stamp.get(kind)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            return None
        version = entry.get("version")
        if isinstance(version, bool) or not isinstance(version, int | str) or not str(version).isdigit():
            return None
        found[kind] = (str(entry["name"]), int(version))
    return found


def version_numbers(stamp: Mapping[str, Any] | None) -> dict[str, int] | None:
    """``{"churn": 3, "save": 2}`` of a stamp (a manifest's ``models``), or None when it does not name both."""
    identity = model_identity(stamp)
    return None if identity is None else {kind: version for kind, (_, version) in identity.items()}


def same_models(one: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> bool:
    """Whether two stamps name the same registered model and version for both models (aliases aside)."""
    known = model_identity(one)
    return known is not None and known == model_identity(other)


def described(stamp: Mapping[str, Any] | None) -> str:
    """A stamp in words: ``savedesk-churn v2 and savedesk-save v1`` (``no models named`` when it names none)."""
    identity = model_identity(stamp)
    if identity is None:
        return "no models named"
    return " and ".join(f"{name} v{version}" for name, version in identity.values())
