"""What a connection, an event URL or a SQL statement may reach: one policy, decided here.

Roles and workspaces are checked at the API; this module carries them below it. Services
ask `Policy` for the `Reach` of whatever they are about to store or open — a connection
configured by an admin or not, in a workspace with its own folder and allowed paths — and
the `Reach` travels with the connection (it is a plain value: it crosses into a run's
process inside an `Endpoint`). Connectors call `Reach.check_path` on the file they are
about to open, after symlinks and `..` are resolved, and `Reach.addresses` on the host
they are about to connect to, so the decision holds at the moment of use: a symlink made
later or a DNS answer that changed (rebinding) is caught where it matters.

The rules:
- paths: Conveyor's data directory (metadata store, secret key, artifacts, other
  workspaces' folders) is refused for everyone; a workspace's own folder under it is open
  to that workspace; admins may use any other path; everyone else only paths under
  `CONVEYOR_ALLOWED_PATHS` or the workspace's `allowed_paths`.
- hosts (`hosts.HostRules`): `CONVEYOR_DENIED_HOSTS` are refused for everyone (a denied
  name also denies the addresses it resolves to); `CONVEYOR_ALLOWED_HOSTS` are allowed for
  everyone; link-local, reserved and cloud metadata addresses are refused unless their
  address (or a CIDR holding it) is listed — a listed name does not open them; loopback
  and private addresses need a listing for anyone but an admin. A host is read as the C
  resolver reads it: `127.1`, `0x7f.1` and `2130706433` are 127.0.0.1, `::ffff:127.0.0.1`
  is too.
- SQL on an embedded engine (DuckDB, SQLite) stays inside that connection's database
  unless an admin set `allow_external_access` on the connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import InvalidInput, PermissionDenied
from conveyor.policy.hosts import HostRefused, HostRules, check_host_list

if TYPE_CHECKING:
    from conveyor.config import Settings

__all__ = [
    "HostRefused",
    "PathRefused",
    "Policy",
    "Reach",
    "StatementRefused",
    "check_host_list",
    "resolve_path",
    "statement_refused",
]


class PathRefused(PermissionDenied):
    """This path is outside what the connection may reach."""


class StatementRefused(PermissionDenied):
    """This statement would reach outside the connection's database."""


