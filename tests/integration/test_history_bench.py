"""The history-at-scale bench, scaled down: its store seeds as a million-run one does, and
every list it measures answers 200 with rows in it on both stores (the bench exits naming
a request otherwise). Its timings are not checked here: `make bench` reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import history_scale
from bench.history_seed import Seeded, drop_cache, store


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_list_of_the_bench_answers_rows_over_a_small_history(kind: str) -> None:
    figures = history_scale.measure(kind, runs=3000, per_run=3, repeat=1)
    measured = [surface for surface, _, _ in figures]
    with store(kind, 10, 1, None) as (_, seeded):
        names = [request.surface for request in history_scale.requests(seeded, 3000)]
    assert measured == names and len(names) > 30
    assert all(p50 > 0 and p99 >= p50 for _, p50, p99 in figures)


def test_a_kept_store_is_reused_and_dropped(tmp_path: Path) -> None:
    def seeded_once() -> Seeded:
        with store("sqlite", 200, 2, tmp_path) as (runtime, seeded):
            with runtime.engine.connect() as connection:
                lines = connection.exec_driver_sql("SELECT count(*) FROM run_logs").scalar()
                files = connection.exec_driver_sql("SELECT count(*) FROM files").scalar()
            assert (lines, files) == (400, 12)
            return seeded

    first = seeded_once()
    assert seeded_once() == first  # the same runs, not seeded again
    drop_cache(tmp_path)
    assert not tmp_path.exists()
