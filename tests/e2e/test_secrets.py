"""No secret in any answer or log line: a canary password is planted and searched for."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.server import running_server
from tests.services import fresh_pg_database

URL_CANARY = "Canary-Url-Pw-7f3a9"
OPTION_CANARY = "Canary-Option-5d1c2"


def test_canary_secrets_never_leave_the_server(tmp_path: Path) -> None:
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(response.text)
        seen.append(str(response.headers))
        return response

    with running_server(tmp_path) as server, fresh_pg_database("conveyor_canary") as scratch:
        database = scratch.rsplit("/", 1)[1]
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
        # A real server connection with the canary as its password (trust auth takes it),
        # a successful copy through it, and a failing one whose driver error names the URL.
        pg = keep(
            client.post(
                "/api/v1/connections",
                json={
                    "name": "pg",
                    "url": f"postgresql://postgres:{URL_CANARY}@127.0.0.1:5432/{database}",
                },
            )
        ).json()
        dead = keep(
            client.post(
                "/api/v1/connections",
                json={
                    "name": "dead",
                    "url": f"postgresql://postgres:{URL_CANARY}@127.0.0.1:1/x",
                    "options": {"connect_timeout": 1},
                },
            )
        ).json()
        keep(client.post(f"/api/v1/connections/{pg['id']}/test"))
        keep(client.post(f"/api/v1/connections/{dead['id']}/test"))
        keep(client.get(f"/api/v1/connections/{pg['id']}/tables"))
        for name, target in (("pg-ok", pg["id"]), ("pg-dead", dead["id"])):
            made = keep(
                client.post(
                    "/api/v1/jobs",
                    json={
                        "name": name,
                        "source_connection_id": pg["id"],
                        "destination_connection_id": target,
                        "queries": [
                            "REPLICATE [canary_copy] SELECT 1 AS one FROM pg_class LIMIT 1"
                        ],
                    },
                )
            ).json()
            done = keep(
                client.post(
                    f"/api/v1/jobs/{made['id']}/execute", json={"wait": True, "timeout": 60}
                )
            ).json()
            keep(client.get(f"/api/v1/runs/{done['id']}/logs", params={"limit": 1000}))
        assert done["status"] == "error"
        output = server.log_text()
        store = (server.data_dir / "conveyor.db").read_bytes()

    assert output.strip(), "the server's log output was captured"
    for canary in (URL_CANARY, OPTION_CANARY):
        for text in seen:
            assert canary not in text
        assert canary not in output
        assert canary.encode() not in store, "secrets are stored encrypted"
