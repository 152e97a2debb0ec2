"""Staging tables are named after their job and run, so a job's next run finds its leftovers."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa

from conveyor.connectors.base import ColumnInfo, TableRef, TableSchema
from conveyor.connectors.registry import open_connector
from conveyor.domain import EngineSettings
from conveyor.engine.leftovers import drop_leftovers, leftovers
from conveyor.engine.planner import MAX_NAME_BYTES, plan_task, short_id, staging_prefix
from conveyor.engine.spec import TaskSpec

JOB, RUN, EARLIER = (str(uuid.uuid4()) for _ in range(3))


def test_a_staging_name_carries_the_job_and_the_run() -> None:
    plan = plan_task(TaskSpec(id="t", position=0, query="REPLICATE [orders]"), EngineSettings())
    staging = plan.staging(JOB, RUN)
    assert staging.name == f"_conveyor_stage_{short_id(JOB)}_{short_id(RUN)}_orders"
    assert plan.staging(JOB, RUN, "keys").name == staging.name + "_keys"
    assert short_id("cli") == short_id("cli") and len(short_id("cli")) == 8


def test_a_long_table_name_keeps_job_run_and_role_within_the_limit() -> None:
    long = "ä" * 60
    plan = plan_task(TaskSpec(id="t", position=0, query=f"REPLICATE [{long}]"), EngineSettings())
    name = plan.staging(JOB, RUN, "keys").name
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.startswith(f"{staging_prefix(JOB)}{short_id(RUN)}_") and name.endswith("_keys")


def test_only_the_jobs_other_runs_are_leftovers(tmp_path: Path) -> None:
    plan = plan_task(TaskSpec(id="t", position=0, query="REPLICATE [orders]"), EngineSettings())
    layout = TableSchema([ColumnInfo("id", pa.int64())])
    other_job = str(uuid.uuid4())
    connector = open_connector(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        tables = {
            "killed": plan.staging(JOB, EARLIER),
            "killed_keys": plan.staging(JOB, EARLIER, "keys"),
            "own": plan.staging(JOB, RUN),
            "other_job": plan.staging(other_job, EARLIER),
            "user": TableRef("orders"),
        }
        for table in tables.values():
            connector.create_table(table, layout)
        expected = sorted([tables["killed"], tables["killed_keys"]])
        assert leftovers(connector, JOB, RUN) == expected
        lines: list[tuple[str, str]] = []
        assert drop_leftovers(connector, JOB, RUN, lambda *line: lines.append(line)) == expected
        kept = {info.ref for info in connector.list_tables()}
        assert kept == {tables["own"], tables["other_job"], tables["user"]}
        assert lines and lines[0][0] == "info" and "dropped 2 staging tables" in lines[0][1]
    finally:
        connector.close()
