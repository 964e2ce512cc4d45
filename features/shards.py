"""Account shards: a stable hash of ``account_id`` splits the book, and every table's rows go with their account.

Every contract table carries ``account_id``, so a shard's tables are the rows of its accounts. Clean tables laid
out one file per shard (``DIR/clean/<table>/<shard>.parquet``, written by validation) are read one file per
shard (``features.view.scan_shard``); a single file per table is filtered to the shard here.
"""

from __future__ import annotations

import polars as pl

from features.view import Tables
from sources.keys import stable_bucket


def shard_accounts(accounts: pl.LazyFrame, shard: int, shards: int) -> pl.DataFrame:
    """The ``account_id`` of the accounts in ``shard`` (CRC-32 of the id modulo ``shards``, as everywhere)."""
    ids = accounts.select("account_id").collect().to_series()
    return pl.DataFrame({"account_id": ids.filter(pl.Series(stable_bucket(ids.to_list(), shards)) == shard)})


def restrict(tables: Tables, shard: int, shards: int, keep: frozenset[str] = frozenset()) -> Tables:
    """The rows of ``tables`` that belong to the accounts of ``shard``; the whole tables when ``shards`` is 1.

    Args:
        tables: Tables of the book, or of a shard already for the tables named in ``keep``.
        shard: The shard, ``0 .. shards - 1``.
        shards: How many shards the book is split into.
        keep: Tables that hold only the shard's rows already (read from its files): left as they are, and
            when ``accounts`` is among them its ids pick the other tables' rows (no hash to compute).
    """
    if shards <= 1:
        return dict(tables)
    if "accounts" in keep:
        members = tables["accounts"].select("account_id")
    else:
        members = shard_accounts(tables["accounts"], shard, shards).lazy()
    return {
        name: frame if name in keep else frame.join(members, on="account_id", how="semi")
        for name, frame in tables.items()
    }
