"""The wording of talking points stays light: labelling and wording points loads no model library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from models.point_wording import KIND_LABELS, KINDS


def test_wording_points_loads_no_model_library() -> None:
    heavy = ("lightgbm", "shap", "sklearn", "models.churn", "models.save", "models.offer_design")
    code = f"import sys, models.point_wording; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]  # the repository, so that ``models`` imports as in the tests
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "[]"


def test_every_kind_has_its_page_label() -> None:
    assert list(KIND_LABELS) == list(KINDS)
    assert list(KIND_LABELS.values()) == ["Risk", "Holds", "Offer", "Limit"]
