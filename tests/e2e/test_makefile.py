"""The Makefile's targets do what their names say: the tier targets run their tier's tests,
and `make run` migrates once and stops on Ctrl-C without a make error."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ADMIN_TOKEN, free_port
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> list[str]:
    """The commands `make <target>` would run, its prerequisites being up to date."""
    if shutil.which("make") is None:
        unavailable("make", FileNotFoundError("make is not on PATH"))
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("tier", ["unit", "integration", "e2e"])
def test_a_tier_target_runs_that_tier(tier: str) -> None:
    commands = [c for c in recipe(tier) if "pytest" in c]
    assert len(commands) == 1, recipe(tier)
    argv = shlex.split(commands[0])
    argv = [a for a in argv if a not in ("-n", "auto")]  # collection only, in this process
    argv = [sys.executable, "-m", "pytest", *argv[1:], "--collect-only", "-p", "no:xdist"]
    argv = [a for a in argv if a not in ("--dist", "loadgroup")]
    collected = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    tests = [line for line in collected.stdout.splitlines() if "::" in line]
    on_disk = list((ROOT / "tests" / tier).rglob("test_*.py"))
    assert on_disk and len(tests) >= len(on_disk)  # at least one test per test file
    assert all(t.startswith(f"tests/{tier}/") for t in tests), "another tier's tests ran"


def test_make_run_migrates_once() -> None:
    conveyor = [c for c in recipe("run") if "conveyor " in c]
    assert len(conveyor) == 1, f"make run starts one command, `conveyor serve`: {conveyor}"
    assert " serve" in conveyor[0] and "--no-migrate" not in conveyor[0]  # serve migrates


@pytest.mark.parametrize("processes", ["1", "2"])
def test_make_run_stops_cleanly_on_ctrl_c(tmp_path: Path, processes: str) -> None:
    recipe("run")  # make is there
    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_DATA_DIR": str(tmp_path / "data"),
        "CONVEYOR_PORT": str(port),
        "CONVEYOR_ADMIN_TOKEN": ADMIN_TOKEN,
        "CONVEYOR_API_PROCESSES": processes,
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    env.pop("CONVEYOR_DATABASE_URL", None)
    # Its own session, as a terminal's foreground job: Ctrl-C signals the whole group.
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        while True:
            assert make.poll() is None, make.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        demo = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/jobs",
            params={"name": "demo-copy"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        assert demo["total"] == 1  # make run starts the demo
        os.killpg(make.pid, signal.SIGINT)
        output, _ = make.communicate(timeout=120)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    assert "make: ***" not in output, output
    assert "Traceback" not in output, output
    # make, Ctrl-C'd itself, ends as a Ctrl-C'd program does; never with an error of its own.
    assert make.returncode in (0, -signal.SIGINT), (make.returncode, output)
