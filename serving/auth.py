"""Who may do what: users with a role and territories, hashed bearer tokens, and a rate limit per token.

A rep reads and writes the accounts of their own territories; a manager and an
admin read and write every territory (an admin also manages users, through the
``savedesk users`` command). Tokens are random and long (``secrets.token_urlsafe(32)``,
256 bits), so one round of SHA-256 is enough to store them: unlike a password,
there is nothing to guess, and a fast hash keeps the lookup on every request cheap.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a user is at the desk."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    """An active user, as the API sees the bearer of a token."""

    name: str
    role: Role
    territories: frozenset[str]
    rep_id: str | None

    def can_read(self, territory: str) -> bool:
        """Whether this user may see the lists, plans and outcomes of ``territory``."""
        return self.role in (Role.MANAGER, Role.ADMIN) or territory in self.territories

    def can_write(self, territory: str) -> bool:
        """Whether this user may record outcomes for accounts of ``territory``."""
        return self.role in (Role.MANAGER, Role.ADMIN) or territory in self.territories


def new_token() -> str:
    """A fresh bearer token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest of a token: the only form the store keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RateLimiter:
    """A token bucket per key (a user's token hash): ``per_minute`` requests a minute, bursts up to that many.

    In-process and thread-safe: one server process keeps one limiter. Buckets
    that have refilled completely are dropped, so memory grows with the keys
    active in the last minute, not with every key ever seen.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        """Allow ``per_minute`` requests a minute per key, measured on ``clock`` (seconds)."""
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def allow(self, key: str) -> float:
        """Take one request from ``key``'s bucket.

        Returns:
            0.0 when the request is allowed; otherwise the seconds until it would
            be (the Retry-After of a 429).
        """
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # Sweep once every 1024 allowed requests, so the common path stays O(1).
        self._since_sweep += 1
        if self._since_sweep < 1024:
            return
        self._since_sweep = 0
        full_after = self.capacity / self.rate
        self._buckets = {k: (t, at) for k, (t, at) in self._buckets.items() if now - at < full_after}
