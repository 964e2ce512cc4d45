"""Publish a business date's call lists to ``DIR/published/<date>/``, atomically and reproducibly.

The files are those of the catalog (``serving.publication.catalog``): the three
lists, their talking points, one CRM file (``serving.publication.crm``) and one
printable page (``serving.publication.rep_pages``) per rep, and the manifest;
they are written through ``serving.publication.atomic``, so a reader sees the
previous complete version or the new one, never a half-written folder.

**Reproducible.** Rows are sorted, Parquet files carry no schema metadata (no
versions, no timestamps), CSV and HTML are rendered from sorted data, and
``manifest.json`` is written with sorted keys; a re-run for the same date and
inputs gives byte-identical files except ``created_at`` in the manifest.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.holdout import holdout_counts
from models.point_wording import KINDS
from serving.call_lists import FLIP, INBOUND, PROACTIVE, CallLists
from serving.publication.atomic import Build, Progress, new_version
from serving.publication.catalog import HOLDOUT_FILE, LIST_FILES, TALKING_POINTS_FILE
from serving.publication.crm import CSV_COLUMNS, rep_csvs
from serving.publication.rep_pages import ShownPoints, rep_page, shown_points
from sources.contract import PII_COLUMNS

_RESERVED = {"business_date", "rows", "unassigned", "reps", "files", "created_at"}
_LIST_ORDER = {INBOUND: 0, FLIP: 1, PROACTIVE: 2}


def publish(
    folder: Path,
    business_date: date,
    lists: CallLists,
    talking_points: pd.DataFrame,
    manifest_extra: dict[str, Any],
    *,
    top_points: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the day's lists, talking points, rep files and manifest to ``folder/<date>/`` atomically.

    Args:
        folder: The published folder (``DIR/published``); created if missing.
        business_date: The day the lists are for (must be ``lists.business_date``).
        lists: The call lists.
        talking_points: Long frame keyed by ``list_key`` (at least ``list_key`` and
            ``sentence``; usually also ``kind``, ``rank``, ``feature``, ``contribution``,
            ``direction``); other columns are kept. Rows whose ``list_key`` is on no
            list are left out. On the rep files, a point shows when its ``on_page`` is
            true, or, without that column, when it is ``actionable`` and not
            ``sensitive`` (as far as those columns exist).
        manifest_extra: Merged into the manifest: ``as_of``, ``models`` (name →
            name, version, alias), ``input_fingerprint``, and anything else JSON can hold.
        top_points: At most this many talking points per listed item on the rep files (default: all),
            in page order (``kind`` as in ``models.point_wording.KINDS``, then ``rank``).
        progress: Called after each step (see ``serving.publication.atomic.Progress``).

    Returns:
        ``folder/<date>`` (a link to the published version).

    Raises:
        ValueError: On a date that differs from the lists', a talking-points frame
            without ``list_key`` or ``sentence``, a reserved manifest key, a PII
            column, or two reps whose file names would collide.
    """
    if lists.business_date != business_date:
        raise ValueError(f"lists are for {lists.business_date}, not {business_date}")
    clash = sorted(_RESERVED & set(manifest_extra))
    if clash:
        raise ValueError(f"manifest_extra may not set {clash}")
    name = business_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    frames = {key: _sorted_list(frame) for key, frame in lists.frames().items()}
    points = _sorted_points(talking_points, frames)
    for label, frame in [*frames.items(), ("talking_points", points)]:
        leaked = sorted(PII_COLUMNS & set(frame.columns))
        if leaked:
            raise ValueError(f"{label} carries contact columns {leaked}")
    held = set(lists.holdout["account_id"].astype(str)) if "account_id" in lists.holdout else set()
    listed_held = sorted(held & set(frames["proactive"]["list_key"].astype(str)))
    if listed_held:
        raise ValueError(f"held-out accounts are on the proactive list: {listed_held[:10]}")
    with new_version(folder, name, progress) as build:
        _write_content(build, business_date, lists, frames, points, top_points)
        if "account_id" in lists.holdout:
            build.put(HOLDOUT_FILE, _parquet_bytes(lists.holdout.sort_values("account_id", ignore_index=True)))
        manifest = {
            "business_date": name,
            **manifest_extra,
            **({"holdout": holdout_counts(lists.holdout)} if "account_id" in lists.holdout else {}),
            "rows": {**{key: len(frame) for key, frame in frames.items()}, "talking_points": len(points)},
            "unassigned": lists.unassigned(),
            "reps": _rep_files(frames, lists.reps),
            "files": build.files,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
        build.put_manifest(text.encode())
    return folder / name


def _sorted_list(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["rep_id", "rank", "list_key"], kind="stable", ignore_index=True)


def _sorted_points(points: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if points.empty and "list_key" not in points:
        points = pd.DataFrame({"list_key": pd.Series(dtype=str), "sentence": pd.Series(dtype=str)})
    missing = [c for c in ("list_key", "sentence") if c not in points]
    if missing:
        raise ValueError(f"talking points lack columns {missing}")
    listed = set().union(*(set(f["list_key"].astype(str)) for f in frames.values()))
    keep = points[points["list_key"].astype(str).isin(listed)]
    keep = keep.assign(_kind=_kind_order(keep))
    order = [c for c in ("list_key", "_kind", "kind", "rank", "feature", "sentence") if c in keep]
    return keep.sort_values(order, kind="stable", ignore_index=True).drop(columns="_kind")


def _kind_order(points: pd.DataFrame) -> pd.Series:
    """Position of each point's kind on a page (``KINDS`` first, in order; other kinds after)."""
    if "kind" not in points:
        return pd.Series(0, index=points.index)
    return points["kind"].map({k: i for i, k in enumerate(KINDS)}).fillna(len(KINDS)).astype(int)


def _write_content(
    build: Build,
    business_date: date,
    lists: CallLists,
    frames: dict[str, pd.DataFrame],
    points: pd.DataFrame,
    top_points: int | None,
) -> None:
    """Every file but the manifest."""
    for key, frame in frames.items():
        build.put(LIST_FILES[key], _parquet_bytes(frame))
    build.put(TALKING_POINTS_FILE, _parquet_bytes(points))
    build.folder("reps")
    shown = shown_points(points, top_points)
    items = _rep_items(frames, shown)
    by_rep: dict[str, list[dict[str, Any]]] = {}
    for record in _records(items):
        by_rep.setdefault(str(record["rep_id"]), []).append(record)
    stems = sorted(_rep_files(frames, lists.reps).items())
    csvs = rep_csvs(items, [rep for rep, _ in stems], shown)
    for rep, stem in stems:
        build.put(f"reps/{stem}.csv", csvs[rep])
        build.put(f"reps/{stem}.html", rep_page(rep, business_date, by_rep.get(rep, []), shown))


def rep_file_stem(rep: str) -> str:
    """The stem of a rep's page and CSV: characters outside ``A-Za-z0-9._-`` become ``_`` (compared without case)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", rep).lstrip(".") or "_"


def _rep_files(frames: dict[str, pd.DataFrame], reps: tuple[str, ...]) -> dict[str, str]:
    """Rep id → file stem (``rep_file_stem``)."""
    every = sorted({str(r) for f in frames.values() for r in f["rep_id"]} | set(reps))
    stems = {rep: rep_file_stem(rep) for rep in every}
    seen: dict[str, str] = {}
    for rep, stem in stems.items():
        if stem.lower() in seen:
            raise ValueError(f"reps {seen[stem.lower()]!r} and {rep!r} would share the file name {stem!r}")
        seen[stem.lower()] = rep
    return stems


def _rep_items(frames: dict[str, pd.DataFrame], shown: ShownPoints) -> pd.DataFrame:
    """Every listed row, by rep then list (inbound, flips, proactive) then rank."""
    parts = [f for f in frames.values() if len(f)]
    if not parts:
        return pd.DataFrame(columns=[*CSV_COLUMNS, "batch"])
    items = pd.concat(parts, ignore_index=True)
    items["_order"] = items["list"].map(_LIST_ORDER)
    return items.sort_values(["rep_id", "_order", "rank"], kind="stable", ignore_index=True).drop(columns="_order")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts (column by column: far faster than ``DataFrame.to_dict`` row by row)."""
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet without schema metadata, so the bytes depend on the data only."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()
