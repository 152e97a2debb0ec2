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
- hosts: `CONVEYOR_DENIED_HOSTS` are refused for everyone; `CONVEYOR_ALLOWED_HOSTS` are
  allowed for everyone; link-local and cloud metadata addresses are refused unless listed;
  loopback and private addresses need a listing for anyone but an admin.
- SQL on an embedded engine (DuckDB, SQLite) stays inside that connection's database
  unless an admin set `allow_external_access` on the connection.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import PermissionDenied, SourceUnavailable

if TYPE_CHECKING:
    from conveyor.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class PathRefused(PermissionDenied):
    """This path is outside what the connection may reach."""


class HostRefused(PermissionDenied):
    """This host is outside what the connection may reach."""


class StatementRefused(PermissionDenied):
    """This statement would reach outside the connection's database."""


def _within(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` or inside it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_path(path: str | os.PathLike[str]) -> str:
    """The absolute path with every symlink and `..` resolved (missing tails kept as written)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


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

    def check_host(self, host: str) -> None:
        """Refuse a host by what its name or literal address says, without resolving it.

        For checks when a connection or a URL is stored; `addresses` decides again, on
        what the name resolves to, right before connecting.
        """
        if host.startswith("/") or host.startswith("@"):
            if not self.private_network:
                raise HostRefused(
                    f"host {host!r} is a local socket; an admin must configure it",
                    host=host,
                )
            return
        name = _normal_name(host)
        literal = _literal_address(name)
        reason = self._refusal(name, literal) if literal is not None else self._name_refusal(name)
        if reason:
            raise HostRefused(f"host {host!r} {reason}", host=host)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` this reach may connect to, resolved now; `HostRefused` if none.

        Connect to these addresses, not to the name: a second lookup could answer
        differently (DNS rebinding).
        """
        self.check_host(host)
        if host.startswith(("/", "@")):
            return [host]
        name = _normal_name(host)
        try:
            found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise SourceUnavailable(f"host {host!r} could not be resolved: {exc}") from exc
        allowed: list[str] = []
        refused: list[tuple[str, str]] = []
        for *_, sockaddr in found:
            address = str(sockaddr[0]).split("%", 1)[0]
            reason = self._refusal(name, ipaddress.ip_address(address))
            if reason is not None:
                refused.append((address, reason))
            elif address not in allowed:
                allowed.append(address)
        if not allowed:
            address, reason = refused[0]
            raise HostRefused(f"host {host!r} resolves to {address}, which {reason}", host=host)
        return allowed

    def _name_refusal(self, name: str) -> str | None:
        if _matches_name(self.denied_hosts, name):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if _matches_name(self.allowed_hosts, name):
            return None
        if name in METADATA_NAMES:
            return "is a cloud metadata service"
        if name == "localhost" or name.endswith(".localhost"):
            return None if self.private_network else _NEEDS_LISTING.format(kind="loopback")
        return None

    def _refusal(self, name: str, address: IPAddress) -> str | None:
        """Why `address` (found for `name`) may not be reached, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if _matches(self.denied_hosts, name, address):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if _matches(self.allowed_hosts, name, address):
            return None
        if address in METADATA_ADDRESSES or name in METADATA_NAMES:
            return "is a cloud metadata address (list it in CONVEYOR_ALLOWED_HOSTS to allow it)"
        if address.is_link_local or address.is_multicast or address.is_reserved:
            return "is a link-local or reserved address (list it in CONVEYOR_ALLOWED_HOSTS to allow it)"
        kind = _local_kind(address)
        if kind and not self.private_network:
            return _NEEDS_LISTING.format(kind=kind)
        return None

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


_NEEDS_LISTING = (
    "is a {kind} address; only admins may use it unless it is listed in CONVEYOR_ALLOWED_HOSTS"
)


def _local_kind(address: IPAddress) -> str | None:
    if address.is_loopback or address.is_unspecified:
        return "loopback"
    if address.is_private or address in _SHARED_ADDRESS_SPACE:
        return "private"
    return None


def _normal_name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _literal_address(name: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None


def _matches_name(entries: Iterable[str], name: str) -> bool:
    for entry in entries:
        entry = _normal_name(entry)
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
        if entry == name:
            return True
    return False


def _matches(entries: Iterable[str], name: str, address: IPAddress) -> bool:
    if _matches_name(entries, name):
        return True
    for entry in entries:
        try:
            network: IPNetwork = ipaddress.ip_network(_normal_name(entry), strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return True
    return False


def check_host_list(entries: Sequence[str], setting: str) -> None:
    """Refuse a malformed entry of CONVEYOR_ALLOWED_HOSTS / CONVEYOR_DENIED_HOSTS at start-up."""
    for entry in entries:
        name = _normal_name(entry)
        if not name or " " in name:
            raise ValueError(f"{setting}: {entry!r} is not a host name, address or CIDR")
        if "/" in name:
            try:
                ipaddress.ip_network(name, strict=False)
            except ValueError as exc:
                raise ValueError(f"{setting}: {entry!r} is not a valid CIDR: {exc}") from exc


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

    def workspace_folder(self, workspace_id: str) -> Path:
        """The folder a workspace's members may always use (created on first need)."""
        return Path(self.data_dir) / "workspaces" / workspace_id

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
            folder = self.workspace_folder(workspace_id)
            folder.mkdir(parents=True, exist_ok=True)
            open_roots = (resolve_path(folder),)
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
