"""Paramiko's exception classes, with the same names, bases, constructor arguments and messages."""

import socket

__all__ = [
    "SSHException",
    "AuthenticationException",
    "PasswordRequiredException",
    "BadAuthenticationType",
    "PartialAuthentication",
    "UnableToAuthenticate",
    "ChannelException",
    "BadHostKeyException",
    "IncompatiblePeer",
    "ProxyCommandFailure",
    "NoValidConnectionsError",
    "CouldNotCanonicalize",
    "ConfigParseError",
    "MessageOrderError",
]


class SSHException(Exception):
    """Any SSH failure: negotiation, protocol or a closed channel ("Channel is not open")."""


class AuthenticationException(SSHException):
    """Authentication failed."""


class PasswordRequiredException(AuthenticationException):
    """A private key file is encrypted and no passphrase was given (or it was wrong)."""


class BadAuthenticationType(AuthenticationException):
    """The server does not allow this method; ``allowed_types`` lists the ones it does."""

    allowed_types = []

    def __init__(self, explanation, types):
        AuthenticationException.__init__(self, explanation, types)
        self.explanation = explanation
        self.allowed_types = types

    def __str__(self):
        return "{}; allowed types: {!r}".format(self.explanation, self.allowed_types)


class PartialAuthentication(AuthenticationException):
    """The method succeeded but more are required; ``allowed_types`` lists them."""

    allowed_types = []

    def __init__(self, types):
        AuthenticationException.__init__(self, types)
        self.allowed_types = types

    def __str__(self):
        return "Partial authentication; allowed types: {!r}".format(self.allowed_types)


class UnableToAuthenticate(AuthenticationException):
    """No method could be tried."""


class ChannelException(SSHException):
    """The server refused to open a channel: ``code`` is the RFC 4254 reason, ``text`` its message."""

    def __init__(self, code, text):
        SSHException.__init__(self, code, text)
        self.code = code
        self.text = text

    def __str__(self):
        return "ChannelException({!r}, {!r})".format(self.code, self.text)


class BadHostKeyException(SSHException):
    """The server's host key differs from the one known for it."""

    def __init__(self, hostname, got_key, expected_key):
        SSHException.__init__(self, hostname, got_key, expected_key)
        self.hostname = hostname
        self.key = got_key
        self.expected_key = expected_key

    def __str__(self):
        msg = "Host key for server '{}' does not match: got '{}', expected '{}'"
        return msg.format(self.hostname, self.key.get_base64(), self.expected_key.get_base64())


class IncompatiblePeer(SSHException):
    """No algorithm in common with the peer."""


class ProxyCommandFailure(SSHException):
    """A ProxyCommand failed."""

    def __init__(self, command, error):
        SSHException.__init__(self, command, error)
        self.command = command
        self.error = error

    def __str__(self):
        return 'ProxyCommand("{}") returned nonzero exit status: {}'.format(self.command, self.error)


class NoValidConnectionsError(socket.error):
    """Every address of the host refused the TCP connection; ``errors`` maps (address, port) to the error."""

    def __init__(self, errors):
        addrs = sorted(errors.keys())
        body = ", ".join([x[0] for x in addrs[:-1]])
        tail = addrs[-1][0]
        if body:
            msg = "Unable to connect to port {0} on {1} or {2}"
        else:
            msg = "Unable to connect to port {0} on {2}"
        super().__init__(None, msg.format(addrs[0][1], body, tail))
        self.errors = errors

    def __reduce__(self):
        return (self.__class__, (self.errors,))


class CouldNotCanonicalize(SSHException):
    """CanonicalizeHostname failed."""


class ConfigParseError(SSHException):
    """An ssh_config file could not be parsed."""


class MessageOrderError(SSHException):
    """A message came out of order (strict key exchange)."""
