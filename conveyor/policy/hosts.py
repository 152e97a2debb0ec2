"""How a host is read and judged: the host half of the policy (see `conveyor.policy`).

`HostRules` holds a reach's allow and deny lists and whether it may use loopback and
private addresses; it answers for a host by name or literal address (`check`, when a
URL is stored) and for the addresses the name resolves to right before connecting
(`addresses`). A host is read as the C resolver reads it — `127.1`, `0x7f.1` and
`2130706433` are 127.0.0.1, `::ffff:127.0.0.1` is too — because that is what every
driver ends up asking.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conveyor.errors import PermissionDenied, SourceUnavailable

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


class HostRefused(PermissionDenied):
    """This host is outside what the connection may reach."""


@dataclass(frozen=True)
class HostRules:
    """The hosts one reach may connect to: `CONVEYOR_DENIED_HOSTS` refused for everyone,
    `CONVEYOR_ALLOWED_HOSTS` allowed, metadata, link-local and reserved addresses refused
    unless their address is listed, loopback and private ones only with `private_network`
    (an admin's) or a listing."""

    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    private_network: bool = True

    def check(self, host: str) -> None:
        """Refuse `host` by what its name or literal address says (see `Reach.check_host`)."""
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

    def addresses(self, host: str) -> list[str]:
        """The addresses of `host` allowed now, from one lookup (see `Reach.addresses`)."""
        self.check(host)
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
        for entry in self.denied:
            name = _normal_name(entry)
            if name.startswith("*.") or "/" in name or _literal_address(name) is not None:
                continue
            try:
                found.update(_unmapped(ipaddress.ip_address(a)) for a in lookup(name))
            except (OSError, UnicodeError, ValueError):
                continue
        return frozenset(found)

    def _name_refusal(self, name: str) -> str | None:
        if _matches_name(self.denied, name):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if _matches_name(self.allowed, name):
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
        if _matches(self.denied, name, address):
            return "is denied by CONVEYOR_DENIED_HOSTS"
        if address in METADATA_ADDRESSES:
            if _matches_address(self.allowed, address):
                return None
            return "is a cloud metadata address (list the address in CONVEYOR_ALLOWED_HOSTS to allow it)"
        if _is_special(address):
            if _matches_address(self.allowed, address):
                return None
            return (
                "is a link-local or reserved address "
                "(list the address in CONVEYOR_ALLOWED_HOSTS to allow it)"
            )
        if _matches(self.allowed, name, address):
            return None
        if name in METADATA_NAMES:
            return "is a cloud metadata service"
        kind = _local_kind(address)
        if kind and not self.private_network:
            return _NEEDS_LISTING.format(kind=kind)
        return None


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