def _within(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` or inside it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_path(path: str | os.PathLike[str]) -> str:
    """The absolute path with every symlink and `..` resolved (missing tails kept as written).

    A NUL character is refused (422): no file name holds one, and the OS calls that
    resolve a path raise on it rather than answer.
    """
    text = os.fspath(path)
    if "\0" in text:
        raise InvalidInput(f"the path {text!r} contains a NUL character")
    return os.path.realpath(os.path.abspath(text))


@dataclass(frozen=True)
class Reach:
    """Where one connection (or one event URL) may go: paths, hosts, and embedded SQL.

    The default is a trusted caller's reach (a library user, a test): everything. Every
    connection a service opens gets one from `Policy` instead.
    """

    denied_roots: tuple[str, ...] = ()
    """Resolved paths nobody may use (the data directory, the metadata store)."""
    open_roots: tuple[str, ...] = ()
    """Resolved folders inside a denied root that this reach may use (its workspace's)."""
    allowed_roots: tuple[str, ...] | None = None
    """Resolved folders this reach may use; None: any path that is not denied."""
    allowed_hosts: tuple[str, ...] = ()
    denied_hosts: tuple[str, ...] = ()
    private_network: bool = True
    """Loopback and private addresses are allowed without an allow-list entry."""
    external_access: bool = True
    """SQL on an embedded engine may leave the connection's own database."""
    roots_hint: str = field(default="", compare=False)
    """How to name the allowed roots in a refusal (the settings that define them)."""

    # --- paths ----------------------------------------------------------------------------

    def check_path(self, path: str | os.PathLike[str], what: str = "path") -> str:
        """The resolved path, or `PathRefused` (403) naming the roots this reach may use."""
        shown = os.fspath(path)
        real = resolve_path(path)
        if any(_within(real, root) for root in self.open_roots):
            return real
        if any(_within(real, root) for root in self.denied_roots):
            raise PathRefused(
                f"{what} {shown!r} is inside Conveyor's data directory, which no connection may "
                f"use{self._roots_sentence()}",
                path=shown,
                allowed_roots=self.roots,
            )
        if self.allowed_roots is None or any(_within(real, r) for r in self.allowed_roots):
            return real
        raise PathRefused(
            f"{what} {shown!r} is outside the folders this workspace may use"
            f"{self._roots_sentence()}",
            path=shown,
            allowed_roots=self.roots,
        )

    def make_folder(self, path: str | os.PathLike[str], what: str = "folder") -> str:
        """Create a folder and the missing folders above it; its resolved path.

        Each folder to be made is vetted first, so one outside the reach is refused
        (`PathRefused`, 403) and none is made.
        """
        real = self.check_path(path, what)
        missing: list[str] = []
        folder = real
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            self.check_path(folder, what)
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder)
        return real

    @property
    def roots(self) -> list[str]:
        """The folders this reach may use, for messages (None in `allowed_roots`: any)."""
        return [*self.open_roots, *(self.allowed_roots or ())]

    def _roots_sentence(self) -> str:
        if self.allowed_roots is None:
            return ""
        roots = ", ".join(self.roots) or "none"
        hint = f" ({self.roots_hint})" if self.roots_hint else ""
        return f"; allowed roots: {roots}{hint}"

    # --- hosts ----------------------------------------------------------------------------

    @property
    def _hosts(self) -> HostRules:
        return HostRules(self.allowed_hosts, self.denied_hosts, self.private_network)

    def check_host(self, host: str) -> None:
        """Refuse a host by what its name or literal address says, without resolving it.

        For checks when a connection or a URL is stored; `addresses` decides again, on
        what the name resolves to, right before connecting.
        """
        self._hosts.check(host)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` this reach may connect to, resolved now; `HostRefused` if none.

        Connect to these addresses, not to the name: a second lookup could answer
        differently (DNS rebinding). A refusal is raised before any packet is sent to the
        host, so it reads the same whatever listens (or not) there — on any `port`: the
        decision is about the host alone.
        """
        return self._hosts.addresses(host)

    # --- the server's own credentials ------------------------------------------------------

    @property
    def server_credentials(self) -> bool:
        """Whether drivers may fall back on credentials of the account Conveyor runs as
        (`~/.pgpass`, `~/.postgresql/` client certificates, `PGPASSWORD`). Only an admin's
        connections may: anyone else's would sign in with the operator's secrets."""
        return self.private_network

    # --- SQL on embedded engines ----------------------------------------------------------

    def check_statement_reach(self, refusal: str | None) -> None:
        """Raise `StatementRefused` with an engine's reason unless external access is on."""
        if refusal is not None and not self.external_access:
            raise statement_refused(refusal)


def statement_refused(refusal: str) -> StatementRefused:
    """The 403 for SQL that would leave its connection's database, saying how to opt in.

    For refusals an engine makes itself (DuckDB with external access off answers a
    permission error), so they read like the ones `Reach.check_statement_reach` makes.
    """
    return StatementRefused(
        f"{refusal}; SQL on this connection stays inside its own database "
        "(an admin may set allow_external_access on the connection)"
    )


# --- the server's policy ------------------------------------------------------------------


class Policy:
    """The server's policy: turns who configured what, and where, into a `Reach`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data_dir = resolve_path(settings.data_dir)
        denied = [data_dir]
        store = _sqlite_store_file(settings.metadata_url)
        if store is not None and not _within(store, data_dir):
            denied += [store + suffix for suffix in ("", "-wal", "-shm", "-journal")]
        self.data_dir = data_dir
        self.denied_roots = tuple(denied)
        self.allowed_roots = tuple(resolve_path(p) for p in settings.allowed_paths)

    def check_root(self, path: str, field: str) -> str:
        """An allowed root an admin gives (resolved), or 422: absolute, outside the data dir."""
        if not os.path.isabs(path):
            raise InvalidInput(f"{path!r} is not an absolute path", field=field)
        real = resolve_path(path)
        if any(_within(real, root) for root in self.denied_roots):
            raise InvalidInput(
                f"{path!r} is inside Conveyor's data directory, which no connection may use",
                field=field,
            )
        return real

    def workspace_folder(self, workspace_id: str) -> Path:
        """The folder a workspace's members may always use (made when first asked for)."""
        folder = Path(self.data_dir) / "workspaces" / workspace_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def reach(
        self,
        workspace_id: str | None,
        workspace_paths: Sequence[str] = (),
        *,
        admin: bool,
        external_access: bool = False,
    ) -> Reach:
        """The reach of something configured in a workspace, by an admin or not."""
        open_roots: tuple[str, ...] = ()
        if workspace_id is not None:
            open_roots = (resolve_path(self.workspace_folder(workspace_id)),)
        allowed = (
            None
            if admin
            else tuple(
                dict.fromkeys([*self.allowed_roots, *(resolve_path(p) for p in workspace_paths)])
            )
        )
        return Reach(
            denied_roots=self.denied_roots,
            open_roots=open_roots,
            allowed_roots=allowed,
            allowed_hosts=tuple(self.settings.allowed_hosts),
            denied_hosts=tuple(self.settings.denied_hosts),
            private_network=admin,
            external_access=external_access,
            roots_hint="the workspace's folder, CONVEYOR_ALLOWED_PATHS and the workspace's "
            "allowed_paths",
        )

    def server_reach(self) -> Reach:
        """The reach of what the operator configured (SMTP, one-off CLI runs): an admin's."""
        return self.reach(None, admin=True, external_access=True)


def _sqlite_store_file(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    return resolve_path(path) if path and path != ":memory:" else None
