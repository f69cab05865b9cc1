"""Hostile or broken servers: each gives a clear exception, never a crash or a hang."""

import socket
import threading

import amiko
import pytest


def fake_server(script):
    """A TCP server that runs ``script(conn)`` for one connection; returns its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def run():
        conn, _ = srv.accept()
        try:
            script(conn)
        except OSError:
            pass
        finally:
            conn.close()
            srv.close()

    threading.Thread(target=run, daemon=True).start()
    return port


def connect_to(port):
    t = amiko.Transport(("127.0.0.1", port))
    t.start_client(timeout=5)
    return t


def test_ssh1_server_is_refused():
    port = fake_server(lambda c: (c.sendall(b"SSH-1.5-old\r\n"), c.recv(100)))
    with pytest.raises(amiko.SSHException, match="(?i)version|SSH-1|protocol"):
        connect_to(port)


def test_endless_banner_lines_are_bounded():
    def script(c):
        for _ in range(5000):
            c.sendall(b"hello, this is not ssh\r\n")

    port = fake_server(script)
    with pytest.raises(amiko.SSHException):
        connect_to(port)


def test_garbage_packet_length_is_an_error():
    def script(c):
        c.sendall(b"SSH-2.0-fake\r\n")
        c.recv(1000)
        c.sendall(b"\xff\xff\xff\xff" + b"\x00" * 64)
        c.recv(1000)

    port = fake_server(script)
    with pytest.raises(amiko.SSHException):
        connect_to(port)


def test_silent_server_times_out():
    port = fake_server(lambda c: c.recv(100000) and __import__("time").sleep(3))
    t = amiko.Transport(("127.0.0.1", port))
    with pytest.raises(socket.timeout):
        t.start_client(timeout=0.5)


def test_server_closing_mid_handshake():
    def script(c):
        c.sendall(b"SSH-2.0-fake\r\n")
        c.recv(10)

    port = fake_server(script)
    with pytest.raises((amiko.SSHException, EOFError, OSError)):
        connect_to(port)


def test_recv_size_is_bounded(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    ch.exec_command("echo small")
    assert ch.recv(1 << 40) == b"small\n"  # a huge request does not allocate its size
    t.close()
