"""Routes of /api/v1/transformations."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.deps import Ctx
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.runs import RunOut
from conveyor.schemas.transformations import (
    TransformationCreate,
    TransformationOut,
    TransformationUpdate,
)
from conveyor.services import runs, transformations

router = APIRouter(prefix="/transformations", tags=["transformations"])


add_routes(
    router,
    Collection(
        name="transformation",
        out=TransformationOut,
        fields=transformations.FIELDS,
        list_=transformations.list_,
        get=transformations.get,
        to_out=transformations.to_out,
        create=(TransformationCreate, transformations.create),
        update=(
            TransformationUpdate,
            lambda ctx, item_id, body: transformations.update(
                ctx, item_id, body.model_dump(exclude_unset=True)
            ),
        ),
        delete=transformations.delete,
    ),
)


@router.post("/{transformation_id}/execute", status_code=202, response_model=RunOut)
def execute_transformation(ctx: Ctx, transformation_id: str) -> RunOut:
    return runs.to_out(transformations.execute(ctx, transformation_id))
