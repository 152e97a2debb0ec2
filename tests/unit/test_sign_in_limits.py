"""The failed sign-in counter: per address, per name, and what a limited caller waits."""

from __future__ import annotations

import threading
import time

from conveyor.services.sign_in_limits import ADDRESS_FACTOR, SignInLimiter


def test_addresses_and_names_are_counted_apart() -> None:
    limiter = SignInLimiter(3)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1", "ann") is None
        limiter.failed("10.0.0.1", "ann")
    wait = limiter.retry_after("10.0.0.1", "ann")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.retry_after("10.0.0.2", "ann") is not None, "the name is limited anywhere"
    assert limiter.retry_after("10.0.0.1", "bob") is None, "one account's attack spares others"
    assert limiter.retry_after("10.0.0.2", "bob") is None


def test_an_address_trying_many_names_is_limited_at_a_multiple() -> None:
    limiter = SignInLimiter(3)
    for index in range(3 * ADDRESS_FACTOR):
        assert limiter.retry_after("10.0.0.1", f"name-{index}") is None
        limiter.failed("10.0.0.1", f"name-{index}")
    assert limiter.retry_after("10.0.0.1", "fresh") is not None
    assert limiter.retry_after("10.0.0.2", "fresh") is None


def test_a_failure_without_a_name_counts_for_the_address_only() -> None:
    limiter = SignInLimiter(2)
    for _ in range(2 * ADDRESS_FACTOR):
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is not None
    assert limiter.retry_after("10.0.0.2", "ann") is None


def test_the_window_moves() -> None:
    limiter = SignInLimiter(1, window_seconds=1)
    limiter.failed("10.0.0.1", "ann")
    assert limiter.retry_after("10.0.0.1", "ann") == 1
    time.sleep(1.05)
    assert limiter.retry_after("10.0.0.1", "ann") is None


def test_checks_of_one_name_are_serialized() -> None:
    limiter = SignInLimiter(10)
    inside: list[int] = []
    overlap = []

    def attempt(client: str) -> None:
        with limiter.checking(client, "ann"):
            inside.append(1)
            overlap.append(len(inside))
            time.sleep(0.01)
            inside.pop()

    threads = [threading.Thread(target=attempt, args=(f"10.0.0.{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap == [1] * 8
