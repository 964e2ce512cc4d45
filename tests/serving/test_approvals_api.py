"""Outcomes within the rules, on SQLite and PostgreSQL: held for a manager, refused past a hard rule, audited.

An accepted offer beyond the rep's rollback authority or below the price floor is stored pending a manager's
approval, never as a save; one below the cost to serve, or a service change that drops a mandated stream, is
refused (422 naming the rule); a rep cannot approve, a manager can, every decision is audited, and only outcomes
that stand reach the training data. The accepted offer's updated agreement is kept with its outcome.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from published_workspace import published_workspace
from served_app import Served, form_token, outcome, serve, signed_in

from models.offers import offer_terms
from pipelines.settings import load_settings
from serving.auth import Role

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(module_store_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    """The app over the published workspace with a fresh store on each engine; server errors answer 500."""
    with serve(published_workspace(tmp_path_factory, worker_id), module_store_url,
               raise_server_exceptions=False) as served:  # fmt: skip
        yield served


@pytest.fixture(scope="module")
def economics(served: Served) -> pd.DataFrame:
    """Each account's territory, monthly rate, cost to serve and floor (cost plus the minimum margin), by account."""
    desk = served.app.state.desk
    context = desk.planner.night().context
    terms = offer_terms(context.reset_index(drop=True), desk.config.offers)
    kept = terms[terms["offer"] == "contract_education"].set_index("account_id")
    margin = desk.config.guardrails.min_margin_pct / 100
    return pd.DataFrame({
        "territory": context["territory"].reindex(kept.index),
        "revenue": kept["monthly_revenue"],
        "cost": kept["monthly_cost_to_serve"],
        "floor": kept["monthly_cost_to_serve"] * (1 + margin),
    })  # fmt: skip


def post(served: Served, body: dict[str, Any], key: str, who: str = "rep", token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or served.tokens[who]}", "Idempotency-Key": key}
    return served.client.post("/api/v1/outcomes", json=body, headers=headers)


def decide(served: Served, outcome_id: int, decision: str, who: str = "manager", note: str = "") -> Any:
    return served.client.post(f"/api/v1/outcomes/{outcome_id}/approval", json={"decision": decision, "note": note},
                              headers=served.headers(who))  # fmt: skip


def roomy(served: Served, economics: pd.DataFrame, rollback: float, territory: str | None = None) -> list[str]:
    """Accounts of the rep's territory whose rate after ``rollback`` % stays above the floor (only authority holds)."""
    mine = economics[economics["territory"] == (territory or served.territory)]
    after = mine["revenue"] * (1 - rollback / 100)
    return mine.index[(after >= mine["floor"] * 1.01) & (mine["revenue"] > 0)].tolist()


def stored(served: Served, outcome_id: int) -> dict[str, Any]:
    row = served.store.outcome(outcome_id)
    assert row is not None
    return row


# --- held for a manager ----------------------------------------------------------------------------------------------


def test_a_rollback_beyond_the_reps_authority_is_held_never_a_save(served: Served, economics: pd.DataFrame) -> None:
    authority = served.app.state.desk.config.guardrails.rep_max_rollback_pct
    account = roomy(served, economics, 20)[0]
    assert 20 > authority
    answer = post(served, outcome(account, offer="rollback", rollback_pct=20), "k-beyond")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["approval"], answer.json()["held_for"]) == ("pending", ["rep_authority"])
    row = stored(served, answer.json()["outcome_id"])
    assert (row["approval"], row["held_for"], bool(row["accepted"])) == ("pending", "rep_authority", True)
    audit = served.store.decisions(row["outcome_id"])
    assert audit[["action", "approval_before", "approval_after", "decided_by", "role"]].values.tolist() == [
        ["held", None, "pending", "rita", "rep"]
    ]
    # The same rollback within authority, and the same one declined, are not held.
    within = post(served, outcome(account, offer="rollback", rollback_pct=int(authority)), "k-within")
    declined = post(served, outcome(account, offer="rollback", rollback_pct=20, accepted=False), "k-declined")
    assert [a.json()["approval"] for a in (within, declined)] == ["not_needed", "not_needed"]
    # A retry answers where the first stands.
    again = post(served, outcome(account, offer="rollback", rollback_pct=20), "k-beyond")
    assert (again.status_code, again.json()["approval"]) == (200, "pending")
    assert again.json()["held_for"] == ["rep_authority"]


