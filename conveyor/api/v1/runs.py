"""Routes of /api/v1/runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api import downloads
from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.files import FileOut
from conveyor.schemas.runs import RunLogOut, RunOut
from conveyor.services import files, run_retry, runs

router = APIRouter(route_class=UnitRoute, prefix="/runs", tags=["runs"])


add_routes(router, Collection.of("run", runs, RunOut, sort="created_at"))


@router.post("/{run_id}/cancel", status_code=202, response_model=RunOut)
def cancel_run(ctx: Ctx, run_id: str) -> RunOut:
    return runs.to_out(runs.cancel(ctx, run_id))


@router.post(
    "/{run_id}/retry",
    status_code=201,
    response_model=RunOut,
    responses={
        409: {
            "description": "The run is active or completed: only failed or canceled "
            "runs are retried."
        }
    },
)
def retry_run(ctx: Ctx, run_id: str, response: Response) -> RunOut:
    """A new run doing what a failed or canceled run did (its tasks, job type, priority and
    format), triggered `retry`."""
    run = runs.to_out(run_retry.retry(ctx, run_id))
    response.headers["Location"] = f"/api/v1/runs/{run.id}"
    return run


@router.get("/{run_id}/logs", response_model=Page[RunLogOut])
def run_logs(ctx: Ctx, run_id: str, request: Request) -> Page[RunLogOut]:
    return page_of(runs.logs(ctx, run_id, request.query_params), runs.log_out)


@router.get("/{run_id}/files", response_model=Page[FileOut])
def run_files(ctx: Ctx, run_id: str, request: Request) -> Page[FileOut]:
    return page_of(files.list_(ctx, request.query_params, run_id), files.to_out)


@router.get(
    "/{run_id}/download",
    response_class=Response,
    responses=downloads.responses(
        "The run's one file as it is, or a ZIP of its files.",
        {409: "The run has not completed (or failed): no result yet."},
    ),
)
def download_run(rt: RT, caller: Caller, run_id: str, zip: bool = False) -> Response:
    """The run's result; `?zip=true` gives a ZIP even for a single file."""
    # Ends before the bytes go out: no transaction is open while sending.
    with rt.unit(caller, read_only=True) as ctx:
        download = files.download_run(ctx, run_id, archive=zip)
    return downloads.send(download)
