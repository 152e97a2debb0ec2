"""A real server with users of every role in two workspaces, for the security suite.

Workspace A has a standard user (sam) and a viewer (vic); workspace B has a standard user
(bea). The admin sees everything. Each test attacks as one of them, the way the issue that
asked for this suite did, and checks that it is refused and that nothing leaked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.server import ADMIN_TOKEN, Server, running_server


@dataclass
class Tenant:
    """A user of the server and their client."""

    name: str
    role: str
    workspace_id: str | None
    token: str
    client: httpx.Client

    def connect(self, url: str, name: str | None = None, **extra: Any) -> httpx.Response:
        """Create a connection in the user's workspace."""
        body = {"name": name or f"c-{time.monotonic_ns()}", "url": url, **extra}
        if self.workspace_id:
            body["workspace_id"] = self.workspace_id
        return self.client.post("/api/v1/connections", json=body)


@dataclass
class Site:
    """The server, its data directory, its two workspaces and its users."""

    server: Server
    data_dir: Path
    workspaces: dict[str, dict[str, Any]]
    users: dict[str, Tenant] = field(default_factory=dict)

    @property
    def admin(self) -> Tenant:
        return self.users["admin"]

    def folder(self, workspace: str) -> Path:
        """A workspace's own folder."""
        return Path(self.workspaces[workspace]["folder"])

    def add_user(self, name: str, role: str, workspace: str) -> Tenant:
        admin = self.admin.client
        workspace_id = self.workspaces[workspace]["id"]
        user = admin.post(
            "/api/v1/users",
            json={"name": name, "role": role, "workspace_ids": [workspace_id]},
        ).json()
        token = admin.post(
            f"/api/v1/users/{user['id']}/tokens", json={"expires_in_days": 7}
        ).json()["token"]
        tenant = Tenant(name, role, workspace_id, token, self.client_for(token))
        self.users[name] = tenant
        return tenant

    def client_for(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def run(self, who: Tenant, job_id: str) -> dict[str, Any]:
        """Execute a job as `who` and wait for the run to end."""
        answer = who.client.post(f"/api/v1/jobs/{job_id}/execute", json={})
        assert answer.status_code in (200, 201, 202), answer.text
        return self.server.wait_run(answer.json()["id"])

    def logs(self, run_id: str) -> str:
        lines = self.admin.client.get(f"/api/v1/runs/{run_id}/logs?limit=1000").json()["items"]
        return "\n".join(line["message"] for line in lines)


def site(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Site]:
    """Start a server and populate it: workspaces a and b, users sam, vic (a) and bea (b)."""
    with running_server(tmp_path, env=env) as server:
        admin = Tenant("admin", "admin", None, ADMIN_TOKEN, server.client)
        workspaces = {
            name: server.client.post("/api/v1/workspaces", json={"name": name}).json()
            for name in ("a", "b")
        }
        found = Site(server, server.data_dir.resolve(), workspaces, {"admin": admin})
        found.add_user("sam", "standard", "a")
        found.add_user("vic", "viewer", "a")
        found.add_user("bea", "standard", "b")
        try:
            yield found
        finally:
            for tenant in found.users.values():
                if tenant.client is not server.client:
                    tenant.client.close()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert a problem answer with that status; its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body: dict[str, Any] = response.json()
    return body
