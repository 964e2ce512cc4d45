"""The champion models the desk plans with, as one value handed to whoever plans.

``models.tracking.Tracker.load_champions`` is the one loader; the nightly, the
intraday flow and the live plan all receive its result and stamp ``versions``
on what they plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.churn import ChurnModel
from models.save import SaveModel


@dataclass(frozen=True)
class Champions:
    """The champion churn and save models, and what they are."""

    churn: ChurnModel
    save: SaveModel
    versions: dict[str, dict[str, Any]]
    """``{"churn": {"name", "version", "alias"}, "save": {...}}``: stamped on what is planned with them."""
