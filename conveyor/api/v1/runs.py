"""Routes of /api/v1/runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.runs import RunLogOut, RunOut
from conveyor.services import runs

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("", response_model=Page[RunOut])
def list_runs(ctx: Ctx, request: Request) -> Page[RunOut]:
    return page_of(runs.list_(ctx, request.query_params), runs.to_out)


@router.get("/{run_id}", response_model=RunOut)
def get_run(ctx: Ctx, run_id: str) -> RunOut:
    return runs.to_out(runs.get(ctx, run_id))


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(ctx: Ctx, run_id: str) -> None:
    runs.delete(ctx, run_id)


@router.post("/{run_id}/cancel", status_code=202, response_model=RunOut)
def cancel_run(ctx: Ctx, run_id: str) -> RunOut:
    return runs.to_out(runs.cancel(ctx, run_id))


@router.get("/{run_id}/logs", response_model=Page[RunLogOut])
def run_logs(ctx: Ctx, run_id: str, request: Request) -> Page[RunLogOut]:
    return page_of(runs.logs(ctx, run_id, request.query_params), RunLogOut.model_validate)
