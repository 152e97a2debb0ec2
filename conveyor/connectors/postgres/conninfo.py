"""Where libpq connects: the URL's parameters vetted once, its hosts resolved at each connect.

libpq takes a connection's target from more than the URL's host: `host`, `hostaddr`,
`service` and `servicefile` parameters choose another server, `oauth_issuer` makes it
contact another host, and several parameters name files it reads or writes. Any of them
could carry a connection past the policy (`conveyor.policy`), so the ones that choose a
target are refused, the ones that name a file go through `Reach.check_path`, and each host
is resolved by the policy right before a connection opens. libpq gets the vetted
addresses as `hostaddr` beside the host name: it connects to them and nowhere else, while
TLS still verifies (and sends SNI for) the name, and `.pgpass` still matches it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from psycopg.conninfo import make_conninfo

from conveyor.connectors.postgres.options import PostgresOptions
from conveyor.connectors.server import ServerAddress
from conveyor.connectors.tls import TLSFiles
from conveyor.errors import InvalidInput, PermissionDenied, SourceUnavailable
from conveyor.policy import Reach

REFUSED_PARAMS = {
    "host": "it would connect elsewhere than the URL's host; write the host in the URL",
    "hostaddr": "it would connect elsewhere than the URL's host; write the host in the URL",
    "service": "a service file entry could name another server",
    "servicefile": "a service file could name another server",
    "oauth_issuer": "it makes libpq contact another host",
}
"""Parameters that would let libpq reach something the host policy did not check."""
OWN_PARAMS = {
    "port": "write the port in the URL (host:port)",
    "dbname": "write the database in the URL's path",
    "user": "write the user in the URL (user@host)",
    "connect_timeout": "set the connection's connect_timeout option",
    "application_name": "set the connection's application_name option",
}
"""Parameters Conveyor sets from the URL itself or from the connection's options."""
FILE_PARAMS = (
    "passfile",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslkeylogfile",
)
"""Parameters naming a file libpq reads (or, for sslkeylogfile, writes)."""
TLS_FILES = {"sslrootcert": "root_certificates", "sslcert": "certificate", "sslkey": "private_key"}
"""The parameters a stored certificate's material is given to libpq in (`options.tls`)."""
NO_SERVER_CREDENTIALS = {
    "password": "",  # set, so PGPASSWORD is not read; empty, so the passfile is consulted…
    "passfile": "/dev/null/none",  # … and cannot be stat'ed: no password, and no warning
    "sslcert": "/dev/null/none",  # libpq goes on without a client certificate it cannot stat
    "sslkey": "/dev/null/none",
}
"""What a connection that may not borrow the server account's credentials gives libpq in
place of the defaults it would otherwise read from that account's home and environment."""
NO_AMBIENT_SIGN_IN = {"gssencmode": "disable", "require_auth": "!gss,!sspi"}
"""What such a connection always gives libpq, whatever its URL says: Kerberos (GSSAPI, and
SSPI on Windows) signs in with whatever tickets the server account holds, so a server
that asks for it would be answered as the operator."""


def vetted_params(params: Mapping[str, str], reach: Reach) -> dict[str, str]:
    """The URL's query parameters libpq may get: 422 for one that chooses the target, 403
    for a file outside the reach; files are given as their resolved paths."""
    vetted: dict[str, str] = {}
    for key, value in params.items():
        if key in REFUSED_PARAMS:
            raise InvalidInput(
                f"the URL parameter {key!r} is not accepted: {REFUSED_PARAMS[key]}",
                field="url",
                parameter=key,
            )
        if key in OWN_PARAMS:
            raise InvalidInput(
                f"the URL parameter {key!r} is not accepted: {OWN_PARAMS[key]}",
                field="url",
                parameter=key,
            )
        if key in FILE_PARAMS and not _system(key, value):
            value = reach.check_path(value, what=f"the URL parameter {key}")
        vetted[key] = value
    return vetted


def file_params(params: Mapping[str, str]) -> tuple[str, ...]:
    """The files the URL's parameters name (`sslrootcert=system` names none)."""
    return tuple(v for k, v in params.items() if k in FILE_PARAMS and v and not _system(k, v))


def _system(key: str, value: str) -> bool:
    """libpq's `sslrootcert=system`: the system's authorities, not a file."""
    return key == "sslrootcert" and value == "system"


def split_hosts(host: str) -> list[str]:
    """The hosts of a multi-host URL (`host1,host2`), each one a host to check."""
    hosts = [part.strip() for part in host.split(",")]
    if not all(hosts):
        raise InvalidInput("the URL's host list has an empty entry", field="url")
    return hosts


class Conninfo:
    """A connection's libpq target: checked by name when built, by address at each `now`."""

    def __init__(self, address: ServerAddress, options: PostgresOptions, reach: Reach) -> None:
        self.reach = reach
        self.port = address.port
        self.hosts = split_hosts(address.host)
        for host in self.hosts:
            reach.check_host(host)
        params = vetted_params(address.params, reach)
        self.tls_files = TLSFiles(options.tls, TLS_FILES) if options.tls else None
        if self.tls_files is not None:  # Conveyor's own files: no path for the policy to check
            params.update(self.tls_files.paths)
        if options.sslmode:
            params["sslmode"] = options.sslmode
        if address.password is not None:
            params.pop("password", None)  # the URL's or the option's password wins
            params["password"] = address.password
        if not reach.server_credentials:
            given = sorted(NO_AMBIENT_SIGN_IN.keys() & params.keys())
            if given:
                raise PermissionDenied(
                    f"the URL parameter {given[0]!r} is set by Conveyor on connections an admin"
                    " did not set up: Kerberos would sign in with the server account's tickets",
                    field="url",
                    parameter=given[0],
                )
            params.update({k: v for k, v in NO_SERVER_CREDENTIALS.items() if k not in params})
            params.update(NO_AMBIENT_SIGN_IN)
        self._settings: dict[str, str | int | None] = {
            "dbname": address.database,
            "user": address.user or None,
            "connect_timeout": max(2, math.ceil(options.connect_timeout)),
            "application_name": options.application_name,
            **params,
        }

    def now(self) -> str:
        """The conninfo to connect with at this moment: every host resolved and vetted now.

        A host that does not resolve is skipped when another one does (libpq would try
        the next); a host the policy refuses refuses the whole connection.
        """
        hosts: list[str] = []
        addresses: list[str] = []
        unresolved: SourceUnavailable | None = None
        for host in self.hosts:
            try:
                found = self.reach.addresses(host, self.port)
            except SourceUnavailable as exc:
                unresolved = exc
                continue
            for address in found:
                hosts.append(host)
                addresses.append("" if address == host else address)
        if not hosts:
            assert unresolved is not None
            raise unresolved
        target: dict[str, str | int | None] = {
            "host": ",".join(hosts),
            "port": ",".join([str(self.port)] * len(hosts)),
        }
        if any(addresses):
            target["hostaddr"] = ",".join(addresses)
        return make_conninfo("", **target, **self._settings)
