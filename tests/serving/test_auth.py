"""Who may read and write which territory, token hashing, and the per-token rate limit."""

from __future__ import annotations

import threading

import pytest

from serving.auth import RateLimiter, Role, User, hash_token, new_token

REP = User("ann", Role.REP, frozenset({"T01", "T02"}), "R011")
MANAGER = User("mia", Role.MANAGER, frozenset(), None)
ADMIN = User("root", Role.ADMIN, frozenset(), None)


@pytest.mark.parametrize(
    ("user", "territory", "allowed"),
    [
        (REP, "T01", True),
        (REP, "T02", True),
        (REP, "T03", False),
        (REP, "t01", False),
        (REP, "", False),
        (MANAGER, "T03", True),
        (ADMIN, "T03", True),
    ],
)
def test_reps_read_and_write_their_own_territories_managers_and_admins_all(
    user: User, territory: str, allowed: bool
) -> None:
    assert user.can_read(territory) is allowed
    assert user.can_write(territory) is allowed


def test_a_rep_without_territories_reaches_nothing() -> None:
    nobody = User("new", Role.REP, frozenset(), None)
    assert not nobody.can_read("T01") and not nobody.can_write("T01")


def test_tokens_are_long_random_and_hashed_one_way() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    token = next(iter(tokens))
    digest = hash_token(token)
    assert digest == hash_token(token) and len(digest) == 64 and int(digest, 16) >= 0
    assert token not in digest and hash_token(token + "x") != digest


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_allows_a_minutes_burst_then_asks_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=6, clock=clock)
    assert [limiter.allow("a") for _ in range(6)] == [0.0] * 6
    wait = limiter.allow("a")
    assert wait == pytest.approx(10.0)  # one request refills every 60 / 6 seconds
    assert limiter.allow("b") == 0.0  # another token has its own bucket

    clock.now += 5.0
    assert limiter.allow("a") == pytest.approx(5.0)
    clock.now += 5.0
    assert limiter.allow("a") == 0.0
    assert limiter.allow("a") > 0.0

    clock.now += 3_600.0  # an hour idle refills the bucket to one minute's worth, no more
    assert [limiter.allow("a") for _ in range(7)].count(0.0) == 6


def test_the_rate_limit_holds_under_concurrent_requests() -> None:
    limiter = RateLimiter(per_minute=50, clock=FakeClock())
    allowed: list[bool] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        allowed.extend(limiter.allow("shared") == 0.0 for _ in range(100))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50


def test_a_rate_limit_below_one_a_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(per_minute=0)
