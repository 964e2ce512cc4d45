"""Made-up personal data (names, phones, emails, addresses) for simulated accounts.

The raw layer of a real hauler holds such data, so the simulator does too: it is
what tests use to prove that nothing personal leaks past the raw layer.
"""

from __future__ import annotations

import numpy as np

FIRST = np.array(
    [
        "Maria",
        "James",
        "Linda",
        "Robert",
        "Ana",
        "Wei",
        "Priya",
        "Carlos",
        "Emily",
        "David",
        "Sofia",
        "Michael",
        "Aisha",
        "John",
        "Mei",
        "Luis",
        "Sarah",
        "Kevin",
        "Grace",
        "Omar",
    ]
)
LAST = np.array(
    [
        "Garcia",
        "Smith",
        "Nguyen",
        "Johnson",
        "Patel",
        "Brown",
        "Lopez",
        "Kim",
        "Williams",
        "Chen",
        "Martinez",
        "Davis",
        "Singh",
        "Wilson",
        "Hernandez",
        "Lee",
        "Clark",
        "Lewis",
        "Young",
        "Khan",
    ]
)
BUSINESS = np.array(
    [
        "Dental",
        "Grill",
        "Market",
        "Motors",
        "Logistics",
        "Bakery",
        "Clinic",
        "Builders",
        "Hotel",
        "Academy",
        "Foods",
        "Supply",
        "Cafe",
        "Works",
        "Partners",
    ]
)
STREETS = np.array(
    [
        "Main",
        "Oak",
        "Maple",
        "Cedar",
        "Elm",
        "Pine",
        "Lake",
        "Hill",
        "Park",
        "River",
        "Washington",
        "Lincoln",
        "Sunset",
        "Mission",
        "Industrial",
    ]
)
SUFFIXES = np.array(["St", "Ave", "Blvd", "Rd", "Dr", "Way"])


def _join(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0]).astype(object)
    for part in parts[1:]:
        out = out + np.asarray(part).astype(object)
    return out


def personal_data(rng: np.random.Generator, residential: np.ndarray) -> dict[str, np.ndarray]:
    """Names, phones, emails and street addresses for each account.

    Args:
        rng: The simulator's generator.
        residential: Whether each account is a household (named after a person).

    Returns:
        Columns ``account_name``, ``contact_name``, ``phone``, ``email``, ``street_address``.
    """
    n = len(residential)
    first = FIRST[rng.integers(0, len(FIRST), size=n)]
    last = LAST[rng.integers(0, len(LAST), size=n)]
    business = _join(LAST[rng.integers(0, len(LAST), size=n)], " ", BUSINESS[rng.integers(0, len(BUSINESS), size=n)])
    contact = _join(first, " ", last)
    digits = rng.integers(0, 10_000_000, size=n)
    area = rng.integers(201, 990, size=n)
    phone = _join(
        "(",
        area.astype(str),
        ") ",
        (digits // 10_000).astype(str),
        "-",
        np.char.zfill((digits % 10_000).astype(str), 4),
    )
    email = _join(np.char.lower(first), ".", np.char.lower(last), (digits % 997).astype(str), "@example.com")
    street = _join(
        rng.integers(1, 9999, size=n).astype(str),
        " ",
        STREETS[rng.integers(0, len(STREETS), size=n)],
        " ",
        SUFFIXES[rng.integers(0, len(SUFFIXES), size=n)],
    )
    return {
        "account_name": np.where(residential, contact, business),
        "contact_name": contact,
        "phone": phone,
        "email": email,
        "street_address": street,
    }
