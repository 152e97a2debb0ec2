"""Runs one engine run in this process, its task state kept in a JSON file like the store.

    python -m tests.integration.engine.crash_runner SOURCE DESTINATION STATE_FILE QUERY [SETTINGS_JSON]

The crash-safety tests start it with CONVEYOR_FAULT armed, so it kills itself with
SIGKILL at an injected point, then run it again to see the destination converge.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec


class FileStateReporter(NullReporter):
    """Saves task state durably (write, fsync, rename) before returning, like the worker."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)


def main() -> int:
    source, destination, state_file, query = sys.argv[1:5]
    settings = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    path = Path(state_file)
    state = json.loads(path.read_text()) if path.exists() else {}
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        # one job per state file: its runs, killed or not, are the runs of one job
        job_id=uuid.uuid5(uuid.NAMESPACE_URL, str(path.resolve())).hex,
        job_name="crash",
        job_type="standard",
        load=RunLoad.incremental,
        settings=EngineSettings(**settings),
        source=Endpoint(source),
        destination=Endpoint(destination),
        tasks=(TaskSpec(id="t0", position=0, query=query, state=state),),
    )
    outcome = runner.execute(spec, FileStateReporter(path), threading.Event())
    print(outcome.status.value, outcome.error or "")
    return 0 if outcome.status.value == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
