"""Routes of /api/v1/pipelines and /api/v1/pipeline-runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.pipelines import (
    PipelineCreate,
    PipelineOut,
    PipelineRunOut,
    PipelineUpdate,
)
from conveyor.services import pipeline_runs, pipelines

router = APIRouter(route_class=UnitRoute, prefix="/pipelines", tags=["pipelines"])
runs_router = APIRouter(route_class=UnitRoute, prefix="/pipeline-runs", tags=["pipelines"])


add_routes(
    router, Collection.of("pipeline", pipelines, PipelineOut, PipelineCreate, PipelineUpdate)
)
add_routes(
    runs_router,
    Collection.of("pipeline_run", pipeline_runs, PipelineRunOut, delete=False, sort="-created_at"),
)


@router.post(
    "/{pipeline_id}/runs",
    status_code=202,
    response_model=PipelineRunOut,
    summary="Run a pipeline",
    responses={409: {"description": "The pipeline already has a run under way."}},
)
def run_pipeline(ctx: Ctx, pipeline_id: str, response: Response) -> PipelineRunOut:
    """Start a pipeline run (202): its first steps are queued, the others follow as their
    predecessors complete."""
    started = pipeline_runs.to_out(ctx, pipeline_runs.start(ctx, pipeline_id))
    response.headers["Location"] = f"/api/v1/pipeline-runs/{started.id}"
    return started


@router.get("/{pipeline_id}/runs", response_model=Page[PipelineRunOut], summary="A pipeline's runs")
def pipeline_history(ctx: Ctx, pipeline_id: str, request: Request) -> Page[PipelineRunOut]:
    """The pipeline's runs, newest first, each with its steps' statuses and run ids."""
    return page_of(
        pipeline_runs.history(ctx, pipeline_id, request.query_params),
        lambda found: pipeline_runs.to_out(ctx, found),
    )


@router.post(
    "/{pipeline_id}/cancel",
    status_code=202,
    response_model=PipelineRunOut,
    summary="Cancel a pipeline's run under way",
)
def cancel_pipeline(ctx: Ctx, pipeline_id: str) -> PipelineRunOut:
    """Cancel the pipeline's run under way (409 when there is none)."""
    return pipeline_runs.to_out(ctx, pipeline_runs.cancel_pipeline(ctx, pipeline_id))


@runs_router.post(
    "/{pipeline_run_id}/cancel",
    status_code=202,
    response_model=PipelineRunOut,
    summary="Cancel a pipeline run",
)
def cancel_pipeline_run(ctx: Ctx, pipeline_run_id: str) -> PipelineRunOut:
    """Cancel a pipeline run: its running steps are canceled, its waiting steps skipped,
    and nothing further starts (409 once it has ended)."""
    return pipeline_runs.to_out(ctx, pipeline_runs.cancel(ctx, pipeline_run_id))
