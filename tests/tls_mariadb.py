"""A throwaway MariaDB serving TLS only, for tests of certificate verification.

The machine's shared MariaDB has TLS disabled and is never reconfigured, so a test that
needs TLS starts its own: `mariadb-install-db` into a fresh folder, a CA and a server
certificate for `localhost` (`tests.tls_postgres`), `require_secure_transport`, TCP on a
free port of 127.0.0.1, no binary log; stopped (by its own pid) and removed afterwards.
As root the server runs as the `mysql` account. Without MariaDB's binaries the test is
skipped locally and fails in CI.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.services import unavailable
from tests.tls_postgres import Issued, _free_port, issue, make_ca

SERVER = "/usr/sbin/mariadbd"
INSTALL = "mariadb-install-db"


@dataclass(frozen=True)
class MariaTLS:
    """A running TLS-only MariaDB: its port and the CA its certificate chains to."""

    port: int
    ca: Issued

    def url(self, database: str = "mysql", **params: str) -> str:
        """A URL to it by the name its certificate carries."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"mariadb://root@localhost:{self.port}/{database}" + (f"?{query}" if query else "")


def _ready(root: Path, process: subprocess.Popen[bytes]) -> None:
    log = root / "err.log"
    for _ in range(600):  # polls the log; the server says when it listens
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {log.read_text() if log.exists() else ''}")
        if log.exists() and "ready for connections" in log.read_text():
            return
        time.sleep(0.1)
    raise RuntimeError("mariadbd did not start")


@contextlib.contextmanager
def tls_mariadb() -> Iterator[MariaTLS]:
    """Start a TLS-only MariaDB on a free port; yield it; stop and remove it."""
    if not (os.path.exists(SERVER) and shutil.which(INSTALL)):
        unavailable("MariaDB binaries (mariadbd)", FileNotFoundError(SERVER))
    root = Path(tempfile.mkdtemp(prefix="conveyor-mytls-"))
    ca, ca_key, ca_name = make_ca("Conveyor MariaDB test CA")
    server = issue(ca_key, ca_name, "localhost")
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    try:
        for name, text in (
            ("ca.pem", ca.certificate),
            ("server.pem", server.certificate),
            ("server-key.pem", server.key),
        ):
            (root / name).write_text(text)
            (root / name).chmod(0o600)
        if os.geteuid() == 0:
            account = pwd.getpwnam("mysql")
            for path in (root, *root.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        subprocess.run(
            [INSTALL, *user, f"--datadir={root / 'data'}", "--skip-test-db",
             "--auth-root-authentication-method=normal"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        port = _free_port()
        process = subprocess.Popen(
            [SERVER, "--no-defaults", *user, f"--datadir={root / 'data'}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--socket={root / 'sock'}",
             f"--pid-file={root / 'pid'}", f"--log-error={root / 'err.log'}",
             f"--ssl-ca={root / 'ca.pem'}", f"--ssl-cert={root / 'server.pem'}",
             f"--ssl-key={root / 'server-key.pem'}", "--require-secure-transport=ON",
             "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _ready(root, process)
            yield MariaTLS(port=port, ca=ca)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
