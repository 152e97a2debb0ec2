"""Routes of /api/v1/transformations."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.runs import RunOut
from conveyor.schemas.transformations import (
    TransformationCreate,
    TransformationOut,
    TransformationUpdate,
)
from conveyor.services import runs, transformations

router = APIRouter(route_class=UnitRoute, prefix="/transformations", tags=["transformations"])


add_routes(
    router,
    Collection.of(
        "transformation",
        transformations,
        TransformationOut,
        TransformationCreate,
        TransformationUpdate,
    ),
)


@router.post("/{transformation_id}/execute", status_code=202, response_model=RunOut)
def execute_transformation(ctx: Ctx, transformation_id: str) -> RunOut:
    return runs.to_out(transformations.execute(ctx, transformation_id))
