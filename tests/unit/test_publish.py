"""Publication: the file set, manifest checksums, byte-identical re-runs, fault injection, escaping, no PII."""

from __future__ import annotations

import functools
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from serving.call_lists import CallLists, DeskRules, build_call_lists
from serving.publication.atomic import verify
from serving.publication.catalog import MANIFEST, PublishedCatalog, read_published
from serving.publication.publish import publish
from serving.roster import roster_from_frame
from sources.contract import PII_COLUMNS

DAY = date(2026, 10, 30)
ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
ROSTER = roster_from_frame(
    pd.DataFrame(
        [
            ("R011", "inside_sales", "North"),
            ("R012", "inside_sales", "North"),
            ("S010", "outside_specialist", "North"),
            ("R021", "inside_sales", "South"),
        ],
        columns=["rep_id", "rep_channel", "territory"],
    )
)
EXTRA = {
    "as_of": DAY.isoformat(),
    "models": {
        "churn": {"name": "savedesk-churn", "version": "3", "alias": "champion"},
        "save": {"name": "savedesk-save", "version": "2", "alias": "champion"},
    },
    "input_fingerprint": "ab" * 32,
}


@functools.cache
def day_lists(seed: int) -> tuple[CallLists, pd.DataFrame]:
    """Lists over North, South and East (no reps), with a hostile note, and their talking points."""
    rng = np.random.default_rng(seed)
    n, m = 24, 40
    inbound = pd.DataFrame(
        {
            "request_id": [f"CR{i:05d}" for i in range(n)],
            "account_id": [f"A{i:06d}" for i in range(n)],
            "territory": rng.choice(["North", "South", "East"], size=n),
            "segment": "commercial",
            "reason": "price",
            "request_date": pd.Timestamp(DAY),
            "churn_probability": rng.uniform(0.2, 0.9, size=n),
            "offer": rng.choice(["rollback_10", "service_recovery", "flip"], size=n),
            "p_save": rng.uniform(0.1, 0.8, size=n),
            "expected_net_value": rng.uniform(-20, 800, size=n),
            "fallback_offer": "contract_education",
            "reason_codes": "best_expected_value,bounded_by_rep_authority",
            "guardrail_note": "rollback capped at 10 %: your authority",
            "phone": "555-0100",
        }
    )
    inbound.loc[0, "guardrail_note"] = HOSTILE
    inbound.loc[1, "reason"] = '=HYPERLINK("http://evil")'
    proactive = pd.DataFrame(
        {
            "account_id": [f"A{500 + i:06d}" for i in range(m)],
            "territory": rng.choice(["North", "South", "East"], size=m),
            "segment": "residential",
            "churn_probability": rng.uniform(0.1, 0.5, size=m),
            "offer": "service_recovery",
            "p_save": rng.uniform(0.1, 0.8, size=m),
            "expected_net_value": rng.uniform(0, 300, size=m),
            "saveable_value": rng.uniform(0, 100, size=m),
            "reason_codes": "best_expected_value",
            "guardrail_note": "",
        }
    )
    lists = build_call_lists(inbound, proactive, ROSTER, DeskRules(proactive_per_rep=4), DAY)
    keys = pd.concat([lists.inbound["list_key"], lists.flips["list_key"], lists.proactive["list_key"]])
    points = pd.DataFrame(
        [
            {
                "list_key": key,
                "kind": kind,
                "rank": rank,
                "feature": feature,
                "contribution": contribution,
                "direction": "raises_risk" if contribution > 0 else "lowers_risk",
                "sentence": f"{feature} for {key}",
                "actionable": feature != "tenure_years",
                "sensitive": feature == "owner_age",
            }
            for key in keys
            # Given out of page order: the page puts risk drivers, protective, offer drivers, guardrail.
            for kind, rank, feature, contribution in [
                ("offer_driver", 1, "service_recovery_fit", 0.6),
                ("risk_driver", 2, "rate_increase_pct_90d", 0.5),
                ("protective", 1, "tenure_years", -0.3),
                ("risk_driver", 1, "missed_pickups_90d", 0.8),
                ("risk_driver", 3, "owner_age", 0.4),
            ]
        ]
    )
    points.loc[0, "sentence"] = HOSTILE
    unlisted = points.iloc[:1].assign(list_key="NOT-LISTED")
    return lists, pd.concat([points, unlisted], ignore_index=True)


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_publish_writes_the_file_set_with_a_verifiable_manifest(tmp_path: Path) -> None:
    lists, points = day_lists(1)
    target = publish(tmp_path, DAY, lists, points, EXTRA)
    assert target == tmp_path / "2026-10-30" and target.is_symlink()
    files = set(tree(target))
    reps = {"R011", "R012", "R021", "S010", "UNASSIGNED-East", "UNASSIGNED-South"}
    expected = {"inbound.parquet", "proactive.parquet", "flips.parquet", "talking_points.parquet", "manifest.json"}
    expected |= {f"reps/{r}.{ext}" for r in reps for ext in ("csv", "html")}
    assert files == expected
    assert verify(target) == []
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["business_date"] == "2026-10-30" and manifest["as_of"] == "2026-10-30"
    assert manifest["models"] == EXTRA["models"] and manifest["input_fingerprint"] == EXTRA["input_fingerprint"]
    assert manifest["rows"] == {**lists.counts(), "talking_points": len(points) - 1}
    assert manifest["unassigned"] == lists.unassigned()
    assert set(manifest["files"]) == files - {"manifest.json"}
    assert manifest["created_at"].endswith("+00:00")
    # The Parquet lists read back as published, sorted by rep and rank; unlisted talking points are left out.
    inbound = pd.read_parquet(target / "inbound.parquet")
    assert list(inbound["list_key"]) == list(lists.inbound["list_key"])
    assert "NOT-LISTED" not in set(pd.read_parquet(target / "talking_points.parquet")["list_key"])
    assert pq.read_schema(target / "inbound.parquet").metadata is None
    # Each rep's CSV has one row per listed item of theirs, with the shown talking points in a column per kind.
    r011 = pd.read_csv(target / "reps" / "R011.csv")
    mine = [f[f["rep_id"] == "R011"] for f in lists.frames().values()]
    assert len(r011) == sum(len(f) for f in mine)
    assert list(r011["list"].drop_duplicates()) == [x for x in ("inbound", "proactive") if x in set(r011["list"])]
    risks, offers = (r011[f"{kind}_points"].dropna().str.cat(sep=" | ") for kind in ("risk_driver", "offer_driver"))
    assert "missed_pickups_90d" in risks and "owner_age" not in risks and "service_recovery_fit" not in risks
    assert "service_recovery_fit" in offers and "missed_pickups_90d" not in offers
    assert "talking_points" not in r011 and r011["protective_points"].isna().all()  # tenure_years is not shown
    # Tampering is caught.
    (target / "reps" / "R011.csv").write_text("edited\n")
    assert verify(target) == ["reps/R011.csv: checksum differs"]


