"""The conveyor.yaml format: errors name the line and path; the schema shipped is current."""

from __future__ import annotations

import json

import pytest

from conveyor.manifest import SCHEMA_FILE, ManifestError, json_schema, load

GOOD = """\
version: 1
connections:
  - name: pg
    url: postgresql://sync:${PG_PASSWORD}@db/shop
jobs:
  - name: orders
    source: pg
    export_format: parquet
    schedule: {enabled: true, cron: "0 * * * *"}
    tasks:
      - REPLICATE [orders]
"""


def test_the_published_schema_is_the_models() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()


def test_references_are_filled_from_the_environment() -> None:
    text = GOOD.replace(
        "      - REPLICATE [orders]", "      - REPLICATE [o] SELECT '$$${x}' AS d FROM [orders]"
    )
    manifest = load(text, "conveyor.yaml", {"PG_PASSWORD": "s3cret$"})
    assert manifest.connections[0].url == "postgresql://sync:s3cret$@db/shop"
    assert manifest.jobs[0].tasks == ["REPLICATE [o] SELECT '$${x}' AS d FROM [orders]"]


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (("    export_format: parquet\n", "    export_format: parquet\n    colour: blue\n"),
         "conveyor.yaml:9: jobs[0].colour: unknown field"),
        (('cron: "0 * * * *"', "cron: 7"), "conveyor.yaml:9: jobs[0].schedule.cron:"),
        (("tasks:\n      - REPLICATE [orders]", "tasks: REPLICATE [orders]"),
         "conveyor.yaml:10: jobs[0].tasks: Input should be a valid list"),
        (("    source: pg\n", "    source: pg\n    source_connection_id: x\n"),
         "conveyor.yaml:6: jobs[0]: Value error, source_connection_id is not used in a file"),
        (("${PG_PASSWORD}", "${MISSING_ONE}"),
         "conveyor.yaml:4: connections[0].url: ${MISSING_ONE} is not set"),
        (("  - name: orders", "  - name: [orders"),
         "conveyor.yaml:7: not valid YAML: expected ',' or ']', but got ':' "
         "(while parsing a flow sequence begun on line 6)"),
    ],
)  # fmt: skip
def test_a_mistake_names_its_line_and_path(edit: tuple[str, str], said: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(ManifestError) as refused:
        load(text, "conveyor.yaml", {"PG_PASSWORD": "x"})
    assert said in refused.value.message, refused.value.message
