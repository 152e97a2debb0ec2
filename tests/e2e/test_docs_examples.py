"""The docs pages' smaller marked examples (Elastic, JSON:API jobs), run as written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.readme import elsewhere, needs_curl, run_block
from tests.e2e.server import running_server


@needs_curl
def test_the_elastic_and_jsonapi_examples_work_as_written(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        here = elsewhere(tmp_path)
        created = json.loads(run_block("elastic", server.url, here))
        assert created == {"result": "created", "id": "orders"}
        connector = server.client.get("/_connector/orders").json()
        assert connector["index_name"] == "orders" and connector["service_type"] == "sqlite"
        jobs = json.loads(run_block("jsonapi-jobs", server.url, here))
        assert jobs["meta"]["count"] == 0 and jobs["data"] == []  # no run failed or was canceled
