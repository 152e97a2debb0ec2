"""Routes of /api/v1/users and their tokens (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from conveyor.api.deps import Ctx
from conveyor.api.v1.pages import page_of
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

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserOut])
def list_users(ctx: Ctx, request: Request) -> Page[UserOut]:
    return page_of(users.list_(ctx, request.query_params), users.to_out)


@router.post("", status_code=201, response_model=UserOut)
def create_user(ctx: Ctx, body: UserCreate) -> UserOut:
    return users.to_out(users.create(ctx, body))


@router.get("/{user_id}", response_model=UserOut)
def get_user(ctx: Ctx, user_id: str) -> UserOut:
    return users.to_out(users.get(ctx, user_id))


@router.patch("/{user_id}", response_model=UserOut)
def update_user(ctx: Ctx, user_id: str, body: UserUpdate) -> UserOut:
    return users.to_out(users.update(ctx, user_id, body))


@router.delete("/{user_id}", status_code=204, response_class=Response)
def delete_user(ctx: Ctx, user_id: str) -> None:
    users.delete(ctx, user_id)


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