def test_no_pii_in_any_output(tmp_path: Path) -> None:
    lists, points = day_lists(2)
    target = publish(tmp_path, DAY, lists, points, EXTRA)
    for path in target.rglob("*"):
        if path.suffix == ".parquet":
            assert not set(pq.read_schema(path).names) & PII_COLUMNS, path
        elif path.suffix == ".csv":
            assert not set(pd.read_csv(path, nrows=0).columns) & PII_COLUMNS, path
        if path.is_file():
            assert "555-0100" not in path.read_text(errors="ignore"), path
    with pytest.raises(ValueError, match="contact columns"):
        publish(tmp_path, DAY, lists, points.assign(email="x@example.com"), EXTRA)


def test_rep_page_escapes_hostile_text_and_csv_has_no_formulas(tmp_path: Path) -> None:
    lists, points = day_lists(3)
    hostile_rep = str(lists.inbound.loc[lists.inbound["request_id"] == "CR00000", "rep_id"].iloc[0])
    target = publish(tmp_path, DAY, lists, points, EXTRA)
    page = (target / "reps" / f"{hostile_rep}.html").read_text()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "Content-Security-Policy" in page and "@media print" in page
    assert "Inbound queue" in page and "Proactive outreach" in page and "Flips" in page
    formula_rep = str(lists.frames()["inbound" if "CR00001" in set(lists.inbound["list_key"]) else "flips"]
                      .set_index("list_key").loc["CR00001", "rep_id"])  # fmt: skip
    text = (target / "reps" / f"{formula_rep}.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_rerun_for_the_same_date_gives_identical_bytes_except_created_at(tmp_path: Path) -> None:
    lists, points = day_lists(4)
    first = tree(publish(tmp_path, DAY, lists, points, EXTRA))
    shuffled = points.sample(frac=1, random_state=1)
    second = tree(publish(tmp_path, DAY, lists, shuffled, EXTRA))
    assert first.keys() == second.keys()
    assert {k for k in first if first[k] != second[k]} <= {"manifest.json"}
    one, two = (json.loads(t["manifest.json"]) for t in (first, second))
    one.pop("created_at"), two.pop("created_at")
    assert one == two
    # The replaced version is kept until the next publish; older ones are removed.
    publish(tmp_path, DAY, lists, points, EXTRA)
    assert len(list(tmp_path.glob(".2026-10-30.v-*"))) == 2


def test_publish_refuses_a_wrong_date_or_a_reserved_manifest_key(tmp_path: Path) -> None:
    lists, points = day_lists(5)
    with pytest.raises(ValueError, match="lists are for"):
        publish(tmp_path, date(2026, 10, 31), lists, points, EXTRA)
    with pytest.raises(ValueError, match="may not set"):
        publish(tmp_path, DAY, lists, points, {**EXTRA, "files": {}})
    assert not (tmp_path / "2026-10-30").exists()


@pytest.mark.parametrize("stop_at", ["file:flips.parquet", "file:reps/R012.html", "written", "renamed", "linked"])
def test_a_publish_failing_part_way_leaves_the_previous_version_intact(tmp_path: Path, stop_at: str) -> None:
    old_lists, old_points = day_lists(6)
    target = publish(tmp_path, DAY, old_lists, old_points, EXTRA)
    before = tree(target)
    new_lists, new_points = day_lists(7)

    def fail(step: str) -> None:
        if step == stop_at:
            raise OSError(f"disk gone at {step}")

    with pytest.raises(OSError, match="disk gone"):
        publish(tmp_path, DAY, new_lists, new_points, {**EXTRA, "input_fingerprint": "new"}, progress=fail)
    assert tree(target) == before and verify(target) == []
    assert not list(tmp_path.glob(".*.tmp-*"))  # a failure tidies its build folder (a kill cannot: next test)

    again = publish(tmp_path, DAY, new_lists, new_points, {**EXTRA, "input_fingerprint": "new"})
    assert verify(again) == [] and json.loads((again / "manifest.json").read_text())["input_fingerprint"] == "new"
    assert not list(tmp_path.glob(".*.link-*"))
    assert len(list(tmp_path.glob(".2026-10-30.v-*"))) == 2


KILLED_PUBLISH = """
import pickle, sys, time
from pathlib import Path
from serving.publication.publish import publish

folder, stop_at, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
args = pickle.loads(Path(sys.argv[4]).read_bytes())

def slow(step):
    if step == stop_at:
        marker.write_text(step)
        time.sleep(300)

publish(Path(folder), *args, progress=slow)
"""


def test_a_publish_killed_mid_way_leaves_the_previous_version_visible_and_the_rerun_completes(tmp_path: Path) -> None:
    published = tmp_path / "published"
    old_lists, old_points = day_lists(8)
    target = publish(published, DAY, old_lists, old_points, EXTRA)
    before = tree(target)
    new_lists, new_points = day_lists(9)
    new_extra = {**EXTRA, "input_fingerprint": "new"}
    args = tmp_path / "args.pickle"
    args.write_bytes(pickle.dumps((DAY, new_lists, new_points, new_extra)))
    marker = tmp_path / "reached"
    script = tmp_path / "killed_publish.py"
    script.write_text(KILLED_PUBLISH)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(published), "file:reps/R021.csv", str(marker), str(args)], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the publish never reached the step to kill it at"
        half = list(published.glob(".2026-10-30.tmp-*"))
        assert len(half) == 1 and (half[0] / "inbound.parquet").exists()  # it was part-way through
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # The previous version is what a reader sees, intact; nothing half-written is visible under the date.
    assert target.is_symlink() and tree(target) == before and verify(target) == []
    assert PublishedCatalog(published, tmp_path / "contexts").resolved(DAY).name.startswith(".2026-10-30.v-")
    assert sorted(p.name for p in published.iterdir() if not p.name.startswith(".")) == ["2026-10-30"]

    again = publish(published, DAY, new_lists, new_points, new_extra)
    assert verify(again) == [] and not list(published.glob(".*.tmp-*"))
    assert json.loads((again / "manifest.json").read_text())["input_fingerprint"] == "new"