def test_a_rate_below_the_floor_is_held_and_one_below_cost_is_refused_naming_the_rule(
    served: Served, economics: pd.DataFrame
) -> None:
    mine = economics[(economics["territory"] == served.territory) & (economics["revenue"] > economics["floor"])]
    account = mine.index[0]
    cost, floor = float(mine.at[account, "cost"]), float(mine.at[account, "floor"])
    under_floor = round((cost + floor) / 2, 2)
    assert cost < under_floor < floor
    held = post(served, outcome(account, offer="rollback", rollback_pct=5, new_monthly_rate=under_floor), "k-floor")
    assert held.status_code == 201, held.text
    assert "price_floor" in held.json()["held_for"] and held.json()["approval"] == "pending"

    before = served.rows()
    below = round(cost * 0.9, 2)
    refused = post(served, outcome(account, offer="rollback", rollback_pct=5, new_monthly_rate=below), "k-cost")
    assert refused.status_code == 422, refused.text
    problems = refused.json()["detail"]
    assert [(p["rule"], p["field"]) for p in problems] == [("below_cost", "new_monthly_rate")]
    assert "cost" in problems[0]["msg"]
    assert served.rows() == before  # refused: nothing written, not even pending


def test_a_right_size_dropping_a_mandated_stream_is_refused_for_everyone(served: Served) -> None:
    context = served.app.state.desk.planner.night().context
    rules = served.app.state.desk.config.guardrails
    mandated = {(m.state, m.segment): m.streams for m in rules.mandates if m.city == "*"}
    lacking = [
        a for a, state, segment, *has in context[["account_id", "state", "segment", "has_recycling", "has_organics"]]
        .itertuples(index=False)
        if any(not dict(zip(("recycling", "organics"), has, strict=True)).get(s, True)
               for s in mandated.get((state, segment), ()))
    ]  # fmt: skip
    assert lacking, "the test hauler has no account short of a mandated stream"
    before = served.rows()
    answer = post(served, outcome(lacking[0], offer="right_size"), "k-compliance", who="manager")
    assert answer.status_code == 422, answer.text
    assert [p["rule"] for p in answer.json()["detail"]] == ["compliance"]
    assert served.rows() == before


# --- deciding --------------------------------------------------------------------------------------------------------


def test_a_rep_cannot_approve_a_manager_can_and_every_decision_is_audited(
    served: Served, economics: pd.DataFrame
) -> None:
    account = roomy(served, economics, 20)[1]
    held = post(served, outcome(account, offer="rollback", rollback_pct=20), "k-decide").json()
    outcome_id = held["outcome_id"]

    assert decide(served, outcome_id, "approve", who="rep").status_code == 403
    assert decide(served, outcome_id, "approve", who="other_rep").status_code == 403
    assert stored(served, outcome_id)["approval"] == "pending"
    assert decide(served, outcome_id, "maybe").status_code == 422
    assert decide(served, 2**31 - 1, "approve").status_code == 404

    approved = decide(served, outcome_id, "approve", note="loyal customer, 9 years")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["approval"], approved.json()["decided_by"]) == ("approved", "maya")
    assert decide(served, outcome_id, "reject").status_code == 409  # decided once, for good
    assert stored(served, outcome_id)["approval"] == "approved"

    audit = served.store.decisions(outcome_id)
    assert audit["action"].tolist() == ["held", "approved"]
    last = audit.iloc[-1]
    assert (last["approval_before"], last["approval_after"], last["decided_by"], last["role"], last["note"]) == (
        "pending", "approved", "maya", "manager", "loyal customer, 9 years",
    )  # fmt: skip
    assert last["rules"] == "rep_authority" and last["decided_at"] >= audit.iloc[0]["decided_at"]


def test_a_managers_own_outcome_beyond_authority_is_approved_on_record(served: Served, economics: pd.DataFrame) -> None:
    account = roomy(served, economics, 20)[2]
    answer = post(served, outcome(account, offer="rollback", rollback_pct=20), "k-manager", who="manager")
    assert answer.json()["approval"] == "approved"
    audit = served.store.decisions(answer.json()["outcome_id"])
    assert audit[["action", "decided_by"]].values.tolist() == [["approved on record", "maya"]]


