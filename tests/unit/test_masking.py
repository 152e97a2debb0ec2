"""A run masks its own secrets — its two connections' — everywhere it speaks, and no others."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.connectors.base import Connector
from conveyor.crypto import Redactor
from conveyor.domain import EngineSettings, JobEvent, RunLoad, RunStatus
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.errors import SourceUnavailable
from conveyor.logging import JsonFormatter, TextFormatter, bind, redacting
from conveyor.policy import Reach

SOURCE_PW = "src-Pw-4417"
QUERY_PW = "qry-Pw-8093"
OPTION_SECRET = "opt-Tok-2250"
HOOK_SECRET = "hook-Sig-6612"
OTHER = "zebra42"  # another workspace's password: never masked here


@pytest.fixture
def captured() -> Iterator[dict[str, io.StringIO]]:
    """What Conveyor's two formatters write for lines logged by this test's code."""
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = []
    for name, formatter in (("text", TextFormatter()), ("json", JsonFormatter())):
        handler = logging.StreamHandler(streams[name])
        handler.setFormatter(formatter)
        handlers.append(handler)
    logger = logging.getLogger("conveyor.tests.masking")
    logger.setLevel(logging.DEBUG)
    for handler in handlers:
        logger.addHandler(handler)
    yield streams
    for handler in handlers:
        logger.removeHandler(handler)


def _spec(pre_job_event: JobEvent | None = None) -> RunSpec:
    return RunSpec(
        run_id="run-1",
        job_id="job-1",
        job_name="job",
        job_type="standard",
        load=RunLoad.full,
        settings=EngineSettings(verbosity=5),  # every line: the tracebacks are debug lines
        source=Endpoint(f"postgresql://ann:{SOURCE_PW}@h/db", name="src"),
        destination=Endpoint(
            f"postgresql://bob@h/dw?sslmode=require&password={QUERY_PW}",
            {"api_token": OPTION_SECRET, "timeout": 5},
            name="dst",
        ),
        tasks=(TaskSpec(id="t1", position=1, query="REPLICATE [orders]"),),
        pre_job_event=pre_job_event,
    )


def test_a_runs_error_log_lines_and_logged_lines_mask_its_own_secrets_only(
    captured: dict[str, io.StringIO],
) -> None:
    said = f"password for {SOURCE_PW}/{QUERY_PW}/{OPTION_SECRET}; database '{OTHER}' is gone"

    def failing_opener(url: str, options: dict[str, Any], reach: Reach) -> Connector:
        logging.getLogger("conveyor.tests.masking").warning("opening: %s", said)
        raise SourceUnavailable(said)

    reporter = NullReporter()
    outcome = runner.execute(_spec(), reporter, threading.Event(), failing_opener)
    expected = f"password for ***/***/***; database '{OTHER}' is gone"
    assert outcome.status is RunStatus.error and outcome.error == expected
    assert ("error", expected, None) in reporter.lines
    for stream in captured.values():
        logged = stream.getvalue()
        assert "opening: " in logged and OTHER in logged
        assert SOURCE_PW not in logged and QUERY_PW not in logged and OPTION_SECRET not in logged
    json.loads(captured["json"].getvalue().splitlines()[0])


def test_unexpected_failures_and_their_tracebacks_are_masked_with_the_runs_secrets() -> None:
    def opener(url: str, options: dict[str, Any], reach: Reach) -> Connector:
        raise RuntimeError(f"driver said {SOURCE_PW} and {OTHER}")

    reporter = NullReporter()
    outcome = runner.execute(_spec(), reporter, threading.Event(), opener)
    assert outcome.error == f"RuntimeError: driver said *** and {OTHER}"
    debug = [message for level, message, _ in reporter.lines if level == "debug"]
    assert debug and "Traceback" in debug[0] and SOURCE_PW not in debug[0]


def test_lines_logged_in_a_block_are_masked_with_its_redactor_and_only_inside(
    captured: dict[str, io.StringIO],
) -> None:
    logger = logging.getLogger("conveyor.tests.masking")
    with bind(run_id="r1"), redacting(Redactor.of("outer-secret-1")):
        with redacting(Redactor.of("inner-secret-2")):
            logger.info("both: outer-secret-1 inner-secret-2")
        logger.info("outer only: outer-secret-1 inner-secret-2")
    logger.info("outside: outer-secret-1 postgresql://u:url-pw@h/db")
    lines = captured["text"].getvalue().splitlines()
    assert lines[0].split(": ", 1)[1].startswith("both: *** ***")
    assert "outer only: *** inner-secret-2" in lines[1]
    assert "outside: outer-secret-1 postgresql://u:***@h/db" in lines[2]


def test_reprs_never_show_a_query_password_an_option_or_an_event_secret() -> None:
    spec = _spec(JobEvent(url="http://127.0.0.1:9/hook", secret=HOOK_SECRET))
    shown = repr(spec)
    for secret in (SOURCE_PW, QUERY_PW, OPTION_SECRET, HOOK_SECRET):
        assert secret not in shown
    assert "password=***" in shown and "ann:***@h" in shown
    assert spec.redactor.redact(f"{HOOK_SECRET} {QUERY_PW} {OTHER}") == f"*** *** {OTHER}"
