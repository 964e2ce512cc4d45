"""The randomized holdout of proactive outreach: stable per period, about its share, never listed, always recorded."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.holdout import HOLDOUT_COLUMNS, HoldoutRules, held_out, holdout_counts, period_of, risk_band
from serving.call_lists import DeskRules, build_call_lists
from serving.intraday import add_intraday
from serving.publication.catalog import HOLDOUT_FILE, read_published
from serving.publication.publish import publish
from serving.roster import Roster

DAY = date(2026, 11, 2)


def proactive_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "account_id": [f"A{i:07d}" for i in range(n)],
        "territory": rng.choice(["Austin", "Houston", "Toronto"], n),
        "segment": "commercial",
        "churn_probability": rng.uniform(0, 0.4, n),
        "offer": "contract_education", "p_save": 0.3, "expected_net_value": 10.0,
        "saveable_value": rng.uniform(0, 100, n), "reason_codes": "", "guardrail_note": "",
    })  # fmt: skip


def no_requests() -> pd.DataFrame:
    return pd.DataFrame(columns=["request_id", "account_id", "territory", "segment", "reason", "request_date",
                                 "churn_probability", "offer", "p_save", "expected_net_value", "fallback_offer",
                                 "reason_codes", "guardrail_note"])  # fmt: skip


def test_the_draw_is_stable_within_a_period_and_fresh_across_periods() -> None:
    accounts = pd.Series([f"A{i:07d}" for i in range(20_000)])
    rules = HoldoutRules(share=0.1, period="quarter", seed=3)
    october, december, january = (held_out(accounts, d, rules) for d in
                                  (date(2026, 10, 1), date(2026, 12, 31), date(2027, 1, 1)))  # fmt: skip
    assert period_of(date(2026, 10, 1), "quarter") == period_of(date(2026, 12, 31), "quarter") == "2026Q4"
    assert (october == december).all()
    assert 0 < (october & january).sum() < 0.2 * october.sum()  # a new quarter draws afresh
    assert abs(october.mean() - 0.1) < 0.01
    assert not held_out(accounts, DAY, HoldoutRules(share=0.0)).any()


def test_every_risk_band_and_territory_holds_about_the_share() -> None:
    frame = proactive_frame(30_000, seed=1)
    held = held_out(frame["account_id"], DAY, HoldoutRules(share=0.1))
    strata = frame.assign(held=held, band=risk_band(frame["churn_probability"])).groupby(["band", "territory"])
    shares = strata["held"].mean()
    assert len(shares) == 9 and (shares.sub(0.1).abs() < 0.025).all()


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_held_out_accounts_are_never_listed_and_are_recorded(share: float) -> None:
    frame = proactive_frame(3_000, seed=2)
    rules = DeskRules(proactive_per_rep=50, holdout=HoldoutRules(share=share))
    lists = build_call_lists(no_requests(), frame, Roster(), rules, DAY)
    held = set(frame.loc[held_out(frame["account_id"], DAY, rules.holdout), "account_id"])  # type: ignore[arg-type]
    assert held and set(lists.holdout["account_id"]) == held
    assert not held & set(lists.proactive["account_id"])
    assert list(lists.holdout.columns) == HOLDOUT_COLUMNS
    # would_list: a held-out account worth at least its territory's lowest listed value would have been called
    lowest = lists.proactive.groupby("territory")["saveable_value"].min()
    expected = lists.holdout["saveable_value"] >= lists.holdout["territory"].map(lowest)
    assert (lists.holdout["would_list"] == expected).all()
    counts = holdout_counts(lists.holdout)
    assert counts["accounts"] == len(held) and sum(counts["by_territory"].values()) == len(held)  # type: ignore[union-attr]


def test_the_holdout_is_published_kept_by_intraday_and_refused_on_a_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = proactive_frame(600, seed=3)
    rules = DeskRules(proactive_per_rep=20, holdout=HoldoutRules(share=0.2))
    lists = build_call_lists(no_requests(), frame, Roster(), rules, DAY)
    folder = publish(tmp_path, DAY, lists, pd.DataFrame(), {})
    back, _ = read_published(folder, DAY)
    pd.testing.assert_frame_equal(back.holdout, lists.holdout, check_dtype=False)
    later = add_intraday(back, no_requests(), Roster(), rules)
    assert later.holdout is back.holdout
    assert (folder / HOLDOUT_FILE).is_file()
    pages = " ".join(p.read_text() for p in (folder / "reps").iterdir())
    assert not any(account in pages for account in lists.holdout["account_id"])
    sneaked = lists.proactive.iloc[:1].assign(account_id=lists.holdout["account_id"].iloc[0])
    sneaked = sneaked.assign(list_key=sneaked["account_id"])
    bad = type(lists)(DAY, lists.inbound, pd.concat([lists.proactive, sneaked]), lists.flips, lists.reps, lists.holdout)
    with pytest.raises(ValueError, match="held-out accounts"):
        publish(tmp_path / "other", DAY, bad, pd.DataFrame(), {})


def test_without_a_holdout_nothing_is_held_and_no_file_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lists = build_call_lists(no_requests(), proactive_frame(100), Roster(), DeskRules(), DAY)
    assert lists.holdout.empty and "account_id" not in lists.holdout
    folder = publish(tmp_path, DAY, lists, pd.DataFrame(), {})
    assert not (folder / HOLDOUT_FILE).exists()
