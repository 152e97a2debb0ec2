"""Routes of /api/v1/users and their tokens (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from conveyor.api.deps import Ctx, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.common import Page
from conveyor.schemas.users import (
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from conveyor.services import users

router = APIRouter(route_class=UnitRoute, prefix="/users", tags=["users"])


add_routes(router, Collection.of("user", users, UserOut, UserCreate, UserUpdate))


@router.get("/{user_id}/tokens", response_model=Page[TokenOut])
def list_tokens(ctx: Ctx, user_id: str) -> Page[TokenOut]:
    items = [TokenOut.model_validate(t) for t in users.tokens(ctx, user_id)]
    return Page(items=items, total=len(items), limit=len(items), offset=0)


@router.post("/{user_id}/tokens", status_code=201, response_model=TokenCreated)
def create_token(ctx: Ctx, user_id: str, body: TokenCreate | None = None) -> TokenCreated:
    return users.create_token(ctx, user_id, body or TokenCreate())


@router.delete("/{user_id}/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(ctx: Ctx, user_id: str, token_id: str) -> None:
    users.revoke_token(ctx, user_id, token_id)
