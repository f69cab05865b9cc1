"""Many hosts at once: ``amiko.fanout.run(hosts, command, ...)`` runs a command everywhere, in parallel, in Rust.

Where Paramiko users write a thread pool of SSHClients, this is one call::

    from amiko import fanout
    for r in fanout.run(["web[01-20]", "db1"], "uptime", username="ops", key_filename="~/.ssh/id_ed25519",
                        policy="accept-new", parallel=100, timeout=30):
        print(r.host, r.exit_status, r.stdout.decode().strip(), r.error or "")
"""

import os

from . import _native
from .client import AutoAddPolicy, RejectPolicy, WarningPolicy
from .pkey import PKey

__all__ = ["run", "HostResult"]

HostResult = _native.HostResult

_POLICIES = {AutoAddPolicy: "auto-add", RejectPolicy: "reject", WarningPolicy: "warning"}


def _policy_name(policy):
    if isinstance(policy, str):
        return policy
    cls = policy if isinstance(policy, type) else type(policy)
    if cls not in _POLICIES:
        raise ValueError("fan-out takes 'reject', 'accept-new', 'auto-add', 'warning' or one of Paramiko's "
                         "policy classes, not {!r}".format(policy))
    return _POLICIES[cls]


def run(hosts, command, username=None, password=None, pkey=None, key_filename=None, known_hosts=None,
        policy="reject", parallel=64, connect_timeout=10.0, timeout=None, retries=0, stdin=None):
    """Runs ``command`` on every host and returns one ``HostResult`` per host, in the order given.

    ``hosts``: names, ``user@host:port`` forms, or ranges such as ``web[01-20]``. ``policy``: what to do with
    unknown host keys (``"accept-new"`` saves them to the first ``known_hosts`` file). Failures are per host
    (``result.error``); the call itself raises only for bad arguments.
    """
    if isinstance(hosts, str):
        hosts = [hosts]
    if username is None:
        username = os.environ.get("USER") or "root"
    keys = []
    if pkey is not None:
        keys.append(pkey._native_private())
    if key_filename is not None:
        names = [key_filename] if isinstance(key_filename, str) else list(key_filename)
        for name in names:
            keys.append(PKey.from_path(os.path.expanduser(name), password)._native_private())
    if known_hosts is None:
        known_hosts = [os.path.expanduser("~/.ssh/known_hosts")]
    elif isinstance(known_hosts, str):
        known_hosts = [known_hosts]
    if isinstance(stdin, str):
        stdin = stdin.encode()
    return _native.run(list(hosts), command, username, password, keys, list(known_hosts), _policy_name(policy),
                       parallel, float(connect_timeout), None if timeout is None else float(timeout), retries,
                       stdin)
