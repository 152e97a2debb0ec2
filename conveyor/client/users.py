"""Users and their API tokens (admins only).

ana = client.users.create(name="ana", role="viewer")
created = client.users.create_token(ana.id, name="laptop", expires_in_days=30)
print(created.token)  # shown this once
"""

from __future__ import annotations

import builtins
from typing import Any

from conveyor.client.collection import AsyncCollection, Calls, Collection
from conveyor.client.transport import Call, body, model, nothing
from conveyor.schemas.users import TokenCreated, TokenOut, UserOut


def _tokens(answer: Any) -> builtins.list[TokenOut]:
    return [TokenOut.model_validate(item) for item in answer["items"]]


class UserCalls(Calls[UserOut]):
    """The requests of `/api/v1/users` and their tokens."""

    path = "/api/v1/users"
    out = UserOut

    def tokens_call(self, user: str) -> Call[builtins.list[TokenOut]]:
        return Call("GET", f"{self.path}/{user}/tokens", _tokens)

    def create_token_call(self, user: str, fields: dict[str, Any]) -> Call[TokenCreated]:
        return Call(
            "POST", f"{self.path}/{user}/tokens", model(TokenCreated), json=body(None, fields)
        )

    def revoke_token_call(self, user: str, token: str) -> Call[None]:
        return Call("DELETE", f"{self.path}/{user}/tokens/{token}", nothing)


def _token_fields(name: str, expires_in_days: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": name}
    if expires_in_days is not None:
        fields["expires_in_days"] = expires_in_days
    return fields


class Users(UserCalls, Collection[UserOut]):
    """`client.users`: list, get, create, update, delete, and each user's tokens."""

    def tokens(self, user: str) -> builtins.list[TokenOut]:
        """A user's tokens (never their values)."""
        return self._t.call(self.tokens_call(user))

    def create_token(
        self, user: str, *, name: str = "", expires_in_days: int | None = None
    ) -> TokenCreated:
        """A new token for a user: its value is in the answer, and only there."""
        return self._t.call(self.create_token_call(user, _token_fields(name, expires_in_days)))

    def revoke_token(self, user: str, token: str) -> None:
        """Revoke a token: requests carrying it are refused from now on."""
        self._t.call(self.revoke_token_call(user, token))


class AsyncUsers(UserCalls, AsyncCollection[UserOut]):
    """`AsyncClient.users`: `Users`' methods, awaited."""

    async def tokens(self, user: str) -> builtins.list[TokenOut]:
        """A user's tokens (never their values)."""
        return await self._t.call(self.tokens_call(user))

    async def create_token(
        self, user: str, *, name: str = "", expires_in_days: int | None = None
    ) -> TokenCreated:
        """A new token for a user: its value is in the answer, and only there."""
        fields = _token_fields(name, expires_in_days)
        return await self._t.call(self.create_token_call(user, fields))

    async def revoke_token(self, user: str, token: str) -> None:
        """Revoke a token."""
        await self._t.call(self.revoke_token_call(user, token))
