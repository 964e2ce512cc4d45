"""The folders of a workspace that validation reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkspaceFolders:
    """Where a workspace keeps its raw, clean and quarantined tables.

    Attributes:
        raw: The extract's tables as delivered (``raw/``); only read.
        clean: The validated, typed tables and the validation report (``clean/``).
        rejects: The quarantined rows with the reason each was rejected (``rejects/``).
    """

    raw: Path
    clean: Path
    rejects: Path
