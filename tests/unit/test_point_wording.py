"""The wording of talking points stays light: labelling and wording points loads no model library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from string import Formatter

import pytest

from features.registry import BY_NAME, FEATURES
from models.opening_line import OFFER_OPENING, OFFER_OPENINGS, offer_sentence
from models.point_wording import KIND_LABELS, KINDS, OFFER_CALLS, OFFER_FACTS, OPENING_PHRASES
from sources import vocabulary as v


def test_wording_points_loads_no_model_library() -> None:
    heavy = ("lightgbm", "shap", "sklearn", "models.churn", "models.save", "models.offer_design")
    code = f"import sys, models.point_wording; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]  # the repository, so that ``models`` imports as in the tests
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "[]"


def test_every_kind_has_its_page_label() -> None:
    assert list(KIND_LABELS) == list(KINDS)
    assert list(KIND_LABELS.values()) == ["Open with", "Risk", "Holds", "Offer", "Limit"]


def test_offer_declarations_name_real_concepts_reasons_and_offers() -> None:
    concepts = {f.concept for f in FEATURES}
    for kind, facts in OFFER_FACTS.items():
        assert kind in v.OFFERS or kind.startswith("rollback"), kind
        assert set(facts) <= concepts, (kind, set(facts) - concepts)
    for kind, reasons in OFFER_CALLS.items():
        assert kind in OFFER_FACTS and set(reasons) <= set(v.CANCELLATION_REASONS), kind


def test_opening_phrases_read_only_their_features_fields() -> None:
    for name, phrase in OPENING_PHRASES.items():
        fields = {f for _, f, _, _ in Formatter().parse(phrase) if f} - {"value", "date", "month", "years"}
        assert fields <= BY_NAME[name].template_fields, name
        assert BY_NAME[name].audience == "customer" and BY_NAME[name].actionable, name


def test_holds_sentences_say_protection_and_risk_wording_never_compares_for_the_customer() -> None:
    for feature in FEATURES:
        if feature.holds:
            assert feature.holds.startswith(("no ", "a customer for", "under an", "agreement runs")), feature.name
            low, high = feature.holds_range
            assert low <= high, feature.name
        if feature.audience == "customer":
            words = f"{feature.template} {feature.template_negative} {feature.holds}"
            assert "territory" not in words and "median" not in words, feature.name
    tenure = {f.name for f in FEATURES if f.concept == "tenure"}
    assert tenure == {"tenure_days", "tenure_years"}


@pytest.mark.parametrize(
    ("offer", "terms", "said"),
    [
        ("rollback_10", {"proposed_monthly_rate": 412.4}, "I can bring your rate down 10%, to $412 a month."),
        ("rollback_10", {}, "I can bring your rate down 10%."),
        ("renewal_rate_lock", {"proposed_monthly_rate": 1250.0, "proposed_term_months": 36.0},
         "I can lock your rate at $1,250 a month on a 36-month agreement."),
        ("renewal_rate_lock", {"proposed_monthly_rate": 1250.0, "proposed_term_months": float("nan")},
         "I can lock in your rate on a new agreement."),
        ("right_size", {"proposed_monthly_rate": 300.0, "proposed_service": None},
         OFFER_OPENINGS["right_size"][1]),
        ("an_offer_nobody_declared", {"proposed_monthly_rate": 300.0}, OFFER_OPENING),
        (None, {}, OFFER_OPENING),
    ],
)  # fmt: skip
def test_the_offer_sentence_says_its_terms_only_when_it_has_them_all(offer: object, terms: dict, said: str) -> None:
    assert offer_sentence(offer, terms) == said
