"""Runs one engine run in this process, its task state kept in a JSON file like the store.

    python -m tests.integration.engine.crash_runner SOURCE DESTINATION STATE_FILE QUERY \
        [SETTINGS_JSON [KILL_AT]]

KILL_AT is `<stage>:<marker file>`: the crash-safety tests arm it so the process kills
itself with SIGKILL (as the OOM killer or `kill -9` would) the first time the engine
reports that `Stage` of a load — the marker file records that it fired, so the retry
runs through — then run it again to see the destination converge.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter, Stage
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec


class FileStateReporter(NullReporter):
    """Saves task state durably (write, fsync, rename) before returning, like the worker,
    and dies at the armed stage."""

    def __init__(self, path: Path, kill_at: str = "") -> None:
        super().__init__()
        self.path = path
        stage, _, marker = kill_at.partition(":")
        self.kill_stage = Stage(stage) if stage else None
        self.marker = Path(marker) if marker else None

    def stage(self, task_id: str, stage: Stage) -> None:
        super().stage(task_id, stage)
        if stage is self.kill_stage and self.marker and not self.marker.exists():
            self.marker.write_text(stage.value)
            os.kill(os.getpid(), signal.SIGKILL)

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
    kill_at = sys.argv[6] if len(sys.argv) > 6 else ""
    path = Path(state_file)
    state = json.loads(path.read_text()) if path.exists() else {}
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        job_id="crash",
        job_name="crash",
        job_type="standard",
        load=RunLoad.incremental,
        settings=EngineSettings(**settings),
        source=Endpoint(source),
        destination=Endpoint(destination),
        tasks=(TaskSpec(id="t0", position=0, query=query, state=state),),
    )
    outcome = runner.execute(spec, FileStateReporter(path, kill_at), threading.Event())
    print(outcome.status.value, outcome.error or "")
    return 0 if outcome.status.value == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
