"""Which TLS parameter values name stored certificates, and the files libpq gets."""

from __future__ import annotations

import gc
import os
import stat

import pytest

from conveyor.connectors.tls import TLSFiles, TLSMaterial
from conveyor.services.tls_parameters import is_name, named_in


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("corp-ca", True),
        ("corp.ca_2@prod", True),
        ("root.crt", True),
        ("system", False),  # libpq's own: the system's authorities
        ("/etc/ssl/certs/ca.pem", False),
        ("./root.crt", False),
        ("..\\ca.pem", False),
        ("", False),
        (".hidden", False),
    ],
)
def test_a_value_is_a_certificate_name_or_a_path(value: str, name: bool) -> None:
    assert is_name(value) is name


def test_the_names_a_url_gives_by_scheme() -> None:
    url = "postgresql://u@h/db?sslmode=verify-full&sslrootcert=ca&sslcert=me&sslkey=me"
    assert named_in(url) == {"ca", "me"}
    assert named_in("postgresql://u@h/db?sslrootcert=/etc/ca.pem") == set()
    assert named_in("mariadb://u@h/db?ssl_ca=ca&ssl_cert=me") == {"ca", "me"}
    assert named_in("mysql://u@h/db?sslrootcert=ca") == set()  # not a MySQL parameter
    assert named_in("sqlite:///x.db?sslrootcert=ca") == set()


def test_the_files_are_private_and_removed_with_their_owner() -> None:
    material = TLSMaterial(root_certificates="ROOT", certificate="CERT", private_key="KEY")
    files = TLSFiles(
        material,
        {"sslrootcert": "root_certificates", "sslcert": "certificate", "sslkey": "private_key"},
    )
    folder = files.folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for path in files.paths.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(files.paths["sslkey"]) as handle:
        assert handle.read() == "KEY"
    del files
    gc.collect()
    assert not os.path.exists(folder)
    only_root = TLSFiles(
        TLSMaterial(root_certificates="ROOT"),
        {"sslrootcert": "root_certificates", "sslkey": "private_key"},
    )
    assert list(only_root.paths) == ["sslrootcert"]
    only_root.close()
    assert not os.path.exists(only_root.folder)
