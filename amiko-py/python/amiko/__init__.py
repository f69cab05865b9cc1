"""amiko: an SSHv2 client with Paramiko's API on a Rust engine.

Existing Paramiko code switches with one line::

    import amiko as paramiko

The network waits run in Rust with the GIL released; keys, ciphers and key exchange come from amiko's engine
(curve25519, ML-KEM hybrid, AES-GCM, ChaCha20-Poly1305, strict kex).
"""

from . import _native
from .agent import Agent, AgentKey, AgentRequestHandler
from .channel import Channel, ChannelFile, ChannelStderrFile, ChannelStdinFile
from .client import AutoAddPolicy, MissingHostKeyPolicy, RejectPolicy, SSHClient, WarningPolicy
from .config import SSHConfig, SSHConfigDict
from .file import BufferedFile
from .hostkeys import HostKeys
from .pkey import ECDSAKey, Ed25519Key, PKey, PublicBlob, RSAKey
from .sftp_attr import SFTPAttributes
from .sftp_client import SFTP, SFTPClient
from .sftp_file import SFTPFile
from .ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    BadHostKeyException,
    ChannelException,
    ConfigParseError,
    CouldNotCanonicalize,
    IncompatiblePeer,
    MessageOrderError,
    NoValidConnectionsError,
    PartialAuthentication,
    PasswordRequiredException,
    ProxyCommandFailure,
    SSHException,
)
from .transport import SecurityOptions, Transport
from . import client, channel, config, file, hostkeys, pkey, sftp_attr, sftp_client, sftp_file, ssh_exception  # noqa
from . import agent, fanout, transport, util  # noqa

__version__ = _native.__version__
__version_info__ = tuple(int(x) for x in __version__.split(".")[:3])

__all__ = [
    "Agent",
    "AgentKey",
    "AgentRequestHandler",
    "AuthenticationException",
    "AutoAddPolicy",
    "BadAuthenticationType",
    "BadHostKeyException",
    "BufferedFile",
    "Channel",
    "ChannelException",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "ConfigParseError",
    "CouldNotCanonicalize",
    "ECDSAKey",
    "Ed25519Key",
    "HostKeys",
    "IncompatiblePeer",
    "MessageOrderError",
    "MissingHostKeyPolicy",
    "NoValidConnectionsError",
    "PKey",
    "PartialAuthentication",
    "PasswordRequiredException",
    "ProxyCommandFailure",
    "PublicBlob",
    "RSAKey",
    "RejectPolicy",
    "SecurityOptions",
    "SFTP",
    "SFTPAttributes",
    "SFTPClient",
    "SFTPFile",
    "SSHClient",
    "SSHConfig",
    "SSHConfigDict",
    "SSHException",
    "Transport",
    "WarningPolicy",
]
