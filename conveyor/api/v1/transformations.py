"""Routes of /api/v1/transformations."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
from conveyor.schemas.common import Page
from conveyor.schemas.runs import RunOut
from conveyor.schemas.transformations import (
    TransformationCreate,
    TransformationOut,
    TransformationUpdate,
)
from conveyor.services import runs, transformations

router = APIRouter(prefix="/transformations", tags=["transformations"])


@router.get("", response_model=Page[TransformationOut])
def list_transformations(ctx: Ctx, request: Request) -> Page[TransformationOut]:
    return page_of(
        transformations.list_(ctx, request.query_params), lambda t: transformations.to_out(ctx, t)
    )


@router.post("", status_code=201, response_model=TransformationOut)
def create_transformation(ctx: Ctx, body: TransformationCreate) -> TransformationOut:
    return transformations.to_out(ctx, transformations.create(ctx, body))


@router.get("/{transformation_id}", response_model=TransformationOut)
def get_transformation(ctx: Ctx, transformation_id: str) -> TransformationOut:
    return transformations.to_out(ctx, transformations.get(ctx, transformation_id))


@router.patch("/{transformation_id}", response_model=TransformationOut)
def update_transformation(
    ctx: Ctx,
    transformation_id: str,
    body: TransformationUpdate,  # type: ignore[valid-type]
) -> TransformationOut:
    changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return transformations.to_out(ctx, transformations.update(ctx, transformation_id, changes))


@router.delete("/{transformation_id}", status_code=204, response_class=Response)
def delete_transformation(ctx: Ctx, transformation_id: str) -> None:
    transformations.delete(ctx, transformation_id)


@router.post("/{transformation_id}/execute", status_code=202, response_model=RunOut)
def execute_transformation(ctx: Ctx, transformation_id: str) -> RunOut:
    return runs.to_out(transformations.execute(ctx, transformation_id))
