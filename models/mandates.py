"""Jurisdictions' mandated streams: which accounts must have recycling or organics, and the note a rep reads.

The mandate table is data (``GuardrailRules.mandates`` in the settings); the compliance guardrail, the
``add_stream`` offer and the deal page all read it through ``mandated_streams`` and ``compliance_notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Mandate:
    """A jurisdiction's required streams: ``city`` and ``segment`` may be ``*`` for any.

    ``jurisdiction`` and ``law`` name it in a compliance note ("California (AB 341, SB 1383) requires …").
    """

    state: str
    city: str
    segment: str
    streams: tuple[str, ...]
    jurisdiction: str = ""
    law: str = ""


DEFAULT_MANDATES = (
    Mandate("CA", "*", "commercial", ("recycling", "organics"), "California", "AB 341, SB 1383"),
    Mandate("WA", "Seattle", "commercial", ("organics",), "Seattle", "food-waste requirement"),
)


def mandated_streams(frame: pd.DataFrame, mandates: tuple[Mandate, ...]) -> dict[str, np.ndarray]:
    """For each mandated stream, which rows' state, city and segment require it.

    Without a ``city`` column every city rule of the state is taken to apply (the safe side).
    """
    state, segment = (
        frame[c].astype(str).to_numpy(dtype=object) if c in frame else np.full(len(frame), "", dtype=object)
        for c in ("state", "segment")
    )
    city = frame["city"].astype(str).to_numpy(dtype=object) if "city" in frame else None
    out: dict[str, np.ndarray] = {s: np.zeros(len(frame), bool) for m in mandates for s in m.streams}
    for mandate in mandates:
        applies = (state == mandate.state) & ((segment == mandate.segment) | (mandate.segment == "*"))
        if city is not None and mandate.city != "*":
            applies &= city == mandate.city
        for stream in mandate.streams:
            out[stream] = out[stream] | applies
    return out


def compliance_notes(account: Mapping[str, Any], mandates: tuple[Mandate, ...] = DEFAULT_MANDATES) -> list[str]:
    """What the account's jurisdiction requires, in a rep's words, for the deal on the page.

    Args:
        account: One account's ``state``, ``city``, ``segment`` and, when known, ``has_<stream>`` flags
            (a dict, or a row of a frame).
        mandates: The mandate table (``GuardrailRules.mandates``; the defaults without).

    Returns:
        One note per mandate that applies: what it requires, that a change of service keeps it, and a
        required stream the account lacks (to add); empty where none applies.
    """
    frame = pd.DataFrame([{k: account.get(k) for k in ("state", "city", "segment") if k in account}])
    notes = []
    for mandate in mandates:
        if not mandated_streams(frame, (mandate,))[mandate.streams[0]][0]:
            continue
        place = mandate.jurisdiction or (mandate.city if mandate.city != "*" else mandate.state)
        law = f" ({mandate.law})" if mandate.law else ""
        streams = " and ".join(mandate.streams)
        who = f"{mandate.segment} accounts" if mandate.segment != "*" else "every account"
        note = f"{place}{law} requires {who} to have {streams} service: any change must keep it."
        lacking = [s for s in mandate.streams if f"has_{s}" in account and not _truthy(account.get(f"has_{s}"))]
        if lacking:
            note += f" This account has no {' or '.join(lacking)} service: offer to add it."
        notes.append(note)
    return notes


def _truthy(value: object) -> bool:
    try:
        return bool(value) and not pd.isna(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return bool(value)
