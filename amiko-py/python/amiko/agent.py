"""Paramiko's ``Agent`` and ``AgentKey``: the keys of a running ssh-agent, which signs for them.

amiko talks to the agent itself (the Rust client; messages bounded to 256 KiB): ``$SSH_AUTH_SOCK`` by default.
"""

import os

from . import _native
from .pkey import PKey
from .ssh_exception import SSHException

__all__ = ["Agent", "AgentKey", "AgentRequestHandler"]


class AgentKey(PKey):
    """A key held by an ssh-agent: its public half, and signatures made by the agent."""

    def __init__(self, agent, blob, comment=""):
        super().__init__(_native_public=_native.PublicKey.from_blob(bytes(blob)))
        self.agent = agent
        self.blob = bytes(blob)
        self.comment = comment

    def can_sign(self):
        return True

    def sign_ssh_data(self, data, algorithm=None):
        """Has the agent sign ``data`` (``algorithm``: rsa-sha2-256/512 for RSA keys); returns the SSH signature
        blob."""
        return _native.agent_sign(self._public, bytes(data), algorithm, self.agent._socket)

    def _native_private(self):
        raise SSHException("an agent key has no private half here: the agent signs")


class Agent:
    """A connection to the local ssh-agent (``$SSH_AUTH_SOCK``). ``get_keys()`` is empty when there is none, as in
    Paramiko."""

    def __init__(self, socket_path=None):
        self._socket = socket_path or os.environ.get("SSH_AUTH_SOCK") or None
        self._keys = ()
        if self._socket is None:
            return
        try:
            ids = _native.agent_identities(self._socket)
        except (SSHException, OSError):
            # Paramiko: an unreachable agent is no agent.
            return
        self._keys = tuple(AgentKey(self, pub.blob(), comment) for pub, comment in ids)

    def get_keys(self):
        """The agent's keys, as ``AgentKey`` objects."""
        return self._keys

    def close(self):
        """Forgets the keys (each request used its own connection)."""
        self._keys = ()


class AgentRequestHandler:
    """Paramiko's way to forward the local agent to a session: ``AgentRequestHandler(channel)`` before
    ``exec_command``. amiko pipes the server's agent channels to ``$SSH_AUTH_SOCK`` (or ``socket_path``)."""

    def __init__(self, chanRemote, socket_path=None):
        self._socket = socket_path or os.environ.get("SSH_AUTH_SOCK") or None
        self._chan = chanRemote
        chanRemote.request_forward_agent(self)

    def close(self):
        """Nothing to stop: the forwarding ends with the connection."""
