"""No secret in any answer or log line: a canary password is planted and searched for."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.server import running_server

URL_CANARY = "Canary-Url-Pw-7f3a9"
OPTION_CANARY = "Canary-Option-5d1c2"


def test_canary_secrets_never_leave_the_server(tmp_path: Path) -> None:
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(response.text)
        seen.append(str(response.headers))
        return response

    with running_server(tmp_path) as server:
        client = server.client
        created = keep(
            client.post(
                "/api/v1/connections",
                json={
                    "name": "vault",
                    "url": f"memory://alice:{URL_CANARY}@vault",
                    "options": {"password": OPTION_CANARY},
                },
            )
        )
        assert created.status_code == 201, created.text
        connection = created.json()
        assert connection["url"] == "memory://alice:***@vault"
        assert connection["options"] == {"password": "***"}
        cid = connection["id"]
        keep(client.get(f"/api/v1/connections/{cid}"))
        keep(client.get("/api/v1/connections"))
        keep(client.post(f"/api/v1/connections/{cid}/test"))
        keep(client.get(f"/api/v1/connections/{cid}/tables"))
        keep(client.get(f"/api/v1/connections/{cid}/tables/missing/columns"))
        # Changing the name (URL sent back masked) keeps the secrets, still hidden.
        patched = keep(
            client.patch(
                f"/api/v1/connections/{cid}",
                json={"name": "vault2", "url": "memory://alice:***@vault"},
            )
        )
        assert patched.status_code == 200 and patched.json()["url"] == "memory://alice:***@vault"
        # A run that fails inside the engine, with the secret URL in hand.
        job = keep(
            client.post(
                "/api/v1/jobs",
                json={
                    "name": "leaky",
                    "source_connection_id": cid,
                    "destination_connection_id": cid,
                    "queries": ["REPLICATE [nope]"],
                },
            )
        ).json()
        run = keep(
            client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 30})
        ).json()
        assert run["status"] == "error", run
        keep(client.get(f"/api/v1/runs/{run['id']}"))
        keep(client.get(f"/api/v1/runs/{run['id']}/logs", params={"limit": 1000}))
        keep(client.get(f"/api/v1/jobs/{job['id']}"))
        keep(client.get(f"/api/v1/jobs/{job['id']}/status"))
        keep(client.get("/api/v1/runs"))
        keep(client.get("/openapi.json"))
        output = server.log_text()
        store = (server.data_dir / "conveyor.db").read_bytes()

    assert output.strip(), "the server's log output was captured"
    for canary in (URL_CANARY, OPTION_CANARY):
        for text in seen:
            assert canary not in text
        assert canary not in output
        assert canary.encode() not in store, "secrets are stored encrypted"
