"""Publish a business date's call lists to ``DIR/published/<date>/``, atomically and reproducibly.

Layout of a published date (``<date>`` is ISO, e.g. ``2026-10-31``)::

    <date>/inbound.parquet         the inbound queue       (serving.call_lists.CallLists.inbound)
    <date>/proactive.parquet       proactive outreach
    <date>/flips.parquet           the flip list
    <date>/talking_points.parquet  talking points of the listed rows, keyed by list_key
    <date>/reps/<rep>.csv          one CSV per rep, ready for CRM import
    <date>/reps/<rep>.html         one printable page per rep
    <date>/manifest.json           business date, as-of, models, input fingerprint, row counts,
                                   sha256 of every other file, created_at (UTC)

**Atomicity (symlink swap).** ``<date>`` is a symbolic link to a complete,
hidden version folder ``.<date>.v-<token>`` beside it:

1. the files are written into ``.<date>.tmp-<token>`` and each file and folder is fsynced;
2. the finished folder is renamed to ``.<date>.v-<token>`` (a ``.v-`` folder is always complete);
3. a new link ``.<date>.link-<token>`` → ``.<date>.v-<token>`` is made and renamed over
   ``<date>`` with ``os.replace``, which swaps the link in one step;
4. version folders of that date other than the new one and the one it replaced are deleted.

A reader therefore sees either the previous complete version or the new one,
never a half-written folder; a publish killed at any point leaves ``<date>``
pointing at the previous version, intact. Leftovers of killed runs (``.tmp-``
folders, ``.link-`` links, a ``.v-`` folder never linked) are removed by the next
publish into the same folder. One publish runs at a time per folder (an
``flock`` on ``.publish.lock``). The replaced version is kept until the next
publish of that date, so a reader that resolved the link once
(``published_dir``) keeps a consistent view while a re-run swaps the link.
A ``<date>`` that is a real folder (not written by this module) is renamed
aside just before the swap: only in that case is there an instant without
``<date>``.

**Reproducible.** Rows are sorted, Parquet files carry no schema metadata (no
versions, no timestamps), CSV and HTML are rendered from sorted data, and
``manifest.json`` is written with sorted keys; a re-run for the same date and
inputs gives byte-identical files except ``created_at`` in the manifest.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.policy import REASON_CODES
from serving.call_lists import FLIP, INBOUND, PII_COLUMNS, PROACTIVE, CallLists

MANIFEST = "manifest.json"
LOCK = ".publish.lock"
LIST_FILES = {"inbound": "inbound.parquet", "proactive": "proactive.parquet", "flips": "flips.parquet"}
TALKING_POINTS_FILE = "talking_points.parquet"

CSV_COLUMNS = [
    "rep_id",
    "due_date",
    "list",
    "rank",
    "list_key",
    "request_id",
    "account_id",
    "territory",
    "segment",
    "reason",
    "churn_probability",
    "offer",
    "p_save",
    "expected_net_value",
    "saveable_value",
    "fallback_offer",
    "reason_codes",
    "guardrail_note",
    "talking_points",
]
"""Columns of a rep's CRM import file, in order (a column the lists lack is left empty)."""

