"""Several real Conveyor processes on one PostgreSQL store: API nodes and workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.e2e.server import ADMIN_TOKEN, free_port
from tests.services import fresh_pg_database


@dataclass
class Cluster:
    """A store, its shared settings, and the processes started on it."""

    store_url: str
    root: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_url: str = ""

    def _spawn(
        self, name: str, args: list[str], extra: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        sink = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli", *args],
            env={**self.env, **(extra or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def api(
        self, name: str = "api", scheduler: bool = False, extra: dict[str, str] | None = None
    ) -> str:
        """Start an API node without workers; return its URL once it answers."""
        port = free_port()
        self._spawn(
            name,
            ["serve", "--no-workers", "--no-migrate"],
            {
                "CONVEYOR_PORT": str(port),
                "CONVEYOR_SCHEDULER": "true" if scheduler else "false",
                **(extra or {}),
            },
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log(name)
            assert self.processes[name].poll() is None, self.log(name)
            time.sleep(0.1)
        self.api_url = self.api_url or url
        return url

    def worker(
        self, name: str, slots: int = 2, extra: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a `conveyor worker` process."""
        return self._spawn(name, ["worker"], {"CONVEYOR_WORKERS": str(slots), **(extra or {})})

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process (SIGKILL by default: no goodbye)."""
        self.processes[name].send_signal(sig)

    def wait(self, name: str, timeout: float = 60) -> int:
        """Wait for a process to end; its exit code."""
        return self.processes[name].wait(timeout)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(10)


@contextmanager
def cluster(tmp_path: Path, **settings: Any) -> Iterator[Cluster]:
    """A migrated PostgreSQL store shared by the processes a test starts."""
    with fresh_pg_database("conveyor_cluster") as url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")},
            "CONVEYOR_DATABASE_URL": url,
            "CONVEYOR_DATA_DIR": str(tmp_path / "data"),
            "CONVEYOR_SECRET_KEY": Fernet.generate_key().decode(),
            "CONVEYOR_ADMIN_TOKEN": ADMIN_TOKEN,
            "CONVEYOR_LOG_FORMAT": "json",
            "CONVEYOR_POLL_INTERVAL": "1",
            "CONVEYOR_HEARTBEAT_INTERVAL": "0.5",
            # short enough for the kill tests, long enough for a worker on a loaded machine
            "CONVEYOR_HEARTBEAT_TIMEOUT": "15",
            **{f"CONVEYOR_{k.upper()}": str(v) for k, v in settings.items()},
        }
        subprocess.run(
            [sys.executable, "-m", "conveyor.cli", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        group = Cluster(url, tmp_path, env)
        try:
            yield group
        finally:
            group.stop_all()
