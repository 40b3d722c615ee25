"""Retry policy: exponential backoff with full jitter (pure)."""

from __future__ import annotations

import random

from hub.config import RetrySettings


def backoff_s(attempt: int, policy: RetrySettings, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempt + 1``, after ``attempt`` failures (attempt >= 1).

    Full jitter: uniform in [cap/2, cap] where cap = min(max_s, initial_s *
    multiplier ** (attempt - 1)); the lower half bound keeps retries from
    hammering a recovering destination.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    cap = min(policy.max_s, policy.initial_s * policy.multiplier ** (attempt - 1))
    draw = (rng or random).random()
    return cap / 2 + draw * cap / 2


def should_park(attempt: int, policy: RetrySettings) -> bool:
    """True once ``attempt`` failures have used up the allowed attempts."""
    return attempt >= policy.max_attempts