KINDS = ("risk_driver", "protective", "offer_driver", "guardrail")
"""Talking-point kinds in page order (``models.talking_points.KINDS``, spelled out so that publishing does not import
LightGBM; a test keeps the two in step)."""
_KIND_LABELS = dict(zip(KINDS, ("Risk", "Holds", "Offer", "Limit"), strict=True))
_RESERVED = {"business_date", "rows", "unassigned", "reps", "files", "created_at"}
_LIST_ORDER = {INBOUND: 0, FLIP: 1, PROACTIVE: 2}
_PROBABILITIES = ("churn_probability", "p_save")
_MONEY = ("expected_net_value", "saveable_value")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[str], None]
"""Called with the name of each step as it completes (``file:<path>``, ``written``, ``renamed``, ``linked``,
``swapped``): for progress reports, and for fault-injection tests that stop a publish part-way."""


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
            in page order (``kind`` as in ``models.talking_points.KINDS``, then ``rank``).
        progress: Called after each step (see ``Progress``).

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
    step = progress or (lambda _: None)
    name = business_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    frames = {key: _sorted_list(frame) for key, frame in lists.frames().items()}
    points = _sorted_points(talking_points, frames)
    for label, frame in [*frames.items(), ("talking_points", points)]:
        leaked = sorted(PII_COLUMNS & set(frame.columns))
        if leaked:
            raise ValueError(f"{label} carries contact columns {leaked}")
    with _locked(folder):
        _remove_leftovers(folder)
        build = folder / f".{name}.tmp-{secrets.token_hex(6)}"
        build.mkdir(mode=0o755)
        try:
            files = _write_content(build, business_date, lists, frames, points, top_points, step)
            manifest = {
                "business_date": name,
                **manifest_extra,
                "rows": {**{key: len(frame) for key, frame in frames.items()}, "talking_points": len(points)},
                "unassigned": lists.unassigned(),
                "reps": _rep_files(frames, lists.reps),
                "files": files,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            text = json.dumps(manifest, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
            _write_bytes(build / MANIFEST, text.encode())
            _fsync_dir(build / "reps")
            _fsync_dir(build)
            step("written")
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        version = folder / f".{name}.v-{build.name.rsplit('-', 1)[1]}"
        os.rename(build, version)
        _fsync_dir(folder)
        step("renamed")
        link = folder / f".{name}.link-{version.name.rsplit('-', 1)[1]}"
        os.symlink(version.name, link)
        step("linked")
        target = folder / name
        previous = _swap(link, target)
        _fsync_dir(folder)
        step("swapped")
        keep = {version.name, Path(previous).name}
        for old in folder.glob(f".{name}.v-*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
    return target


def published_dir(folder: Path, business_date: date) -> Path:
    """The version folder ``folder/<date>`` points at now: resolve once, then read every file from it.

    Raises:
        FileNotFoundError: When nothing is published for the date.
    """
    target = folder / business_date.isoformat()
    if not target.exists():
        raise FileNotFoundError(f"nothing published for {business_date} in {folder}")
    return target.resolve()


def verify(path: Path) -> list[str]:
    """Check a published folder against its manifest: the problems found, empty when intact."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        return [f"{MANIFEST}: {error}"]
    problems = []
    files: dict[str, str] = manifest.get("files", {})
    for rel, digest in sorted(files.items()):
        file = path / rel
        if not file.is_file():
            problems.append(f"{rel}: missing")
        elif _sha256(file.read_bytes()) != digest:
            problems.append(f"{rel}: checksum differs")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    problems += [f"{rel}: not in the manifest" for rel in sorted(present - set(files))]
    return problems


# --- content -----------------------------------------------------------------------------------------------------


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
    build: Path,
    business_date: date,
    lists: CallLists,
    frames: dict[str, pd.DataFrame],
    points: pd.DataFrame,
    top_points: int | None,
    step: Progress,
) -> dict[str, str]:
    """Every file but the manifest; returns relative path → sha256."""
    files: dict[str, str] = {}
    written: list[Path] = []

    def put(rel: str, data: bytes) -> None:
        path = build / rel
        path.parent.mkdir(mode=0o755, exist_ok=True)
        _write_bytes(path, data, sync=False)
        written.append(path)
        files[rel] = _sha256(data)
        step(f"file:{rel}")

    for key, frame in frames.items():
        put(LIST_FILES[key], _parquet_bytes(frame))
    put(TALKING_POINTS_FILE, _parquet_bytes(points))
    (build / "reps").mkdir(mode=0o755)
    shown = _points_text(points, top_points)
    items = _rep_items(frames, shown)
    by_rep: dict[str, list[dict[str, Any]]] = {}
    for record in _records(items):
        by_rep.setdefault(str(record["rep_id"]), []).append(record)
    crm = _csv_frame(items)
    csv_by_rep = {str(rep): part for rep, part in crm.groupby(items["rep_id"].astype(str), sort=True)}
    for rep, stem in sorted(_rep_files(frames, lists.reps).items()):
        mine = by_rep.get(rep, [])
        csv = csv_by_rep.get(rep, crm.iloc[:0]).to_csv(index=False, lineterminator="\n")
        put(f"reps/{stem}.csv", csv.encode("utf-8"))
        put(f"reps/{stem}.html", _html_bytes(rep, business_date, mine, shown))
    # fsync once everything is written, several at a time: the file system commits them together.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_fsync_file, written))
    return files


def _rep_files(frames: dict[str, pd.DataFrame], reps: tuple[str, ...]) -> dict[str, str]:
    """Rep id → file stem (characters outside ``A-Za-z0-9._-`` become ``_``)."""
    every = sorted({str(r) for f in frames.values() for r in f["rep_id"]} | set(reps))
    stems = {rep: re.sub(r"[^A-Za-z0-9._-]", "_", rep).lstrip(".") or "_" for rep in every}
    seen: dict[str, str] = {}
    for rep, stem in stems.items():
        if stem.lower() in seen:
            raise ValueError(f"reps {seen[stem.lower()]!r} and {rep!r} would share the file name {stem!r}")
        seen[stem.lower()] = rep
    return stems


def _on_page(points: pd.DataFrame) -> pd.Series:
    if "on_page" in points:
        return points["on_page"].fillna(False).astype(bool)
    show = pd.Series(True, index=points.index)
    if "actionable" in points:
        show &= points["actionable"].fillna(False).astype(bool)
    if "sensitive" in points:
        show &= ~points["sensitive"].fillna(True).astype(bool)
    return show


def _points_text(points: pd.DataFrame, top: int | None) -> dict[str, list[dict[str, str]]]:
    """list_key → the talking points that may go on a rep's page, in page order (at most ``top`` when given)."""
    page = points[_on_page(points)]  # already in page order: key, kind, rank
    if top is not None:
        page = page[page.groupby("list_key", sort=False).cumcount() < top]

    def column(name: str) -> list[str]:
        return [_text(x) for x in page[name].tolist()] if name in page else [""] * len(page)

    out: dict[str, list[dict[str, str]]] = {}
    for key, sentence, direction, kind in zip(
        column("list_key"), column("sentence"), column("direction"), column("kind"), strict=True
    ):
        label = _KIND_LABELS.get(kind) or direction.replace("_", " ")
        css = "good" if direction in ("lowers_risk", "raises_save") else "bad" if direction else ""
        out.setdefault(key, []).append({"sentence": sentence, "label": label, "css": css})
    return out


def _rep_items(frames: dict[str, pd.DataFrame], shown: dict[str, list[dict[str, str]]]) -> pd.DataFrame:
    """Every listed row, by rep then list (inbound, flips, proactive) then rank, with its talking points as text."""
    parts = [f for f in frames.values() if len(f)]
    if not parts:
        return pd.DataFrame(columns=[*CSV_COLUMNS, "batch"])
    items = pd.concat(parts, ignore_index=True)
    items["_order"] = items["list"].map(_LIST_ORDER)
    items = items.sort_values(["rep_id", "_order", "rank"], kind="stable", ignore_index=True).drop(columns="_order")
    keys = items["list_key"].astype(str).tolist()
    items["talking_points"] = [" | ".join(p["sentence"] for p in shown.get(k, [])) for k in keys]
    return items


def _csv_frame(items: pd.DataFrame) -> pd.DataFrame:
    """The CRM columns of every listed row: probabilities to 4 places, money to cents, text safe for spreadsheets."""
    out = items.reindex(columns=CSV_COLUMNS)
    for column in _PROBABILITIES:
        out[column] = pd.to_numeric(out[column], errors="coerce").round(4)
    for column in _MONEY:
        out[column] = pd.to_numeric(out[column], errors="coerce").round(2)
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_cell)
    return out


def _cell(value: Any) -> Any:
    """A text cell safe to open in a spreadsheet: a leading ``= + - @`` is quoted with ``'`` (no formulas)."""
    if not isinstance(value, str):
        return value
    return "'" + value if value.startswith(_FORMULA_START) else value


_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Call list {{ rep }} · {{ day }}</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 1.5rem auto;
         max-width: 1200px; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
  .sub { color: #555; margin: 0 0 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border-bottom: 1px solid #ccc; padding: .35rem .45rem; text-align: left; vertical-align: top; }
  th { background: #f2f2f2; font-weight: 600; }
  td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  ul { margin: 0; padding-left: 1.1rem; } li { margin: 0 0 .15rem; }
  .bad { color: #9a1b1b; } .good { color: #1b6a2f; } .label { font-size: .85em; font-weight: 600; }
  .note { background: #fff6d6; padding: .1rem .3rem; } .new { font-weight: 600; color: #0a4f9e; }
  .why { color: #555; font-size: .9em; } .empty { color: #777; font-style: italic; }
  @media print {
    @page { size: letter landscape; margin: 12mm; }
    body { margin: 0; max-width: none; font-size: 10pt; }
    thead { display: table-header-group; } tr { break-inside: avoid; page-break-inside: avoid; }
    section { break-before: auto; } th { background: none; border-bottom: 2px solid #000; }
  }
</style>
</head>
<body>
<h1>Call list — {{ rep }}</h1>
<p class="sub">Business date {{ day }}{% if territory %} · {{ territory }}{% endif %} ·
{% for s in sections %}{{ s.count }} {{ s.short }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
{% for s in sections %}
<section>
<h2>{{ s.title }} ({{ s.count }})</h2>
{% if s.rows %}
<table>
<thead><tr><th>#</th>{% if s.key_label != "Account" %}<th>{{ s.key_label }}</th>{% endif %}
<th>Account</th><th>Segment</th>
{% if s.reason %}<th>Reason</th>{% endif %}
<th>Risk</th><th>Offer</th><th>P(save)</th><th>{{ s.value_label }}</th><th>Talking points</th></tr></thead>
<tbody>
{% for r in s.rows %}
<tr>
<td class="num">{{ r.rank }}{% if r.new %} <span class="new">new</span>{% endif %}</td>
{% if s.key_label != "Account" %}<td>{{ r.key }}</td>{% endif %}
<td>{{ r.account }}</td><td>{{ r.segment }}</td>{% if s.reason %}<td>{{ r.reason }}</td>{% endif %}
<td class="num">{{ r.risk }}</td>
<td><strong>{{ r.offer }}</strong>{% if r.fallback %}<br><span class="why">fallback: {{ r.fallback }}</span>{% endif %}
{% if r.why %}<br><span class="why">{{ r.why }}</span>{% endif %}
{% if r.guardrail %}<br><span class="note">{{ r.guardrail }}</span>{% endif %}</td>
<td class="num">{{ r.p_save }}</td><td class="num">{{ r.value }}</td>
<td>{% if r.points %}<ul>{% for p in r.points %}<li><span class="label {{ p.css }}">{{ p.label }}</span>
{{ p.sentence }}</li>{% endfor %}</ul>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p class="empty">Nothing on this list today.</p>
{% endif %}
</section>
{% endfor %}
</body>
</html>
"""
)

_SECTIONS = (
    (INBOUND, "Inbound queue — cancellation requests, due today", "inbound", "Request", "Expected value"),
    (FLIP, "Flips — specialist visits, due today", "flips", "Request", "Expected value"),
    (PROACTIVE, "Proactive outreach", "proactive", "Account", "Saveable value"),
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts (column by column: far faster than ``DataFrame.to_dict`` row by row)."""
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _html_bytes(rep: str, day: date, items: list[dict[str, Any]], shown: dict[str, list[dict[str, str]]]) -> bytes:
    sections = []
    for name, title, short, key_label, value_label in _SECTIONS:
        rows = [_html_row(r, name, shown) for r in items if r.get("list") == name]
        sections.append(
            {
                "title": title,
                "short": short,
                "count": len(rows),
                "key_label": key_label,
                "value_label": value_label,
                "reason": name != PROACTIVE,
                "rows": rows,
            }
        )
    territories = sorted({_text(r.get("territory")) for r in items})
    page = _PAGE.render(rep=rep, day=day.isoformat(), territory=", ".join(territories), sections=sections)
    return page.encode("utf-8")


def _html_row(row: dict[str, Any], name: str, shown: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    value = row.get("saveable_value") if name == PROACTIVE else row.get("expected_net_value")
    codes = [c for c in _text(row.get("reason_codes")).split(",") if c]
    return {
        "rank": _text(row.get("rank")),
        "new": _text(row.get("batch")) == "intraday",
        "key": _text(row.get("list_key")),
        "account": _text(row.get("account_id")),
        "segment": _text(row.get("segment")),
        "reason": _text(row.get("reason")).replace("_", " "),
        "risk": _percent(row.get("churn_probability")),
        "offer": _text(row.get("offer")).replace("_", " "),
        "fallback": _text(row.get("fallback_offer")).replace("_", " "),
        "why": "; ".join(REASON_CODES.get(c, c) for c in codes),
        "guardrail": _text(row.get("guardrail_note")),
        "p_save": _percent(row.get("p_save")),
        "value": _dollars(value),
        "points": [  # the guardrail's note is shown with the offer already
            p for p in shown.get(_text(row.get("list_key")), []) if p["sentence"] != _text(row.get("guardrail_note"))
        ],
    }


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _percent(value: Any) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return "" if pd.isna(number) else f"{100 * float(number):.0f} %"


def _dollars(value: Any) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return "" if pd.isna(number) else f"${float(number):,.0f}".replace("$-", "−$")


# --- files ---------------------------------------------------------------------------------------------------------


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet without schema metadata, so the bytes depend on the data only."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One publish at a time per folder; the lock goes with the process, so a killed publish never holds it."""
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(folder: Path) -> None:
    """Build folders and links left by killed publishes (any date); called under the lock."""
    for path in folder.glob(".*.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in folder.glob(".*.link-*"):
        if path.is_symlink():
            path.unlink()


def _swap(link: Path, target: Path) -> str:
    """Rename ``link`` over ``target`` in one step; returns the name of the version it pointed at (or "")."""
    previous = ""
    if target.is_symlink():
        previous = os.readlink(target)
    elif target.exists():
        if not target.is_dir():
            raise FileExistsError(f"{target} exists and is not a published folder")
        previous = f".{target.name}.v-legacy-{secrets.token_hex(6)}"
        os.rename(target, target.parent / previous)  # the one case with an instant without <date>
    os.replace(link, target)
    return previous
