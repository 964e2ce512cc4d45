"""One published night as the live plan reads it: the accounts' context and the open requests, by account.

The nightly run keeps the night's account context beside its publication (``PublishedCatalog.context``); the open
requests are the inbound and flip rows of the version published now, intraday additions included; the models are
the versions its manifest names (``models``), the ones the live plan must plan with to equal the published rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from serving.publication.catalog import LIST_FILES, MANIFEST, REQUEST_LISTS, PublishedCatalog


@dataclass(frozen=True)
class Night:
    """One published version's inputs, indexed by account."""

    business_date: date
    version: str
    """The version folder the date's link pointed at when read; a re-publication changes it."""
    context: pd.DataFrame
    """The night's account context, indexed by ``account_id``."""
    requests: pd.DataFrame
    """Open requests (``request_id``, ``reason``, ``request_date``), the latest per account, by ``account_id``."""
    models: dict[str, Any] | None = None
    """The model versions the manifest names (``{"churn": {"name", "version", "alias"}, ...}``); None: it names none."""

    def territory(self, account_id: str) -> str | None:
        """The account's territory, or None for an account not in service that night."""
        if account_id not in self.context.index:
            return None
        return str(self.context.at[account_id, "territory"])


def read_night(catalog: PublishedCatalog, day: date) -> Night:
    """The context and open requests of the version published for ``day``."""
    folder = catalog.folder / catalog.version(day)
    context = pd.read_parquet(catalog.context(day))
    context = context.drop_duplicates("account_id", keep="last").set_index("account_id", drop=False)
    context.index.name = None
    files = [folder / LIST_FILES[name] for name in REQUEST_LISTS]
    frames = [pd.read_parquet(file) for file in files if file.is_file()]
    frames = [f[["request_id", "account_id", "reason", "request_date"]] for f in frames if len(f)]
    if frames:
        requests = pd.concat(frames, ignore_index=True).sort_values(["account_id", "request_date", "request_id"])
    else:
        requests = pd.DataFrame(columns=["request_id", "account_id", "reason", "request_date"])
    requests = requests.drop_duplicates("account_id", keep="last").set_index("account_id")
    return Night(day, folder.name, context, requests, published_models(folder))


def published_models(folder: Path) -> dict[str, Any] | None:
    """The ``models`` a version folder's manifest names (None when it names none or cannot be read)."""
    try:
        models = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("models")
    except (OSError, ValueError, AttributeError):
        return None
    return models if isinstance(models, dict) else None
