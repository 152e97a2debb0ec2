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
- hosts: `CONVEYOR_DENIED_HOSTS` are refused for everyone (a denied name also denies the
  addresses it resolves to); `CONVEYOR_ALLOWED_HOSTS` are allowed for everyone; link-local,
  reserved and cloud metadata addresses are refused unless their address (or a CIDR
  holding it) is listed — a listed name does not open them; loopback and private
  addresses need a listing for anyone but an admin. A host is read as the C resolver
  reads it: `127.1`, `0x7f.1` and `2130706433` are 127.0.0.1, `::ffff:127.0.0.1` is too.
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

from conveyor.errors import InvalidInput, PermissionDenied, SourceUnavailable

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
        if _is_socket(host):
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
        differently (DNS rebinding). A refusal is raised before any packet is sent to the
        host, so it reads the same whatever listens (or not) there — on any `port`: the
        decision is about the host alone.
        """
        self.check_host(host)
        if _is_socket(host):
            return [host]
        name = _normal_name(host)
        try:
            found = lookup(name)
        except (OSError, UnicodeError, ValueError) as exc:
            raise SourceUnavailable(f"host {host!r} could not be resolved: {exc}") from exc
        denied = self._denied_addresses()
        allowed: list[str] = []
        refused: list[tuple[str, str]] = []
        for address in found:
            parsed = _unmapped(ipaddress.ip_address(address))
            reason = (
                "belongs to a host denied by CONVEYOR_DENIED_HOSTS"
                if parsed in denied
                else self._refusal(name, parsed)
            )
            if reason is not None:
                refused.append((address, reason))
            elif address not in allowed:
                allowed.append(address)
        if not allowed:
            address, reason = refused[0]
            raise HostRefused(f"host {host!r} resolves to {address}, which {reason}", host=host)
        return allowed

    def _denied_addresses(self) -> frozenset[IPAddress]:
        """The addresses the denied host names resolve to now (a name is no way around its
        own address); names that do not resolve deny nothing more."""
        found: set[IPAddress] = set()
        for entry in self.denied_hosts:
            name = _normal_name(entry)
            if name.startswith("*.") or "/" in name or _literal_address(name) is not None:
                continue
            try:
                found.update(_unmapped(ipaddress.ip_address(a)) for a in lookup(name))
            except (OSError, UnicodeError, ValueError):
                continue
        return frozenset(found)

    def _name_refusal(self, name: str) -> str | None:
        if _matches_name(self.denied_hosts, name):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if _matches_name(self.allowed_hosts, name):
            return None
        if name in METADATA_NAMES:
            return "is a cloud metadata service"
        if name == "localhost" or name.endswith(".localhost"):  # always loopback (RFC 6761)
            return self._refusal(name, ipaddress.ip_address("127.0.0.1"))
        return None

    def _refusal(self, name: str, address: IPAddress) -> str | None:
        """Why `address` (found for `name`) may not be reached, or None when it may.

        Metadata, link-local and reserved addresses open only to a listing of the address
        itself: an allowed name that happens to resolve there does not open them.
        """
        address = _unmapped(address)
        if _matches(self.denied_hosts, name, address):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if address in METADATA_ADDRESSES:
            if _matches_address(self.allowed_hosts, address):
                return None
            return "is a cloud metadata address (list the address in CONVEYOR_ALLOWED_HOSTS to allow it)"
        if _is_special(address):
            if _matches_address(self.allowed_hosts, address):
                return None
            return (
                "is a link-local or reserved address "
                "(list the address in CONVEYOR_ALLOWED_HOSTS to allow it)"
            )
        if _matches(self.allowed_hosts, name, address):
            return None
        if name in METADATA_NAMES:
            return "is a cloud metadata service"
        kind = _local_kind(address)
        if kind and not self.private_network:
            return _NEEDS_LISTING.format(kind=kind)
        return None

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


_NEEDS_LISTING = (
    "is a {kind} address; only admins may use it unless it is listed in CONVEYOR_ALLOWED_HOSTS"
)


def _local_kind(address: IPAddress) -> str | None:
    if address.is_loopback or address.is_unspecified:
        return "loopback"
    if address.is_private or address in _SHARED_ADDRESS_SPACE:
        return "private"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "private"  # fec0::/10: deprecated, still routed where configured
    return None


def lookup(name: str) -> list[str]:
    """The addresses a host name resolves to now (the system resolver, scope ids dropped):
    the one lookup the policy makes, and the one the connection then uses."""
    found = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in found))


def _is_special(address: IPAddress) -> bool:
    """Link-local, multicast or reserved — but not loopback, which `ipaddress` counts as
    reserved in IPv6 (`::1` and `::` lie in the reserved ::/8)."""
    if address.is_loopback or address.is_unspecified:
        return False
    return address.is_link_local or address.is_multicast or address.is_reserved


def _is_socket(host: str) -> bool:
    """Whether a host is a Unix-domain socket (a directory or path; `@` is Linux's abstract one)."""
    return host.startswith(("/", "@"))


def _normal_name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _literal_address(name: str) -> IPAddress | None:
    """The address a host spells, read as the C resolver reads numeric hosts (no lookup).

    `ipaddress` alone knows only the canonical forms, while getaddrinfo — which every
    driver ends up calling — also takes `127.1`, `0x7f.1`, `017700000001` and
    `2130706433`, and a scope id (`fe80::1%eth0`). None when `name` is a name.
    """
    if not name or name.startswith("*"):
        return None
    try:
        found = socket.getaddrinfo(name, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(found[0][4][0]).split("%", 1)[0])


def _matches_name(entries: Iterable[str], name: str) -> bool:
    for entry in entries:
        entry = _normal_name(entry)
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
        if entry == name:
            return True
    return False


def _matches(entries: Iterable[str], name: str, address: IPAddress) -> bool:
    return _matches_name(entries, name) or _matches_address(entries, address)


def _matches_address(entries: Iterable[str], address: IPAddress) -> bool:
    """Whether an address or CIDR entry holds `address` (names are not looked at; an
    address entry is read as hosts are, so `127.1` lists 127.0.0.1)."""
    for entry in entries:
        try:
            network: IPNetwork = ipaddress.ip_network(_normal_name(entry), strict=False)
        except ValueError:
            literal = _literal_address(_normal_name(entry))
            if literal is None:
                continue
            network = ipaddress.ip_network(_unmapped(literal))
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
