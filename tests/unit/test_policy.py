"""The policy as a table of cases: which reach may use which path and which host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from conveyor.config import Settings
from conveyor.errors import InvalidInput
from conveyor.policy import HostRefused, PathRefused, Policy, Reach, StatementRefused


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A data dir with a store and a key, an allowed root, and a folder nobody listed."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "conveyor.db").write_bytes(b"store")
    (data / "secret.key").write_bytes(b"key")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.db").write_bytes(b"")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(data / "conveyor.db", allowed / "store-link.db")
    os.symlink(elsewhere, allowed / "out")
    return {"tmp": tmp_path, "data": data, "allowed": allowed, "elsewhere": elsewhere}


def policy_for(tree: dict[str, Path], **extra: object) -> Policy:
    settings = Settings(
        data_dir=tree["data"],
        secret_key=Fernet.generate_key().decode(),
        allowed_paths=[str(tree["allowed"])],
        **extra,  # type: ignore[arg-type]
    )
    return Policy(settings)


PATH_CASES = [
    # (path relative to tmp, admin?, allowed?)
    ("data/conveyor.db", True, False),
    ("data/conveyor.db", False, False),
    ("data/secret.key", True, False),
    ("data/files/run/x.csv", True, False),
    ("data/workspaces/other/x.db", False, False),
    ("data/workspaces/ws1/mine.db", False, True),
    ("data/workspaces/ws1/../ws2/x.db", False, False),
    ("data/workspaces/ws1/../../conveyor.db", True, False),
    ("allowed/ok.db", False, True),
    ("allowed/new/sub/file.db", False, True),
    ("allowed/../data/conveyor.db", False, False),
    ("allowed/../elsewhere/x.db", False, False),
    ("allowed/../elsewhere/x.db", True, True),
    ("allowed/store-link.db", False, False),
    ("allowed/store-link.db", True, False),
    ("allowed/out/x.db", False, False),
    ("allowed/out/x.db", True, True),
    ("elsewhere/x.db", False, False),
    ("elsewhere/x.db", True, True),
    ("allowedx/x.db", False, False),
]


@pytest.mark.parametrize(("relative", "admin", "allowed"), PATH_CASES)
def test_paths(tree: dict[str, Path], relative: str, admin: bool, allowed: bool) -> None:
    reach = policy_for(tree).reach("ws1", admin=admin)
    path = str(tree["tmp"]) + "/" + relative
    if allowed:
        assert reach.check_path(path) == os.path.realpath(path)
    else:
        with pytest.raises(PathRefused) as refused:
            reach.check_path(path)
        assert refused.value.status_code == 403


def test_a_refusal_names_the_roots(tree: dict[str, Path]) -> None:
    reach = policy_for(tree).reach("ws1", [str(tree["tmp"] / "extra")], admin=False)
    with pytest.raises(PathRefused) as refused:
        reach.check_path(tree["elsewhere"] / "x.db")
    message = refused.value.message
    assert str(tree["allowed"]) in message and str(tree["tmp"] / "extra") in message
    assert str(tree["data"] / "workspaces" / "ws1") in message
    assert refused.value.extra["allowed_roots"][0].endswith("workspaces/ws1")


def test_a_workspace_folder_is_made_and_a_store_elsewhere_is_denied(
    tree: dict[str, Path],
) -> None:
    store = tree["tmp"] / "meta" / "store.db"
    policy = policy_for(tree, database_url=f"sqlite:///{store}")
    reach = policy.reach("ws1", admin=True)
    assert (tree["data"] / "workspaces" / "ws1").is_dir()
    for suffix in ("", "-wal", "-shm"):
        with pytest.raises(PathRefused):
            reach.check_path(f"{store}{suffix}")
    reach.check_path(tree["tmp"] / "meta" / "other.db")


FOLDER_CASES = [
    # (folder relative to tmp, admin?, made?)
    ("allowed/new/sub", False, True),
    ("allowed/out/new", False, False),  # a link out of the allowed root
    ("elsewhere/new/sub", False, False),
    ("elsewhere/new/sub", True, True),
    ("data/new", True, False),
    ("data/workspaces/ws1/new/sub", False, True),
    ("data/workspaces/ws2/new", False, False),
    ("fresh/new", False, False),
]


@pytest.mark.parametrize(("relative", "admin", "made"), FOLDER_CASES)
def test_folders_are_made_only_within_reach(
    tree: dict[str, Path], relative: str, admin: bool, made: bool
) -> None:
    reach = policy_for(tree).reach("ws1", admin=admin)
    folder = tree["tmp"] / relative
    if made:
        assert reach.make_folder(folder) == os.path.realpath(folder)
        assert folder.is_dir()
        assert reach.make_folder(folder) == os.path.realpath(folder)  # made already: fine
    else:
        before = sorted(os.walk(tree["tmp"]))
        with pytest.raises(PathRefused) as refused:
            reach.make_folder(folder)
        assert refused.value.status_code == 403
        assert sorted(os.walk(tree["tmp"])) == before and not folder.exists()


def test_allowed_roots_given_by_an_admin_are_checked(tree: dict[str, Path]) -> None:
    policy = policy_for(tree)
    assert policy.check_root(str(tree["elsewhere"]), "allowed_paths[0]") == str(
        tree["elsewhere"].resolve()
    )
    for bad in ("relative/dir", str(tree["data"] / "workspaces"), "/srv/a\0b"):
        with pytest.raises(InvalidInput):
            policy.check_root(bad, "allowed_paths[0]")


def test_a_path_holding_a_nul_is_invalid_not_a_crash(tree: dict[str, Path]) -> None:
    for reach in (Reach(), policy_for(tree).reach("ws1", admin=False)):
        with pytest.raises(InvalidInput, match="NUL"):
            reach.check_path(str(tree["allowed"]) + "/a\0b.db")


ADMIN = Reach(private_network=True)
STANDARD = Reach(private_network=False)
HOST_CASES = [
    # (reach, host, allowed?)
    (STANDARD, "127.0.0.1", False),
    (STANDARD, "127.1.2.3", False),
    (STANDARD, "::1", False),
    (STANDARD, "[::1]", False),
    (STANDARD, "::ffff:127.0.0.1", False),
    (STANDARD, "0.0.0.0", False),
    (STANDARD, "localhost", False),
    (STANDARD, "LOCALHOST.", False),
    (STANDARD, "db.localhost", False),
    (STANDARD, "10.1.2.3", False),
    (STANDARD, "192.168.0.10", False),
    (STANDARD, "172.16.5.4", False),
    (STANDARD, "100.64.0.1", False),
    (STANDARD, "fd12::1", False),
    (STANDARD, "169.254.169.254", False),
    (STANDARD, "metadata.google.internal", False),
    (STANDARD, "/var/run/postgresql", False),
    (STANDARD, "8.8.8.8", True),
    (STANDARD, "db.example.com", True),
    (ADMIN, "127.0.0.1", True),
    (ADMIN, "localhost", True),
    (ADMIN, "10.1.2.3", True),
    (ADMIN, "/var/run/postgresql", True),
    (ADMIN, "169.254.169.254", False),
    (ADMIN, "169.254.10.1", False),
    (ADMIN, "fe80::1", False),
    (ADMIN, "fd00:ec2::254", False),
    (ADMIN, "100.100.100.200", False),
    (ADMIN, "224.0.0.1", False),
    (Reach(private_network=False, allowed_hosts=("127.0.0.1",)), "127.0.0.1", True),
    (Reach(private_network=False, allowed_hosts=("127.0.0.0/8",)), "127.9.9.9", True),
    (Reach(private_network=False, allowed_hosts=("10.0.0.0/8",)), "192.168.1.1", False),
    (Reach(private_network=False, allowed_hosts=("*.corp.test",)), "db.corp.test", True),
    (Reach(allowed_hosts=("169.254.169.254",)), "169.254.169.254", True),
    (Reach(denied_hosts=("10.0.0.0/8",)), "10.9.9.9", False),
    (Reach(denied_hosts=("db.example.com",)), "DB.example.com.", False),
    (Reach(denied_hosts=("8.8.8.8",), allowed_hosts=("8.8.8.8",)), "8.8.8.8", False),
]


@pytest.mark.parametrize(("reach", "host", "allowed"), HOST_CASES)
def test_hosts(reach: Reach, host: str, allowed: bool) -> None:
    if allowed:
        reach.check_host(host)
    else:
        with pytest.raises(HostRefused):
            reach.check_host(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1", "0x7f.1"])
def test_addresses_resolve_before_deciding(host: str) -> None:
    """Whatever form names loopback, the resolved address decides (no traffic is sent)."""
    with pytest.raises(HostRefused):
        STANDARD.addresses(host, 5432)
    assert "127.0.0.1" in ADMIN.addresses(host, 5432)
    listed = Reach(private_network=False, allowed_hosts=("127.0.0.0/8", "::1"))
    assert "127.0.0.1" in listed.addresses(host, 5432)


def test_statements_leave_the_database_only_with_external_access() -> None:
    Reach(external_access=True).check_statement_reach("ATTACH reaches another file")
    Reach(external_access=False).check_statement_reach(None)
    with pytest.raises(StatementRefused) as refused:
        Reach(external_access=False).check_statement_reach("ATTACH reaches another file")
    assert "allow_external_access" in refused.value.message


def test_malformed_host_settings_fail_at_start(tree: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        policy_for(tree, denied_hosts=["10.0.0.0/33"])
