"""Writing feature frames and training snapshots to disk, atomically."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from features.labels import DEFAULT_LABELS, LabelSpec, LabelWindowError
from features.snapshots import month_ends, snapshot
from pipelines.workspace import Workspace, WorkspaceError


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file beside its destination, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.write_parquet(partial, compression="zstd", statistics=True)
    os.replace(partial, path)


def snapshot_dates(workspace: Workspace, start: date, end: date, spec: LabelSpec) -> list[date]:
    """Month-end as-of dates in ``[start, end]``, each checked to have a complete label window.

    Raises:
        WorkspaceError: A date lies outside the data or its label window runs past it.
    """
    dates = month_ends(start, end)
    if not dates:
        raise WorkspaceError(f"No month ends between {start} and {end}: widen the range.")
    workspace.check_as_of(dates[0])
    last = spec.last_labelled_as_of(workspace.end)
    if dates[-1] > last:
        raise WorkspaceError(
            f"The label window of {dates[-1]} runs past the end of the data ({workspace.end});"
            f" the latest as-of date with a complete label is {last}: use --end {last} or earlier."
        )
    return dates


def write_snapshots(
    workspace: Workspace,
    dates: list[date],
    out: Path,
    spec: LabelSpec = DEFAULT_LABELS,
    progress: Callable[[date], None] | None = None,
) -> dict[date, int]:
    """Write one snapshot per as-of date to ``out/as_of=YYYY-MM-DD/part-0.parquet``.

    Returns:
        Rows written per as-of date.
    """
    rows = {}
    for as_of in dates:
        try:
            frame = snapshot(workspace.tables, as_of, workspace.end, spec)
        except LabelWindowError as error:
            raise WorkspaceError(str(error)) from error
        partition = out / f"as_of={as_of.isoformat()}"
        write_parquet_atomically(frame.drop("as_of"), partition / "part-0.parquet")
        rows[as_of] = frame.height
        if progress is not None:
            progress(as_of)
    return rows
