"""The host policy as a table of cases: who may reach which host, by name and by address.

Only address literals here (read by getaddrinfo without a lookup); names that resolve are
tested against real listeners in tests/integration/test_host_policy.py.
"""

from __future__ import annotations

import pytest

from conveyor.policy import HostRefused, Reach, check_host_list

STANDARD = Reach(private_network=False)
ADMIN = Reach(private_network=True)

LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "LocalHost.",
    "app.localhost",
    "::1",
    "[::1]",
    "0.0.0.0",
    "0",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "2130706433",
    "127.1",
    "0x7f.1",
    "0x7f000001",
    "017700000001",
    "127.0.0.1.",
    "１２７.０.０.１",  # fullwidth digits: IDNA folds them to 127.0.0.1
]
PRIVATE = ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd00::1", "fec0::1", "0.1.2.3"]
ALWAYS_REFUSED = [
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "2852039166",  # 169.254.169.254 as one number
    "metadata.google.internal",
    "metadata.google.internal.",
    "fe80::1",
    "fe80::1%lo",
    "169.254.1.1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
PUBLIC = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "db.example.com"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS + PRIVATE)
def test_loopback_and_private_hosts_need_a_listing_for_non_admins(host: str) -> None:
    with pytest.raises(HostRefused, match="only admins may use it unless it is listed"):
        STANDARD.check_host(host)
    ADMIN.check_host(host)


@pytest.mark.parametrize("host", ALWAYS_REFUSED)
def test_metadata_link_local_and_reserved_addresses_are_refused_even_to_admins(host: str) -> None:
    with pytest.raises(HostRefused):
        ADMIN.check_host(host)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_are_open_to_everyone(host: str) -> None:
    STANDARD.check_host(host)
    ADMIN.check_host(host)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "::ffff:127.0.0.1", "[::1]"])
def test_addresses_of_a_literal_are_checked_the_same_way(host: str) -> None:
    with pytest.raises(HostRefused):
        STANDARD.addresses(host, 5432)
    assert ADMIN.addresses(host, 5432)


def test_a_cidr_listing_opens_every_spelling_of_its_addresses() -> None:
    listed = Reach(private_network=False, allowed_hosts=("127.0.0.0/8",))
    for host in ("127.0.0.1", "127.1", "2130706433", "::ffff:127.0.0.1"):
        listed.check_host(host)
    assert listed.addresses("0x7f.1", 5432) == ["127.0.0.1"]
    with pytest.raises(HostRefused):
        listed.check_host("10.0.0.1")


def test_a_name_listing_opens_that_name_only() -> None:
    listed = Reach(private_network=False, allowed_hosts=("localhost",))
    listed.check_host("localhost")
    listed.check_host("LOCALHOST.")
    with pytest.raises(HostRefused):
        listed.check_host("127.0.0.1")
    wildcard = Reach(private_network=False, allowed_hosts=("*.localhost",))
    wildcard.check_host("app.localhost")
    with pytest.raises(HostRefused):
        wildcard.check_host("localhost")


def test_metadata_and_link_local_open_only_to_a_listing_of_the_address() -> None:
    assert Reach(allowed_hosts=("169.254.169.254",)).addresses("169.254.169.254", 80)
    assert Reach(allowed_hosts=("fe80::/10",)).addresses("fe80::1", 80)
    assert Reach(allowed_hosts=("2852039166",)).addresses("169.254.169.254", 80)
    with pytest.raises(HostRefused):  # a listed name does not open a metadata address
        Reach(allowed_hosts=("*.internal", "169.254.169.254.example")).check_host("169.254.169.254")


def test_the_denied_list_beats_an_admin_and_the_allowed_list() -> None:
    denied = Reach(
        private_network=True,
        denied_hosts=("127.0.0.0/8", "db.example.com"),
        allowed_hosts=("127.0.0.1", "db.example.com"),
    )
    for host in ("127.0.0.1", "127.1", "::ffff:127.0.0.1", "db.example.com", "DB.example.com."):
        with pytest.raises(HostRefused, match="CONVEYOR_DENIED_HOSTS"):
            denied.check_host(host)
    with pytest.raises(HostRefused, match="CONVEYOR_DENIED_HOSTS"):
        denied.addresses("2130706433", 5432)


def test_a_local_socket_is_a_loopback_host() -> None:
    with pytest.raises(HostRefused, match="local socket"):
        STANDARD.addresses("/var/run/postgresql", 5432)
    assert ADMIN.addresses("/var/run/postgresql", 5432) == ["/var/run/postgresql"]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "a b", ""])
def test_a_malformed_host_setting_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="CONVEYOR_ALLOWED_HOSTS"):
        check_host_list([entry], "CONVEYOR_ALLOWED_HOSTS")
