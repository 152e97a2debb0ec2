"""When a failed attempt is tried again: exponential backoff with jitter."""

from __future__ import annotations

import random

BASE_SECONDS = 5.0
CAP_SECONDS = 600.0


def backoff_seconds(attempt: int, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, with 50–100 % jitter.

    Jitter spreads the retries of many runs that failed together (a source went down) so
    they do not all hit the source again in the same second.
    """
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay * random.uniform(0.5, 1.0)


def should_retry(retryable: bool, attempt: int, max_attempts: int) -> bool:
    """Whether a failed attempt gets another one."""
    return retryable and attempt < max_attempts