def test_stale_leftovers_and_a_plain_folder_are_handled(tmp_path: Path) -> None:
    stale = tmp_path / ".2026-10-29.tmp-dead"
    stale.mkdir()
    (stale / "inbound.parquet").write_bytes(b"half")
    (tmp_path / ".2026-10-30.link-dead").symlink_to("nowhere")
    plain = tmp_path / "2026-10-30"
    plain.mkdir()
    (plain / "old.txt").write_text("written by hand")
    lists, points = day_lists(10)
    target = publish(tmp_path, DAY, lists, points, EXTRA)
    assert not stale.exists() and not (tmp_path / ".2026-10-30.link-dead").is_symlink()
    assert target.is_symlink() and verify(target) == []
    kept = [p for p in tmp_path.glob(".2026-10-30.v-legacy-*")]
    assert len(kept) == 1 and (kept[0] / "old.txt").read_text() == "written by hand"


def test_rep_files_show_talking_points_in_page_order_without_repeating_the_guardrail(tmp_path: Path) -> None:
    lists, points = day_lists(12)
    # As models.talking_points gives them: already the rep's page, no filtering columns, a guardrail point.
    page = points.drop(columns=["actionable", "sensitive"])
    page = page[page["feature"] != "owner_age"]
    guardrail = pd.DataFrame({"list_key": lists.inbound["list_key"], "kind": "guardrail", "rank": 1})
    guardrail["sentence"] = list(lists.inbound["guardrail_note"])
    target = publish(tmp_path, DAY, lists, pd.concat([guardrail, page], ignore_index=True), EXTRA)
    plain = (lists.inbound["guardrail_note"] != HOSTILE) & ~lists.inbound["list_key"].isin(points["list_key"].iloc[:1])
    key = str(lists.inbound.loc[plain, "list_key"].iloc[0])
    rep = str(lists.inbound.set_index("list_key").loc[key, "rep_id"])
    row = pd.read_csv(target / "reps" / f"{rep}.csv").set_index("list_key").loc[key]
    by_kind = {kind: row[f"{kind}_points"].split(" | ") for kind in ("risk_driver", "protective", "offer_driver")}
    assert by_kind == {
        "risk_driver": [f"missed_pickups_90d for {key}", f"rate_increase_pct_90d for {key}"],
        "protective": [f"tenure_years for {key}"],
        "offer_driver": [f"service_recovery_fit for {key}"],
    }
    assert row["guardrail_points"] == "rollback capped at 10 %: your authority"
    html = (target / "reps" / f"{rep}.html").read_text()
    assert html.count("rollback capped at 10 %: your authority") == len(lists.inbound[lists.inbound["rep_id"] == rep])
    assert ">Holds<" in html and ">Risk<" in html and ">Offer<" in html
    stored = pd.read_parquet(target / "talking_points.parquet")
    assert list(stored[stored["list_key"] == key]["kind"]) == [
        "risk_driver", "risk_driver", "protective", "offer_driver", "guardrail"
    ]  # fmt: skip
    limited = publish(tmp_path / "top2", DAY, lists, page, EXTRA, top_points=2)
    row = pd.read_csv(limited / "reps" / f"{rep}.csv").set_index("list_key").loc[key]
    assert (
        row[["risk_driver_points", "protective_points", "offer_driver_points", "guardrail_points"]].notna().sum() == 1
    )
    assert row["risk_driver_points"].count(" | ") == 1