def test_the_approvals_page_lists_held_outcomes_and_only_a_manager_decides(
    served: Served, economics: pd.DataFrame
) -> None:
    account = roomy(served, economics, 20)[3]
    outcome_id = post(served, outcome(account, offer="rollback", rollback_pct=20), "k-page").json()["outcome_id"]
    with signed_in(served, "rep") as rep:
        page = rep.get("/approvals")
        assert page.status_code == 200 and f'id="pending-{outcome_id}"' in page.text
        assert f'id="approve-{outcome_id}"' not in page.text  # read only for a rep
        form = {"csrf_token": form_token(page.text), "decision": "approve", "note": ""}
        assert rep.post(f"/approvals/{outcome_id}", data=form, follow_redirects=False).status_code == 403
    with signed_in(served, "other_rep") as other:
        assert f'id="pending-{outcome_id}"' not in other.get("/approvals").text  # another territory's
    with signed_in(served, "manager") as manager:
        page = manager.get("/approvals")
        form = {"csrf_token": form_token(page.text), "decision": "reject", "note": "too deep for this account"}
        answer = manager.post(f"/approvals/{outcome_id}", data=form, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        assert f'id="pending-{outcome_id}"' not in manager.get(answer.headers["location"]).text
    assert stored(served, outcome_id)["approval"] == "rejected"
    assert served.store.decisions(outcome_id)["note"].iloc[-1] == "too deep for this account"


# --- training --------------------------------------------------------------------------------------------------------


def test_only_outcomes_that_stand_reach_the_training_data(served: Served, economics: pd.DataFrame) -> None:
    from pipelines.workspace import open_workspace

    folder = served.workspace / "published" / served.day
    inbound = pd.read_parquet(folder / "inbound.parquet", columns=["request_id", "account_id", "territory"])
    above_cost = economics["revenue"] * 0.8 >= economics["cost"] * 1.001  # held (authority, maybe floor), not refused
    room = inbound[inbound["account_id"].map(above_cost).fillna(False).astype(bool)]
    assert len(room), "the test hauler has no open request where a 20 % rollback stays above cost"
    request, account, territory = (str(room[c].iloc[0]) for c in ("request_id", "account_id", "territory"))
    token = served.store.add_user("rhea", Role.REP, [territory], "R-RHEA")
    settings = load_settings(served.workspace).model_copy(update={"outcomes_url": served.outcomes_url})

    def desk_attempts() -> list[str]:
        attempts = open_workspace(settings).tables["save_attempts"].collect().to_pandas()
        mine = attempts[(attempts["request_id"] == request) & attempts["attempt_id"].str.startswith("desk-")]
        return mine["attempt_id"].tolist()

    body = outcome(account, request_id=request, offer="rollback", rollback_pct=20, call_date=served.day)
    first = post(served, body, "k-feed-1", token=token).json()
    assert first["approval"] == "pending" and desk_attempts() == []  # pending: not a save
    assert decide(served, first["outcome_id"], "reject").status_code == 200
    assert desk_attempts() == []  # rejected: never a save
    second = post(served, {**body, "notes": "second try"}, "k-feed-2", token=token).json()
    assert decide(served, second["outcome_id"], "approve").status_code == 200
    assert desk_attempts() == [f"desk-{second['outcome_id']:010d}"]  # approved: learned from


# --- the updated agreement -------------------------------------------------------------------------------------------


def test_an_accepted_offer_keeps_its_agreement_and_prints_once_it_stands(
    served: Served, economics: pd.DataFrame
) -> None:
    accounts = roomy(served, economics, 20)
    account, held_account = accounts[4], accounts[5]
    revenue = float(economics.at[account, "revenue"])
    rate = round(revenue * 0.95, 2)
    day = datetime.date.fromisoformat(served.day)
    body = outcome(account, offer="rollback", rollback_pct=5, new_monthly_rate=rate, new_term_months=24,
                   call_date=served.day)  # fmt: skip
    outcome_id = post(served, body, "k-agreement").json()["outcome_id"]
    deal = stored(served, outcome_id)["agreement"]
    assert deal["account_id"] == account
    assert deal["current_monthly_rate"] == pytest.approx(revenue)
    assert deal["proposed_monthly_rate"] == pytest.approx(rate)
    assert deal["monthly_change"] == pytest.approx(rate - revenue)
    assert deal["proposed_term_months"] == 24
    effective = datetime.date.fromisoformat(deal["effective_date"])
    assert effective > day and effective.day == 1 and (effective - day).days <= 31

    with signed_in(served, "rep") as rep:
        shown = rep.get(f"/accounts/{account}?recorded={outcome_id}")
        assert f'href="/outcomes/{outcome_id}/proposal"' in shown.text
        proposal = rep.get(f"/outcomes/{outcome_id}/proposal")
        assert proposal.status_code == 200
        assert account in proposal.text and f"${rate:,.2f}".replace(",", "") in proposal.text.replace(",", "")
        assert deal["effective_date"] in proposal.text and "proposal.css" in proposal.text

        held = post(served, outcome(held_account, offer="rollback", rollback_pct=20), "k-held-proposal").json()
        assert rep.get(f"/outcomes/{held['outcome_id']}/proposal").status_code == 409  # not before approval
        declined = post(served, outcome(account, accepted=False), "k-no-agreement").json()
        assert stored(served, declined["outcome_id"])["agreement"] is None
        assert rep.get(f"/outcomes/{declined['outcome_id']}/proposal").status_code == 404
    with signed_in(served, "other_rep") as other:
        assert other.get(f"/outcomes/{outcome_id}/proposal").status_code == 404  # another territory's
