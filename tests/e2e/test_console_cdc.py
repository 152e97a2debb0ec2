"""The console's job form on a change data capture job: pointing the job at another
source releases the slot it had on the old one (with no store transaction open while
the source answers, as every surface does)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.e2e.console_support import make_user, post_form, sign_in
from tests.e2e.server import Server
from tests.integration.engine.test_cdc import drop_slots, slots
from tests.services import fresh_pg_database


def test_moving_a_cdc_job_to_another_source_in_the_console_drops_its_slot(
    shared_server: Server, tmp_path: Path
) -> None:
    api = shared_server.client
    with fresh_pg_database("cdc_console") as source, fresh_pg_database("cdc_console2") as other:
        for url in (source, other):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
                conn.execute("INSERT INTO orders VALUES (1, 'a'), (2, 'b')")
        try:
            made = {}
            for name, url in (
                ("console pg", source),
                ("console pg2", other),
                ("console lake", f"duckdb:///{tmp_path / 'lake.duckdb'}"),
            ):
                answer = api.post("/api/v1/connections", json={"name": name, "url": url})
                assert answer.status_code == 201, answer.text
                made[name] = answer.json()["id"]
            job = api.post(
                "/api/v1/jobs",
                json={
                    "name": "console cdc",
                    "type": "change_data_capture",
                    "source_connection_id": made["console pg"],
                    "destination_connection_id": made["console lake"],
                    "queries": ["REPLICATE [orders]"],
                },
            ).json()
            ran = api.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120})
            assert ran.json()["status"] == "completed", ran.text
            assert len(slots(source)) == 1
            browser = sign_in(shared_server, make_user(shared_server, "admin"))
            saved = post_form(
                browser,
                f"/ui/jobs/{job['id']}",
                f"/ui/jobs/{job['id']}",
                name="console cdc",
                source=made["console pg2"],
                destination=made["console lake"],
                export_format="",
                cron="",
            )
            assert saved.status_code == 303, saved.text
            assert "saved=1" in saved.headers["location"]
            assert slots(source) == []
            shown = api.get(f"/api/v1/jobs/{job['id']}").json()
            assert shown["source_connection_id"] == made["console pg2"]
        finally:
            drop_slots(source)
            drop_slots(other)
