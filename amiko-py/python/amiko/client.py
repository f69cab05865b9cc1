"""Paramiko's ``SSHClient`` and the host-key policies."""

import errno
import inspect
import os
import socket
import warnings
from binascii import hexlify

from .file import ClosingContextManager
from .hostkeys import HostKeys
from .agent import Agent
from .pkey import PKey
from .ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    PasswordRequiredException,
    SSHException,
)
from .transport import Transport

__all__ = ["SSHClient", "MissingHostKeyPolicy", "AutoAddPolicy", "RejectPolicy", "WarningPolicy"]


class MissingHostKeyPolicy:
    """Decides about a server whose host key is not known. Subclass it and override ``missing_host_key``: return
    to accept, raise to refuse."""

    def missing_host_key(self, client, hostname, key):
        pass


class AutoAddPolicy(MissingHostKeyPolicy):
    """Accepts the key and remembers it (saved if ``load_host_keys`` named a file)."""

    def missing_host_key(self, client, hostname, key):
        client._host_keys.add(hostname, key.get_name(), key)
        if client._host_keys_filename is not None:
            client.save_host_keys(client._host_keys_filename)


class RejectPolicy(MissingHostKeyPolicy):
    """Refuses unknown hosts (the default)."""

    def missing_host_key(self, client, hostname, key):
        raise SSHException("Server {!r} not found in known_hosts".format(hostname))


class WarningPolicy(MissingHostKeyPolicy):
    """Accepts with a warning."""

    def missing_host_key(self, client, hostname, key):
        warnings.warn("Unknown {} host key for {}: {}".format(
            key.get_name(), hostname, hexlify(key.get_fingerprint()).decode()))


_HOST_KEY_ALGORITHMS = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}


def _rsa_algorithms(name):
    """The signature algorithms amiko accepts for a known host key type."""
    if name == "ssh-rsa":
        return ["rsa-sha2-512", "rsa-sha2-256"]
    return [name] if name in _HOST_KEY_ALGORITHMS else []


