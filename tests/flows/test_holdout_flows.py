"""Issue 18, acceptance 4: a held-out account never appears on a proactive list or a rep's page in its period.

Two nights of the same quarter and an intraday run on a trained small hauler with a large holdout (30 %, so
the small book holds enough of it): each publication records its holdout (file and manifest counts), the
same accounts are held out both nights, and none of them is on the proactive list, a rep's CSV or page.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from pipelines.flows import configured, intraday, nightly
from pipelines.settings import load_settings
from serving.publication.catalog import HOLDOUT_FILE


def check_publication(folder: Path) -> set[str]:
    """The held-out accounts of a publication, after checking none is listed for a proactive call."""
    holdout = pd.read_parquet(folder / HOLDOUT_FILE)
    held = set(holdout["account_id"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["holdout"]["accounts"] == len(held) > 0
    proactive = pd.read_parquet(folder / "proactive.parquet")
    assert not held & set(proactive["account_id"])
    requests = pd.concat([pd.read_parquet(folder / f"{name}.parquet") for name in ("inbound", "flips")])
    answered = set(requests["account_id"])  # an account's own request is always answered
    for path in (folder / "reps").iterdir():
        text = path.read_text()
        assert not any(account in text for account in held - answered), path.name
        if path.suffix == ".csv":
            rows = pd.read_csv(path, dtype=str)
            if "list" in rows and "account_id" in rows:
                assert not held & set(rows.loc[rows["list"] == "proactive", "account_id"])
    return held


def test_held_out_accounts_stay_off_every_list_over_nights_and_intraday(trained: Path, tmp_path: Path) -> None:
    data = tmp_path / "holdout"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect"))
    raw = data / "raw" / "cancellation_requests.parquet"
    full = pd.read_parquet(raw)
    day = full["request_date"].max()
    late = full[(full["request_date"] == day) & full["resolved_date"].isna()]
    full.drop(index=late.index).to_parquet(raw, index=False)
    toml = data / "savedesk.toml"
    toml.write_text(toml.read_text() + "\n[outreach]\nholdout_share = 0.3\n")
    settings = load_settings(data)
    assert settings.outreach.holdout_share == 0.3
    first = configured(nightly, settings)(
        str(data), as_of=(pd.Timestamp(day) - pd.Timedelta(days=1)).date().isoformat()
    )
    second = configured(nightly, settings)(str(data))
    held_first = check_publication(Path(str(first["published"])))
    held_second = check_publication(Path(str(second["published"])))
    both = held_first & held_second
    assert both, "the same quarter holds the same accounts out"
    full.to_parquet(raw, index=False)
    configured(intraday, settings)(str(data))
    assert check_publication(Path(str(second["published"]))) == held_second
