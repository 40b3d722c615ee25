"""The retry policy: exponential backoff with jitter, then parking."""

from __future__ import annotations

import random

import pytest

from hub.config import RetrySettings
from hub.retry import backoff_s, should_park

POLICY = RetrySettings(max_attempts=5, initial_s=1.0, max_s=30.0, multiplier=2.0)


@pytest.mark.parametrize(
    ("attempt", "cap"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (20, 30.0)],
    ids=lambda v: str(v),
)
def test_backoff_stays_between_half_cap_and_cap(attempt: int, cap: float) -> None:
    rng = random.Random(attempt)
    delays = [backoff_s(attempt, POLICY, rng) for _ in range(500)]
    assert min(delays) >= cap / 2
    assert max(delays) <= cap
    assert max(delays) - min(delays) > cap / 4  # jitter actually spreads retries


def test_backoff_grows_until_the_ceiling() -> None:
    lows = [backoff_s(a, POLICY, random.Random(0)) for a in range(1, 8)]
    assert lows == sorted(lows)
    assert lows[-1] <= POLICY.max_s


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        backoff_s(0, POLICY)


@pytest.mark.parametrize(("attempt", "parked"), [(1, False), (4, False), (5, True), (9, True)])
def test_park_after_max_attempts(attempt: int, parked: bool) -> None:
    assert should_park(attempt, POLICY) is parked
