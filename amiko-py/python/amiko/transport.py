"""Paramiko's ``Transport``: one SSH connection, set up and authenticated step by step."""

import socket

from . import _native
from .channel import Channel
from .file import ClosingContextManager
from .pkey import PKey, _typed
from .ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    ChannelException,
    SSHException,
)

__all__ = ["Transport", "SecurityOptions"]

# Paramiko's disabled_algorithms keys → amiko's algorithm kinds.
_KINDS = {"kex": "kex", "keys": "host_key_algorithms", "ciphers": "ciphers", "macs": "macs"}


def _connect_socket(hostname, port, timeout=None):
    """A TCP connection to the first address of ``hostname`` that answers."""
    last = None
    for family, kind, proto, _, addr in socket.getaddrinfo(hostname, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            return sock
        except socket.error as e:
            sock.close()
            last = e
    raise last or SSHException("Unable to connect to {}".format(hostname))


class SecurityOptions:
    """The algorithm lists a transport may negotiate (read-only view of what is set)."""

    def __init__(self, transport):
        self._t = transport

    @property
    def disabled(self):
        return dict(self._t.disabled_algorithms)


class Transport(ClosingContextManager):
    """An SSH connection.

    ``sock`` is a socket, a ``(host, port)`` tuple, or a ``"host"`` / ``"host:port"`` string (port 22 by default).
    Nothing is sent until ``start_client`` or ``connect``.
    """

    _ENCRYPT = None

    def __init__(self, sock, default_window_size=None, default_max_packet_size=None, gss_kex=False,
                 gss_deleg_creds=True, disabled_algorithms=None, server_sig_algs=True, strict_kex=True,
                 packetizer_class=None):
        self.hostname = None
        self.server_extensions = {}
        if isinstance(sock, str):
            parts = sock.split(":", 1)
            self.hostname = parts[0]
            sock = (parts[0], int(parts[1]) if len(parts) > 1 else 22)
        if isinstance(sock, tuple):
            self.hostname = sock[0]
            sock = _connect_socket(sock[0], sock[1])
        self.sock = sock
        if isinstance(sock, Channel):
            # A direct-tcpip channel of another transport (a jump host, as Paramiko users do with sock=).
            self._peername = None
        elif hasattr(sock, "fileno") and hasattr(sock, "detach"):
            self._peername = sock.getpeername() if sock.family != getattr(socket, "AF_UNIX", -1) else None
        else:
            raise SSHException("amiko needs a socket or an amiko Channel as sock, got {!r}".format(sock))
        self.disabled_algorithms = disabled_algorithms or {}
        self._preferred_keys = None
        self._compress = False
        self._native = None
        self._username = None
        self._closed = False
        self.banner_timeout = 15
        self.handshake_timeout = 15
        self.auth_timeout = 30
        self.channel_timeout = 60 * 60
        self.active = False
        self.remote_version = ""
        self.local_version = "SSH-2.0-amiko_" + _native.__version__

    def __repr__(self):
        state = "active" if self.is_active() else "unconnected" if self._native is None else "closed"
        return "<amiko.Transport ({}) to {}>".format(state, self._peername or self.hostname)

    # ---- set up ----
    def _algorithm_specs(self):
        specs = {}
        for key, kind in _KINDS.items():
            names = self.disabled_algorithms.get(key)
            if names:
                specs[kind] = "-" + ",".join(names)
        if self._preferred_keys and "host_key_algorithms" not in specs:
            specs["host_key_algorithms"] = "^" + ",".join(self._preferred_keys)
        specs["compress"] = self._compress
        return specs

    def _start(self, timeout=None):
        """Key exchange up to the server's host key, which is not yet accepted."""
        if self._native is not None:
            raise SSHException("the transport has already been started")
        t = timeout if timeout is not None else self.handshake_timeout
        if isinstance(self.sock, Channel):
            self._native = _native.Session.start_over(self.sock._native, t, **self._algorithm_specs())
            self.remote_version = self._native.remote_version() or ""
            self.active = True
            return
        unix = self.sock.family == getattr(socket, "AF_UNIX", -1)
        self.sock.settimeout(None)
        fd = self.sock.detach()
        self._native = _native.Session.start(fd, unix, t, **self._algorithm_specs())
        self.remote_version = self._native.remote_version() or ""
        self.active = True

    def start_client(self, event=None, timeout=None):
        """Runs the key exchange. The host key is not checked here (``SSHClient`` and ``connect(hostkey=...)`` do)."""
        self._start(timeout)
        self._native.accept_host_key()
        if event is not None:
            event.set()

    def get_remote_server_key(self):
        """The server's host key."""
        if self._native is None:
            raise SSHException("No existing session")
        return _typed(None, self._native.host_key())

    def connect(self, hostkey=None, username="", password=None, pkey=None, gss_host=None, gss_auth=False,
                gss_kex=False, gss_deleg_creds=True, gss_trust_dns=True):
        """Starts the client, checks ``hostkey`` if given, and logs in with ``pkey`` or ``password``."""
        if hostkey is not None:
            name = hostkey.get_name()
            self._preferred_keys = ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
        self.start_client()
        if hostkey is not None:
            key = self.get_remote_server_key()
            if key.get_name() != hostkey.get_name() or key.asbytes() != hostkey.asbytes():
                self.close()
                raise SSHException("Bad host key from server")
        if pkey is not None or password is not None:
            if pkey is not None:
                self.auth_publickey(username, pkey)
            else:
                self.auth_password(username, password)

    # ---- state ----
    def is_active(self):
        return self._native is not None and self._native.is_active()

    def is_authenticated(self):
        return self._native is not None and self._native.is_authenticated()

    def get_username(self):
        return self._username

    def getpeername(self):
        return self._peername

    def get_banner(self):
        b = self._native.banner() if self._native is not None else None
        return b.encode() if b is not None else None

    def get_security_options(self):
        return SecurityOptions(self)

    def set_keepalive(self, interval):
        """Sends a keepalive after ``interval`` seconds without traffic (0: off)."""
        self._native.set_keepalive(float(interval))

    def renegotiate_keys(self):
        self._native.rekey()

    def use_compression(self, compress=True):
        """Asks for compression (zlib@openssh.com, started after authentication; zlib if the server has only that),
        as Paramiko does; call it before the transport starts. The server decides: one without compression still
        connects, uncompressed."""
        if self._native is not None:
            raise SSHException("use_compression must be called before the transport starts")
        self._compress = bool(compress)

    def close(self):
        if self._native is not None:
            self._native.close()
        elif not self._closed and not isinstance(self.sock, Channel):
            try:
                self.sock.close()
            except Exception:
                pass
        self._closed = True
        self.active = False

    # ---- authentication ----
    def _require_started(self):
        if self._native is None or not self._native.is_active():
            raise SSHException("No existing session")

    def _outcome(self, result, method):
        ok, allowed, partial = result
        if ok:
            return []
        if partial:
            return allowed
        if method not in allowed and method != "none":
            raise BadAuthenticationType("Bad authentication type", allowed)
        raise AuthenticationException("Authentication failed.")

    def auth_none(self, username):
        """Method "none": ``[]`` if it let the user in; else ``BadAuthenticationType`` with the allowed methods."""
        self._require_started()
        self._username = username
        ok, allowed, partial = self._native.auth_none(username, self.auth_timeout)
        if ok:
            return []
        if partial:
            return allowed
        raise BadAuthenticationType("Bad authentication type", allowed)

    def auth_password(self, username, password, event=None, fallback=True):
        """Logs in with a password (falling back to keyboard-interactive, as Paramiko does)."""
        self._require_started()
        self._username = username
        if isinstance(password, bytes):
            password = password.decode()
        ok, allowed, partial = self._native.auth_password(username, password, self.auth_timeout)
        if not ok and not partial and "password" not in allowed and fallback and "keyboard-interactive" in allowed:
            result = self._native.auth_interactive_password(username, password, self.auth_timeout)
            return self._outcome(result, "keyboard-interactive")
        return self._outcome((ok, allowed, partial), "password")

    def auth_publickey(self, username, key, event=None):
        """Logs in with a private key (``PKey``), or a key of the ssh-agent (``AgentKey``), which then signs."""
        self._require_started()
        self._username = username
        agent = getattr(key, "agent", None)
        if agent is not None:
            result = self._native.auth_publickey_agent(username, key._public, agent._socket, self.auth_timeout)
            return self._outcome(result, "publickey")
        result = self._native.auth_publickey(username, key._native_private(), self.auth_timeout)
        return self._outcome(result, "publickey")

    def auth_interactive(self, username, handler, submethods=""):
        """Keyboard-interactive: ``handler(title, instructions, [(prompt, echo), ...])`` returns the answers."""
        self._require_started()
        self._username = username
        result = self._native.auth_interactive(username, handler, self.auth_timeout)
        return self._outcome(result, "keyboard-interactive")

    def auth_interactive_dumb(self, username, handler=None, submethods=""):
        """Keyboard-interactive answered on the terminal."""
        if handler is None:
            def handler(title, instructions, prompt_list):
                import getpass
                if title:
                    print(title)
                if instructions:
                    print(instructions)
                return [getpass.getpass(p) if not echo else input(p) for p, echo in prompt_list]
        return self.auth_interactive(username, handler, submethods)

    # ---- channels ----
    def open_session(self, window_size=None, max_packet_size=None, timeout=None):
        """Opens a session channel."""
        self._require_started()
        if not self._native.is_authenticated():
            raise SSHException("Transport is not authenticated")
        return Channel(self._native.open_session(timeout), self)

    def open_channel(self, kind, dest_addr=None, src_addr=None, window_size=None, max_packet_size=None,
                     timeout=None):
        """Opens a channel: "session", or "direct-tcpip" to ``dest_addr`` = (host, port), e.g. to reach a host
        behind this one and pass the channel as ``sock=`` to another Transport or SSHClient.connect."""
        if kind == "session":
            return self.open_session(window_size, max_packet_size, timeout)
        if kind == "direct-tcpip":
            self._require_started()
            host, port = dest_addr
            return Channel(self._native.open_direct_tcpip(host, int(port), timeout), self)
        raise ChannelException(3, "amiko does not open {!r} channels yet".format(kind))

    def open_sftp_client(self):
        from .sftp_client import SFTPClient
        return SFTPClient.from_transport(self)
