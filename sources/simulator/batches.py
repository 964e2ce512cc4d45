"""A book larger than one process holds, simulated in batches of accounts and written table by table.

``simulate_hauler`` holds the whole book while it runs (about 8.5 GB per million accounts), so a national
book is simulated as independent batches of at most ``batch_accounts`` accounts. Batch 0 uses the book's seed
(a book of one batch is exactly ``simulate_hauler``'s); batch ``k`` a seed drawn from ``(seed, k)``. Each
batch's identifiers are renumbered to follow the previous batches' (``A0000000`` … of batch 1 continue where
batch 0's ended, and every reference to them moves with them), and its rows are appended to one Parquet file
per table, so the files keep the single simulation's order (by account, then day) and only one batch is in
memory at a time.

What batches share and what they do not: every batch has the same territories, calendar and behaviour, but
each runs its own desk (its reps' capacity is sized to its accounts, as in a book of that size). The summary
adds the batches' counts; its rates are the batches' rates weighted by their accounts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.reader import EXTRACT_FILE
from sources.simulator.config import SimulationConfig
from sources.simulator.tables import identifiers

ID_PREFIXES = {
    "account_id": "A",
    "line_id": "L",
    "change_id": "RC",
    "event_id": "SE",
    "invoice_id": "INV",
    "contact_id": "C",
    "request_id": "CR",
    "attempt_id": "SA",
    "call_id": "PC",
}
"""The simulator's identifiers: a prefix and a zero-padded number counting from 0 in each simulation."""

RATES = ("annual_churn_rate_commercial", "controllable_share", "save_rate")
"""Summary rates combined as the batches' rates weighted by their accounts."""


def batch_seed(seed: int, batch: int) -> int:
    """Batch 0 keeps the book's seed; later batches a seed drawn from the book's seed and the batch number."""
    if batch == 0:
        return seed
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


def batch_sizes(accounts: int, batch_accounts: int) -> list[int]:
    """Accounts per batch: as even as possible, none above ``batch_accounts``."""
    batches = max(1, -(-accounts // max(1, batch_accounts)))
    base, extra = divmod(accounts, batches)
    return [base + (k < extra) for k in range(batches)]


def renumbered(table: pa.Table, offsets: dict[str, int]) -> pa.Table:
    """``table`` with every simulator identifier moved up by its prefix's offset (widths kept)."""
    for name, prefix in ID_PREFIXES.items():
        if name not in table.column_names or offsets.get(prefix, 0) == 0 or table.num_rows == 0:
            continue
        column = table.column(name).combine_chunks()
        width = len(column[0].as_py()) - len(prefix)
        numbers = pc.cast(pc.utf8_slice_codeunits(column, len(prefix)), pa.int64())
        moved = identifiers(prefix, pc.add(numbers, offsets[prefix]).to_numpy(zero_copy_only=False), width)
        table = table.set_column(table.schema.get_field_index(name), name, pc.if_else(column.is_null(), None, moved))
    return table


def used_numbers(tables: list[pa.Table]) -> dict[str, int]:
    """Per prefix, one more than the highest number any table uses (what the next batch starts from)."""
    used: dict[str, int] = {}
    for table in tables:
        for name, prefix in ID_PREFIXES.items():
            if name in table.column_names and table.num_rows:
                numbers = pc.cast(pc.utf8_slice_codeunits(table.column(name), len(prefix)), pa.int64())
                top = pc.max(numbers).as_py()
                if top is not None:
                    used[prefix] = max(used.get(prefix, 0), int(top) + 1)
    return used


def combined_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The book's summary from its batches': counts added, rates weighted by accounts."""
    first = summaries[0]
    if len(summaries) == 1:
        return first
    weights = np.array([s["accounts"] for s in summaries], dtype=float)

    def weighted(values: list[float]) -> float:
        return round(float(np.average(values, weights=weights)), 4)

    offers = sorted({o for s in summaries for o in s["offer_share"]})
    combined: dict[str, Any] = {
        **first,
        "accounts": int(weights.sum()),
        "rows": {n: sum(s["rows"].get(n, 0) for s in summaries) for n in first["rows"]},
        **{rate: weighted([s[rate] for s in summaries]) for rate in RATES},
        "save_rate_by_offer": {
            o: weighted([s["save_rate_by_offer"].get(o, 0.0) for s in summaries])
            for o in offers
            if any(o in s["save_rate_by_offer"] for s in summaries)
        },
        "offer_share": {o: weighted([s["offer_share"].get(o, 0.0) for s in summaries]) for o in offers},
        "open_requests": sum(s["open_requests"] for s in summaries),
        "batches": [{"accounts": s["accounts"], "seed": s["seed"]} for s in summaries],
    }
    if "silent_leavers" in first:
        combined["silent_leavers"] = sum(s["silent_leavers"] for s in summaries)
    return combined


def simulate_in_batches(
    config: SimulationConfig,
    workspace: Path,
    batch_accounts: int = 1_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Simulate ``config.accounts`` accounts in batches and write them as one book (``raw/``, ``truth/``).

    Args:
        config: The book: its accounts, months, seed and behaviour.
        workspace: The workspace folder.
        batch_accounts: The most accounts simulated at once (memory: about 8.5 GB per million).
        progress: Called with (batch, batches) before each batch.

    Returns:
        The book's summary, also written to ``truth/summary.json``.
    """
    from sources.simulator import simulate_hauler

    sizes = batch_sizes(config.accounts, batch_accounts)
    folders = {"raw": workspace / "raw", "truth": workspace / "truth"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    writers: dict[tuple[str, str], pq.ParquetWriter] = {}
    offsets: dict[str, int] = {}
    summaries = []
    try:
        for batch, size in enumerate(sizes):
            if progress is not None:
                progress(batch, len(sizes))
            hauler = simulate_hauler(replace(config, accounts=size, seed=batch_seed(config.seed, batch)))
            summaries.append(hauler.summary)
            groups = {"raw": hauler.raw, "truth": hauler.truth}
            used = used_numbers([*hauler.raw.values(), *hauler.truth.values()])
            for kind, tables in groups.items():
                for name, table in tables.items():
                    table = renumbered(table, offsets)
                    writer = writers.get((kind, name))
                    if writer is None:
                        path = folders[kind] / f"{name}.parquet"
                        writer = writers[(kind, name)] = pq.ParquetWriter(path, table.schema, compression="zstd")
                    writer.write_table(table.cast(writer.schema), row_group_size=1_000_000)
            for prefix, count in used.items():
                offsets[prefix] = offsets.get(prefix, 0) + count
            del hauler, groups
    finally:
        for writer in writers.values():
            writer.close()
    summary = combined_summary(summaries)
    extract = {"source": "simulator", "start_date": summary["start_date"], "end_date": summary["end_date"]}
    (folders["raw"] / EXTRACT_FILE).write_text(json.dumps(extract, indent=2) + "\n", encoding="utf-8")
    (folders["truth"] / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
