"""The deal in the API: the plan's body and the published lists carry the recommendation's terms, true to the data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from published_workspace import published_workspace
from served_app import Served, serve

from models.deal import DEAL_COLUMNS
from models.mandates import DEFAULT_MANDATES

pytestmark = pytest.mark.slow

SAMPLE = 60


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    workspace = published_workspace(tmp_path_factory, worker_id)
    with serve(workspace, f"sqlite:///{tmp_path_factory.mktemp('deal-store') / 'outcomes.db'}") as served:
        yield served


def context_of(served: Served) -> pd.DataFrame:
    return served.app.state.desk.planner.night().context


def test_every_plan_carries_its_recommendations_deal_true_to_the_accounts_data(served: Served) -> None:
    context = context_of(served)
    mandated = {(m.state, m.segment) for m in DEFAULT_MANDATES if m.city == "*"}
    accounts = context.sort_values("account_id").iloc[:: max(1, len(context) // SAMPLE)]
    assert len(accounts) >= SAMPLE // 2
    seen_mandate = False
    for account in accounts.itertuples():
        response = served.client.get(f"/api/v1/accounts/{account.account_id}/plan", headers=served.headers("manager"))
        assert response.status_code == 200, response.text
        body = response.json()
        deal = body["deal"]
        assert deal["offer"] == body["recommendation"]["offer"]
        assert deal["current_monthly_rate"] == pytest.approx(account.monthly_revenue)
        recommended = next(o for o in body["offers"] if o["choice"] == "recommended")
        assert recommended["terms"] == {k: deal[k] for k in recommended["terms"]}
        if deal["offer"] == "flip":
            assert deal["approval"] == "flip" and deal["proposed_monthly_rate"] is None
            assert deal["monthly_change"] is None
        else:
            assert deal["proposed_monthly_rate"] == pytest.approx(recommended["new_monthly_rate"])
            assert deal["monthly_change"] == pytest.approx(deal["proposed_monthly_rate"] - deal["current_monthly_rate"])
            assert deal["approval"] == ""  # a recommendation is always within the guardrails
            if deal["monthly_change"] < 0:  # a concession never goes below the floor
                assert deal["proposed_monthly_rate"] >= deal["floor_monthly_rate"] * (1 - 1e-9)
        assert deal["authority_monthly"] == pytest.approx(account.monthly_revenue * deal["authority_pct"] / 100)
        days = account.days_to_contract_end
        if np.isnan(days):
            assert deal["agreement_end"] is None
        else:
            as_of = pd.Timestamp(account.as_of).date()
            assert deal["agreement_end"] == str(as_of + timedelta(days=int(days)))
        assert deal["agreement_month_to_month"] == bool(account.month_to_month)
        assert deal["current_service"]["yards"] == pytest.approx(account.biggest_yards)
        assert deal["current_service"]["pickups_per_week"] == pytest.approx(account.biggest_pickups)
        assert (account.state, account.segment) not in mandated or deal["compliance_notes"]
        seen_mandate |= bool(deal["compliance_notes"])
        assert deal["compliance_notes"] is not None
    assert seen_mandate, "the sample should hold an account of a mandated jurisdiction"


def test_a_listed_row_carries_the_same_deal_as_its_live_plan(served: Served) -> None:
    lists = served.client.get(f"/api/v1/lists/{served.day}", headers=served.headers("manager")).json()
    rows = [r for name in ("inbound", "proactive", "flips") for r in lists[name]][:20]
    assert rows
    for row in rows:
        assert set(DEAL_COLUMNS) <= set(row)
        plan = served.client.get(f"/api/v1/accounts/{row['account_id']}/plan", headers=served.headers("manager"))
        deal = plan.json()["deal"]
        assert row["offer"] == deal["offer"]
        for field in ("current_monthly_rate", "proposed_monthly_rate", "monthly_change", "floor_monthly_rate"):
            assert row[field] == pytest.approx(deal[field]), field
        assert (row["approval"] or "") == deal["approval"]
        assert row["agreement_end"] == deal["agreement_end"]
        assert row["compliance_notes"] == deal["compliance_notes"]
