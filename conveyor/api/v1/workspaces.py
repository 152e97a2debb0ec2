"""Routes of /api/v1/workspaces."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.workspaces import WorkspaceCreate, WorkspaceOut, WorkspaceUpdate
from conveyor.services import workspaces

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.get("", response_model=Page[WorkspaceOut])
def list_workspaces(ctx: Ctx, request: Request) -> Page[WorkspaceOut]:
    return page_of(workspaces.list_(ctx, request.query_params), lambda w: workspaces.to_out(ctx, w))


@router.post("", status_code=201, response_model=WorkspaceOut)
def create_workspace(ctx: Ctx, body: WorkspaceCreate) -> WorkspaceOut:
    return workspaces.to_out(ctx, workspaces.create(ctx, body))


@router.get("/{workspace_id}", response_model=WorkspaceOut)
def get_workspace(ctx: Ctx, workspace_id: str) -> WorkspaceOut:
    return workspaces.to_out(ctx, workspaces.get(ctx, workspace_id))


@router.patch("/{workspace_id}", response_model=WorkspaceOut)
def update_workspace(ctx: Ctx, workspace_id: str, body: WorkspaceUpdate) -> WorkspaceOut:
    return workspaces.to_out(ctx, workspaces.update(ctx, workspace_id, body))


@router.delete("/{workspace_id}", status_code=204, response_class=Response)
def delete_workspace(ctx: Ctx, workspace_id: str) -> None:
    workspaces.delete(ctx, workspace_id)
