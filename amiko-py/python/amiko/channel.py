"""Paramiko's ``Channel`` and the file objects of ``exec_command``."""

import os
import socket

from .file import BufferedFile, ClosingContextManager
from .ssh_exception import SSHException

__all__ = ["Channel", "ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]


def _bytes(s):
    if isinstance(s, str):
        return s.encode("utf-8")
    return bytes(s)


class Channel(ClosingContextManager):
    """A session channel: run a command, a shell or a subsystem, and talk to it.

    Blocking calls wait with the GIL released; ``settimeout`` bounds them (``socket.timeout`` on expiry).
    """

    def __init__(self, native, transport=None):
        self._native = native
        self.transport = transport
        self.chanid = native.get_id()
        self.timeout = None
        self.combine_stderr = False
        self._name = str(self.chanid)
        self._closed_here = False

    def __repr__(self):
        return "<amiko.Channel {} ({})>".format(self.chanid, "closed" if self.closed else "open")

    # ---- state ----
    @property
    def closed(self):
        return self._closed_here or self._native.closed()

    @property
    def active(self):
        return not self.closed

    @property
    def eof_received(self):
        return self._native.eof_received()

    def get_id(self):
        return self.chanid

    def get_name(self):
        return self._name

    def set_name(self, name):
        self._name = name

    def get_transport(self):
        return self.transport

    def _check(self):
        if self.closed:
            raise SSHException("Channel is not open")

    # ---- requests ----
    def exec_command(self, command):
        """Runs ``command``. A channel runs one command; reuse raises ``SSHException('Channel is not open')``."""
        self._check()
        self._native.exec_command(command, self.timeout)

    def invoke_shell(self):
        self._check()
        self._native.invoke_shell(self.timeout)

    def invoke_subsystem(self, subsystem):
        self._check()
        self._native.invoke_subsystem(subsystem, self.timeout)

    def request_forward_agent(self, handler):
        """Asks the server to forward the local ssh-agent to this session (before ``exec_command`` or
        ``invoke_shell``). amiko pipes the server's agent channels to the agent itself: ``handler`` only names the
        agent socket (an ``AgentRequestHandler``'s, else ``$SSH_AUTH_SOCK``). Returns whether the server agreed."""
        self._check()
        sock = getattr(handler, "_socket", None) or os.environ.get("SSH_AUTH_SOCK")
        if not sock:
            raise SSHException("no ssh-agent to forward (SSH_AUTH_SOCK is not set)")
        return self._native.request_agent_forwarding(sock, self.timeout)

    def get_pty(self, term="vt100", width=80, height=24, width_pixels=0, height_pixels=0):
        self._check()
        self._native.get_pty(term, width, height, width_pixels, height_pixels, self.timeout)

    def resize_pty(self, width=80, height=24, width_pixels=0, height_pixels=0):
        self._check()
        self._native.resize_pty(width, height)

    def update_environment(self, environment):
        for name, value in environment.items():
            self.set_environment_variable(name, value)

    def set_environment_variable(self, name, value):
        """Asks the server to set a variable (sshd accepts only names its AcceptEnv lists)."""
        self._check()
        if not self._native.set_environment_variable(str(name), str(value), self.timeout):
            raise SSHException("Failed to set environment variable {!r}".format(name))

    def send_signal(self, name):
        self._native.send_signal(name)

    # ---- readiness ----
    def recv_ready(self):
        return self._native.ready(False) > 0

    def recv_stderr_ready(self):
        return self._native.ready(True) > 0

    def exit_status_ready(self):
        return self._native.exit_status() is not None or self._native.closed()

    def recv_exit_status(self):
        """Waits for the command to end; its exit status, or -1 if the server sent none."""
        status = self._native.wait_exit_status(None)
        return -1 if status is None else status

    def send_ready(self):
        return not self.closed

    # ---- data ----
    def settimeout(self, timeout):
        self.timeout = timeout

    def gettimeout(self):
        return self.timeout

    def setblocking(self, blocking):
        self.settimeout(None if blocking else 0.0)

    def set_combine_stderr(self, combine):
        old, self.combine_stderr = self.combine_stderr, bool(combine)
        return old

    def recv(self, nbytes):
        """Up to ``nbytes`` of stdout (stderr too with ``set_combine_stderr``); ``b''`` at EOF."""
        if self.combine_stderr and self._native.ready(True) > 0:
            return self._native.recv(nbytes, True, self.timeout)
        return self._native.recv(nbytes, False, self.timeout)

    def recv_stderr(self, nbytes):
        return self._native.recv(nbytes, True, self.timeout)

    def send(self, s):
        """Sends what the window allows; returns the number of bytes sent."""
        if self.closed:
            raise socket.error("Socket is closed")
        return self._native.send(_bytes(s), self.timeout)

    def sendall(self, s):
        if self.closed:
            raise socket.error("Socket is closed")
        self._native.sendall(_bytes(s), self.timeout)

    def shutdown(self, how):
        if how in (1, 2):
            self.shutdown_write()

    def shutdown_read(self):
        pass

    def shutdown_write(self):
        if not self.closed:
            self._native.shutdown_write()

    def makefile(self, *params):
        return ChannelFile(self, *params)

    def makefile_stderr(self, *params):
        return ChannelStderrFile(self, *params)

    def makefile_stdin(self, *params):
        return ChannelStdinFile(self, *params)

    def close(self):
        if not self._closed_here:
            self._closed_here = True
            self._native.close()


class ChannelFile(BufferedFile):
    """The command's stdout as a file (``read`` gives bytes, ``readline`` gives str)."""

    def __init__(self, channel, mode="r", bufsize=-1):
        BufferedFile.__init__(self)
        self.channel = channel
        self._set_mode(mode, bufsize)

    def __repr__(self):
        return "<amiko.ChannelFile from " + repr(self.channel) + ">"

    def _read(self, size):
        return self.channel.recv(size)

    def _read_all(self):
        return self.channel._native.read_all(False, self.channel.timeout)

    def _write(self, data):
        self.channel.sendall(data)


class ChannelStderrFile(ChannelFile):
    """The command's stderr as a file."""

    def _read(self, size):
        return self.channel.recv_stderr(size)

    def _read_all(self):
        return self.channel._native.read_all(True, self.channel.timeout)


class ChannelStdinFile(ChannelFile):
    """The command's stdin; ``close`` sends EOF."""

    def close(self):
        super().close()
        self.channel.shutdown_write()
