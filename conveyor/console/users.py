"""User pages (admins): the users, a new user with a password, and each user's tokens —
issue one (its value shown once) or revoke one (a console session too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from conveyor.console.web import Page, Posted, Signed, field_values, redirect
from conveyor.domain import Role
from conveyor.errors import ConveyorError, InvalidInput
from conveyor.schemas.users import TokenCreate, TokenOut, UserCreate
from conveyor.services import users
from conveyor.services.context import Context

router = APIRouter(prefix="/ui/users")
ROLES = tuple(role.value for role in Role)


def _list(page: Page, status_code: int = 200, **values: Any) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        found = users.list_(ctx, {"sort": "name", "limit": "1000"})
        shown = [users.to_out(user) for user in found.rows]
    return page.render("users.html", status_code, users=shown, roles=ROLES, **values)


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def list_users(page: Signed) -> HTMLResponse:
    """Every user, and the form for a new one (admins only, as in the API)."""
    return page.shown(lambda: _list(page, values={"name": "", "role": Role.standard.value}))


@router.post("", include_in_schema=False)
def create_user(page: Posted) -> Response:
    """Create a user with a role and (optionally) a password."""
    values = field_values(page.form, "name", "role")
    password = page.form.get("password", "")
    try:
        data = UserCreate(name=values["name"], role=Role(values["role"]), password=password or None)
        with page.unit() as ctx:
            user_id = users.create(ctx, data).id
    except (ValidationError, ValueError) as exc:
        error = (
            InvalidInput.from_validation(exc).message
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        return _refused(page, 422, values, error)
    except ConveyorError as exc:
        return _refused(page, exc.status_code, values, exc.message)
    return redirect(f"/ui/users/{user_id}")


def _refused(page: Page, status_code: int, values: dict[str, str], error: str) -> Response:
    """The list again with the refusal (or the refusal alone when the caller may not see it)."""
    return page.shown(lambda: _list(page, status_code, values=values, error=error))


def _user(page: Page, user_id: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    with page.unit(read_only=True) as ctx:
        user = users.to_out(users.get(ctx, user_id))
        tokens = [TokenOut.model_validate(token) for token in users.tokens(ctx, user_id)]
    return page.render("user.html", status_code, user=user, tokens=tokens, **values)


@router.get("/{user_id}", response_class=HTMLResponse, include_in_schema=False)
def show_user(page: Signed, user_id: str) -> HTMLResponse:
    """A user and their tokens (never a token's value)."""
    return page.shown(lambda: _user(page, user_id))


@router.post("/{user_id}/tokens", include_in_schema=False)
def issue_token(page: Posted, user_id: str) -> Response:
    """Issue a token: its value is on this answer only."""
    name = page.form.get("name", "").strip()
    try:
        with page.unit() as ctx:
            created = users.create_token(ctx, user_id, TokenCreate(name=name))
        return _user(page, user_id, 201, created=created)
    except ValidationError as exc:
        return _user(page, user_id, 422, error=InvalidInput.from_validation(exc).message)
    except ConveyorError as exc:
        return page.fail(exc)


@router.post("/{user_id}/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_token(page: Posted, user_id: str, token_id: str) -> Response:
    """Revoke a token (a console session signed in with it ends)."""

    def revoke(ctx: Context) -> str:
        users.revoke_token(ctx, user_id, token_id)
        return f"/ui/users/{user_id}"

    return page.act(revoke)
