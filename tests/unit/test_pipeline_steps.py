"""A pipeline's steps as stored: default dependencies, leaving, cycles (no I/O)."""

from __future__ import annotations

import pytest

from conveyor.errors import InvalidInput
from conveyor.services.pipeline_steps import dependencies, without
from conveyor.services.pipelines import _acyclic


def test_a_step_without_depends_on_waits_for_the_one_before() -> None:
    steps = [
        {"job_id": "a", "depends_on": None},
        {"job_id": "b", "depends_on": None},
        {"job_id": "c", "depends_on": []},
        {"job_id": "d", "depends_on": ["a", "c"]},
    ]
    assert dependencies(steps) == [("a", []), ("b", ["a"]), ("c", []), ("d", ["a", "c"])]


def test_a_job_leaving_is_waited_for_by_no_step() -> None:
    steps = [
        {"job_id": "a", "depends_on": None},
        {"job_id": "b", "depends_on": None},
        {"job_id": "c", "depends_on": ["a", "b"]},
    ]
    left = without(steps, "a")
    assert left == [{"job_id": "b", "depends_on": None}, {"job_id": "c", "depends_on": ["b"]}]
    assert dependencies(left) == [("b", []), ("c", ["b"])]


@pytest.mark.parametrize(
    "steps",
    [
        [{"job_id": "a", "depends_on": ["b"]}, {"job_id": "b", "depends_on": None}],
        [
            {"job_id": "a", "depends_on": ["c"]},
            {"job_id": "b", "depends_on": None},
            {"job_id": "c", "depends_on": None},
        ],
    ],
)
def test_steps_waiting_in_a_circle_are_refused(steps: list[dict[str, object]]) -> None:
    with pytest.raises(InvalidInput) as refused:
        _acyclic(steps)
    assert refused.value.field == "steps"


def test_a_graph_without_circles_passes() -> None:
    _acyclic(
        [
            {"job_id": "a", "depends_on": []},
            {"job_id": "b", "depends_on": []},
            {"job_id": "c", "depends_on": ["a", "b"]},
        ]
    )
