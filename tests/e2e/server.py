"""The real `conveyor serve` process, started for end-to-end tests and driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.plugin_path import production_env

ADMIN_TOKEN = "cvy_e2e_admin_token_abcdefghijkl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its base URL, an authenticated client, and its output file."""

    url: str
    client: httpx.Client
    output: Path
    process: subprocess.Popen[bytes]
    data_dir: Path

    def log_text(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.output.read_text(errors="replace")

    def wait_run(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        """Poll a run until it is final."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.client.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in ("completed", "error", "canceled"):
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s: {run}")


@contextmanager
def running_server(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    token: str | None = ADMIN_TOKEN,
    data_dir: Path | None = None,
    args: tuple[str, ...] = (),
    test_connectors: bool = True,
    new_session: bool = False,
) -> Iterator[Server]:
    """Start `conveyor serve` on a free port with its data in `tmp_path`; stop it afterwards.

    The server and its run processes know the tests' `memory://` connector (a plugin, see
    `tests.plugin_path`) unless `test_connectors` is false: then it is a production server.
    With `new_session`, the server leads a process group of its own (with its run
    processes), so that a test can kill the whole of it (`os.killpg`).
    """
    port = free_port()
    data_dir = data_dir or tmp_path / "server-data"
    output = tmp_path / "server-output.log"
    environment = {
        **os.environ,
        "CONVEYOR_DATA_DIR": str(data_dir),
        "CONVEYOR_PORT": str(port),
        "CONVEYOR_SECRET_KEY": Fernet.generate_key().decode(),
        "CONVEYOR_LOG_FORMAT": "json",
        "CONVEYOR_LOG_LEVEL": "DEBUG",
        "CONVEYOR_POLL_INTERVAL": "0.2",
        "CONVEYOR_HEARTBEAT_INTERVAL": "0.3",
        **(env or {}),
    }
    if "CONVEYOR_DATABASE_URL" not in (env or {}):
        environment.pop("CONVEYOR_DATABASE_URL", None)
    if not test_connectors:
        environment = production_env(environment)
    if token:
        environment["CONVEYOR_ADMIN_TOKEN"] = token
    else:
        environment.pop("CONVEYOR_ADMIN_TOKEN", None)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli", "serve", *args],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=60
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited with {process.returncode}:\n{output.read_text()}"
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{output.read_text()}")
            time.sleep(0.1)
        yield Server(url, client, output, process, data_dir)
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
