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
from models.names import SAVE_MODEL
from models.save import SaveModel
from models.valuation import MODEL, PRIOR

KINDS = ("churn", "save")
"""The two models a plan needs, as a stamp names them."""


@dataclass(frozen=True)
class Champions:
    """The champion churn and save models, and what they are."""

    churn: ChurnModel
    save: SaveModel | None
    """None while no save model is champion: offers are then valued from the catalog's prior save rates."""
    versions: dict[str, dict[str, Any]]
    """``{"churn": {"name", "version", "alias"}, "save": {...}}``: stamped on what is planned with them (without
    a save model, ``save`` is ``NO_SAVE_MODEL``)."""

    @property
    def p_save_source(self) -> str:
        """Where the plans' save probabilities come from: ``model`` or ``prior`` (``models.valuation``)."""
        return MODEL if self.save is not None else PRIOR


NO_SAVE_MODEL: dict[str, Any] = {"name": SAVE_MODEL, "version": None, "alias": None, "valued_from": "prior save rates"}
"""A stamp's ``save`` entry while no save model is champion. It names no version, so such a stamp is never taken
for one naming both models whole (``model_identity``: a live plan or an intraday run then uses the champions)."""


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
    if identity is None and isinstance(stamp, Mapping) and stamp.get("save") == NO_SAVE_MODEL:
        churn = model_identity({**stamp, "save": {"name": SAVE_MODEL, "version": 0}})
        if churn is not None:  # the churn model alone: offers were valued from the catalog's prior save rates
            name, version = churn["churn"]
            return f"{name} v{version} and the catalog's prior save rates (no save model yet)"
    if identity is None:
        return "no models named"
    return " and ".join(f"{name} v{version}" for name, version in identity.values())