class SSHClient(ClosingContextManager):
    """A connection with host-key checking, login and command execution, as Paramiko's ``SSHClient``::

        client = SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(AutoAddPolicy())
        client.connect("example.com", username="me", password="pw")
        stdin, stdout, stderr = client.exec_command("uname -n")
        print(stdout.read())
    """

    def __init__(self):
        self._system_host_keys = HostKeys()
        self._host_keys = HostKeys()
        self._host_keys_filename = None
        self._log_channel = None
        self._policy = RejectPolicy()
        self._transport = None
        self._agent = None

    # ---- host keys ----
    def load_system_host_keys(self, filename=None):
        """Loads ~/.ssh/known_hosts (or ``filename``); these keys are never written back."""
        if filename is None:
            filename = os.path.expanduser("~/.ssh/known_hosts")
            try:
                self._system_host_keys.load(filename)
            except IOError:
                pass
            return
        self._system_host_keys.load(filename)

    def load_host_keys(self, filename):
        """Loads a known_hosts file; keys added later (AutoAddPolicy) are saved to it."""
        self._host_keys_filename = filename
        self._host_keys.load(filename)

    def save_host_keys(self, filename):
        """Writes the client's own host keys (those loaded by ``load_host_keys`` plus new ones) to ``filename``."""
        if os.path.exists(filename):
            self._host_keys.load(filename)
        self._host_keys.save(filename)

    def get_host_keys(self):
        return self._host_keys

    def set_log_channel(self, name):
        self._log_channel = name

    def set_missing_host_key_policy(self, policy):
        """``policy`` is a ``MissingHostKeyPolicy`` instance or class."""
        if inspect.isclass(policy):
            policy = policy()
        self._policy = policy

    def _families_and_addresses(self, hostname, port):
        guess = True
        addrinfos = socket.getaddrinfo(hostname, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        for (family, socktype, proto, canonname, sockaddr) in addrinfos:
            if socktype == socket.SOCK_STREAM:
                yield family, sockaddr
                guess = False
        if guess:
            for family, _, _, _, sockaddr in addrinfos:
                yield family, sockaddr

    # ---- connect ----
    def connect(self, hostname, port=22, username=None, password=None, pkey=None, key_filename=None, timeout=None,
                allow_agent=True, look_for_keys=True, compress=False, sock=None, gss_auth=False, gss_kex=False,
                gss_deleg_creds=True, gss_host=None, banner_timeout=None, auth_timeout=None, channel_timeout=None,
                gss_trust_dns=True, passphrase=None, disabled_algorithms=None, transport_factory=None,
                auth_strategy=None):
        """Connects, checks the host key against the known hosts and the policy, and logs in.

        Authentication order as Paramiko: ``pkey``, ``key_filename``, then (``allow_agent``) the keys of the
        ssh-agent at ``$SSH_AUTH_SOCK``, then (``look_for_keys``) ~/.ssh/id_*, then ``password`` (with
        keyboard-interactive fallback). ``compress=True`` asks for compression, as ``Transport.use_compression``.
        """
        if not sock:
            errors = {}
            to_try = list(self._families_and_addresses(hostname, port))
            for af, addr in to_try:
                try:
                    sock = socket.socket(af, socket.SOCK_STREAM)
                    if timeout is not None:
                        sock.settimeout(timeout)
                    sock.connect(addr)
                    break
                except socket.error as e:
                    if sock:
                        sock.close()
                    sock = None
                    if e.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
                        raise
                    errors[addr] = e
            if len(errors) == len(to_try):
                raise NoValidConnectionsError(errors)

        factory = transport_factory or Transport
        t = self._transport = factory(sock, disabled_algorithms=disabled_algorithms)
        t.use_compression(compress=compress)
        t.hostname = hostname
        if banner_timeout is not None:
            t.banner_timeout = banner_timeout
        if auth_timeout is not None:
            t.auth_timeout = auth_timeout
        if channel_timeout is not None:
            t.channel_timeout = channel_timeout

        server_hostkey_name = hostname if port == 22 else "[{}]:{}".format(hostname, port)
        known = self._host_keys.lookup(server_hostkey_name) or self._system_host_keys.lookup(server_hostkey_name)
        if known is not None:
            # Ask for a key type we know for this host, so a server with several keys does not look changed.
            t._preferred_keys = [a for name in known.keys() for a in _rsa_algorithms(name)]
        try:
            t._start(timeout if timeout is not None else t.handshake_timeout)
            server_key = t.get_remote_server_key()
            if self._system_host_keys.is_revoked(server_hostkey_name, server_key) or \
                    self._host_keys.is_revoked(server_hostkey_name, server_key):
                raise SSHException("Host key for {} is marked as revoked".format(server_hostkey_name))
            our_server_keys = self._system_host_keys.lookup(server_hostkey_name)
            if our_server_keys is None:
                our_server_keys = self._host_keys.lookup(server_hostkey_name)
            if our_server_keys is None:
                self._policy.missing_host_key(self, server_hostkey_name, server_key)
            else:
                our_key = our_server_keys.get(server_key.get_name())
                if our_key is None:
                    our_key = list(our_server_keys.values())[0]
                if our_key != server_key:
                    raise BadHostKeyException(hostname, server_key, our_key)
            t._native.accept_host_key()
        except BaseException:
            if t._native is not None:
                t._native.reject_host_key("host key not accepted")
            t.close()
            self._transport = None
            raise

        if username is None:
            username = os.environ.get("USER") or os.environ.get("LOGNAME") or "root"
        if key_filename is None:
            key_filenames = []
        elif isinstance(key_filename, str):
            key_filenames = [key_filename]
        else:
            key_filenames = list(key_filename)
        try:
            self._auth(username, password, pkey, key_filenames, allow_agent, look_for_keys, passphrase)
        except BaseException:
            t.close()
            self._transport = None
            raise

    def _auth(self, username, password, pkey, key_filenames, allow_agent, look_for_keys, passphrase):
        t = self._transport
        saved_exception = None
        allowed_types = {"publickey", "password", "keyboard-interactive"}
        if passphrase is None and password is not None:
            passphrase = password

        def try_key(key):
            nonlocal allowed_types
            remaining = t.auth_publickey(username, key)
            if not remaining:
                return True
            allowed_types = set(remaining)
            return False

        if pkey is not None:
            try:
                if try_key(pkey):
                    return
            except SSHException as e:
                saved_exception = e

        for key_filename in key_filenames:
            if "publickey" not in allowed_types:
                break
            try:
                key = PKey.from_path(key_filename, passphrase)
                if try_key(key):
                    return
            except (SSHException, IOError) as e:
                saved_exception = e

        if allow_agent and "publickey" in allowed_types:
            for key in Agent().get_keys():
                if "publickey" not in allowed_types:
                    break
                try:
                    if try_key(key):
                        return
                except SSHException as e:
                    saved_exception = e

        if look_for_keys and "publickey" in allowed_types:
            for name in ("id_rsa", "id_ecdsa", "id_ed25519"):
                path = os.path.expanduser(os.path.join("~", ".ssh", name))
                if not os.path.isfile(path):
                    continue
                try:
                    key = PKey.from_path(path, passphrase)
                    if try_key(key):
                        return
                except (SSHException, IOError) as e:
                    saved_exception = e

        if password is not None:
            try:
                if not t.auth_password(username, password):
                    return
            except SSHException as e:
                saved_exception = e
        elif saved_exception is None:
            # Perhaps the server lets anyone in.
            try:
                if not t.auth_none(username):
                    return
            except SSHException as e:
                saved_exception = e

        if saved_exception is not None:
            raise saved_exception
        raise SSHException("No authentication methods available")

    # ---- use ----
    def exec_command(self, command, bufsize=-1, timeout=None, get_pty=False, environment=None):
        """Runs ``command`` on a new channel; returns its stdin, stdout and stderr as file objects."""
        chan = self._require_transport().open_session(timeout=timeout)
        if get_pty:
            chan.get_pty()
        chan.settimeout(timeout)
        if environment:
            chan.update_environment(environment)
        chan.exec_command(command)
        stdin = chan.makefile_stdin("wb", bufsize)
        stdout = chan.makefile("r", bufsize)
        stderr = chan.makefile_stderr("r", bufsize)
        return stdin, stdout, stderr

    def invoke_shell(self, term="vt100", width=80, height=24, width_pixels=0, height_pixels=0, environment=None):
        """Opens a channel with a pty and the user's shell."""
        chan = self._require_transport().open_session()
        chan.get_pty(term, width, height, width_pixels, height_pixels)
        if environment:
            chan.update_environment(environment)
        chan.invoke_shell()
        return chan

    def open_sftp(self):
        return self._require_transport().open_sftp_client()

    def get_transport(self):
        return self._transport

    def _require_transport(self):
        if self._transport is None or not self._transport.is_active():
            raise SSHException("SSH session not active")
        return self._transport

    def close(self):
        if self._transport is not None:
            self._transport.close()
            self._transport = None
