"""Shapes shared by every resource: strict input models, pages, partial updates."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """An input body: unknown fields are refused (422), never silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OutModel(BaseModel):
    """A response body, read from ORM objects or dicts."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class Ref(OutModel):
    """Something found by its id or name: enough to name it and to call a service on it."""

    id: str
    name: str
    workspace_id: str


class Page(BaseModel, Generic[T]):
    """One page of a list: `{"items", "total", "limit", "offset"}`."""

    items: list[T]
    total: int
    limit: int
    offset: int


def partial(model: type[M], name: str, exclude: frozenset[str] = frozenset()) -> type[M]:
    """The same fields, all optional: the body of a PATCH (only fields sent are applied)."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            continue
        # The field's constraints and validators go with its type, not with the optional:
        # a validator on `str | None` would be called with the None a PATCH may send.
        kept = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        optional = FieldInfo.merge_field_infos(info, default=None, default_factory=None)
        optional.metadata = []
        fields[field_name] = (kept | None, optional)  # type: ignore[operator]
    partial_model = create_model(  # type: ignore[call-overload]
        name,
        __config__=ConfigDict(extra="forbid", populate_by_name=True),
        __doc__=f"A partial update of {model.__name__}: only the fields sent change.",
        **fields,
    )
    return partial_model  # type: ignore[no-any-return,return-value]