def test_publishing_loads_no_model_library() -> None:
    code = "import sys, serving.publication.publish; print(*(m for m in sys.modules if 'lightgbm' in m))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_catalog_finds_the_published_day_and_reads_it_back(tmp_path: Path) -> None:
    catalog = PublishedCatalog(tmp_path / "published", tmp_path / "features" / "nightly")
    assert catalog.latest() is None and not catalog.is_published(DAY)
    with pytest.raises(FileNotFoundError, match="nothing published"):
        catalog.resolved(DAY)
    lists, points = day_lists(13)
    target = publish(catalog.folder, DAY, lists, points, EXTRA)
    (catalog.folder / "not-a-date").mkdir()
    assert target == catalog.link(DAY) and catalog.latest() == DAY and catalog.is_published(DAY)
    assert catalog.version(DAY) == catalog.resolved(DAY).name == os.readlink(target)
    assert catalog.manifest(DAY)["business_date"] == DAY.isoformat()
    assert catalog.context(DAY) == tmp_path / "features" / "nightly" / "as_of=2026-10-30.parquet"
    read, said = read_published(catalog.resolved(DAY), DAY)
    assert read.business_date == DAY and read.counts() == lists.counts()
    assert set(said["list_key"]) <= set(pd.concat([f["list_key"] for f in read.frames().values()]))


def test_progress_reports_every_step(tmp_path: Path) -> None:
    lists, points = day_lists(11)
    steps: list[str] = []
    publish(tmp_path, DAY, lists, points, EXTRA, progress=steps.append)
    assert steps[-4:] == ["written", "renamed", "linked", "swapped"]
    assert steps[0] == "file:inbound.parquet" and "file:reps/S010.html" in steps
    assert MANIFEST == "manifest.json"
