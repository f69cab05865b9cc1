"""Transport and Channel, step by step, against a real OpenSSH sshd."""

import socket
import time

import amiko
import pytest

import conftest
import peers


def started(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.start_client()
    return t


def test_host_port_string_and_connect(sshd):
    t = amiko.Transport("127.0.0.1:{}".format(sshd.port))
    assert not t.is_active()
    t.connect(username=sshd.user, password=sshd.password)
    assert t.is_active() and t.is_authenticated()
    assert t.getpeername() == ("127.0.0.1", sshd.port)
    assert t.remote_version.startswith("SSH-2.0-OpenSSH")
    t.close()
    assert (t.is_active(), t.is_authenticated()) == (False, False)


def test_connect_checks_the_given_hostkey(sshd):
    good = amiko.PKey.from_type_string("ssh-ed25519", __import__("base64").b64decode(
        sshd.host_key_line("ed25519").split()[1]))
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(hostkey=good, username=sshd.user, password=sshd.password)
    assert t.get_remote_server_key() == good
    t.close()
    bad = amiko.Ed25519Key.generate()
    t = amiko.Transport(("127.0.0.1", sshd.port))
    with pytest.raises(amiko.SSHException, match="Bad host key"):
        t.connect(hostkey=bad, username=sshd.user, password=sshd.password)


def test_from_a_connected_socket(sshd):
    s = socket.create_connection(("127.0.0.1", sshd.port))
    t = amiko.Transport(s)
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    ch.exec_command("echo via-socket")
    assert ch.makefile("rb").read() == b"via-socket\n"
    t.close()


def test_auth_none_reports_allowed_types(sshd):
    t = started(sshd)
    with pytest.raises(amiko.BadAuthenticationType) as e:
        t.auth_none(sshd.user)
    assert "publickey" in e.value.allowed_types and "password" in e.value.allowed_types
    assert not t.is_authenticated()
    assert t.auth_password(sshd.user, sshd.password) == []
    assert t.is_authenticated()
    t.close()


def test_auth_password_wrong_then_right(sshd):
    t = started(sshd)
    with pytest.raises(amiko.AuthenticationException):
        t.auth_password(sshd.user, "nope")
    assert t.auth_password(sshd.user, sshd.password) == []
    t.close()


def test_auth_publickey(sshd):
    t = started(sshd)
    key = amiko.PKey.from_path(sshd.client_keys["ecdsa"])
    assert isinstance(key, amiko.ECDSAKey)
    assert t.auth_publickey(sshd.user, key) == []
    assert t.get_username() == sshd.user
    t.close()


def test_auth_publickey_unknown_key_fails(sshd):
    t = started(sshd)
    with pytest.raises(amiko.AuthenticationException):
        t.auth_publickey(sshd.user, amiko.Ed25519Key.generate())
    t.close()


def test_channel_readiness_recv_and_closed(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    assert isinstance(ch.get_id(), int) and not ch.closed
    ch.exec_command("echo out; echo err >&2")
    deadline = time.time() + 10
    while not ch.exit_status_ready() and time.time() < deadline:
        time.sleep(0.02)
    assert ch.recv_ready() and ch.recv_stderr_ready()
    assert ch.recv(1024) == b"out\n"
    assert ch.recv_stderr(1024) == b"err\n"
    assert ch.recv_exit_status() == 0
    assert ch.recv(1024) == b""
    assert ch.closed
    with pytest.raises(amiko.SSHException, match="^Channel is not open$"):
        ch.exec_command("true")
    with pytest.raises(OSError):
        ch.send("x")
    t.close()


def test_channel_sendall_shutdown_write_and_settimeout(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    ch.exec_command("cat")
    data = b"x" * 3000000
    ch.sendall(data)
    ch.shutdown_write()
    got = ch.makefile("rb").read()
    assert got == data
    ch2 = t.open_session()
    ch2.settimeout(0.2)
    assert ch2.gettimeout() == 0.2
    ch2.exec_command("sleep 3")
    with pytest.raises(socket.timeout):
        ch2.recv(10)
    ch2.close()
    t.close()


def test_combine_stderr(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    ch.set_combine_stderr(True)
    ch.exec_command("echo err >&2; sleep 0.2; echo out")
    out = b""
    while True:
        c = ch.recv(100)
        if not c:
            break
        out += c
    assert b"err" in out and b"out" in out
    t.close()


def test_keepalive_and_rekey_keep_the_connection(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    t.set_keepalive(1)
    t.renegotiate_keys()
    time.sleep(1.5)
    ch = t.open_session()
    ch.exec_command("echo alive")
    assert ch.makefile("rb").read() == b"alive\n"
    assert t._native.kex_count() >= 2
    t.close()


def test_the_connection_is_served_while_the_application_makes_no_call():
    """Between calls the module's runtime thread answers the server: this sshd asks every second whether the client
    is alive and drops it after a second unanswered question (4-5 s on OpenSSH 9.2), while the application sleeps
    for 6 s."""
    s = conftest._start(lambda: peers.Sshd(extra="ClientAliveInterval 1\nClientAliveCountMax 1\n"))
    try:
        t = amiko.Transport(("127.0.0.1", s.port))
        t.connect(username=s.user, password=s.password)
        time.sleep(6)
        assert t.is_active()
        ch = t.open_session()
        ch.exec_command("echo alive")
        assert ch.makefile("rb").read() == b"alive\n"
        t.close()
        with open(s.log) as f:
            log = f.read()
        # "Got 82/2 for keepalive": sshd's question, answered (with a refusal, as the request is unknown to us).
        assert "for keepalive" in log, log[-2000:]
    finally:
        s.stop()


def test_disabled_algorithms_reach_the_negotiation(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port), disabled_algorithms={
        "ciphers": ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]})
    t.connect(username=sshd.user, password=sshd.password)
    assert t._native.cipher().startswith("aes") and "gcm" not in t._native.cipher()
    t.close()


def _cpu_has_aes():
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
    return {"aes", "pclmulqdq"} <= flags or {"aes", "pmull"} <= flags


def test_default_cipher_is_aes_gcm_on_aes_hardware_and_chacha20_without(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    want = "aes128-gcm@openssh.com" if _cpu_has_aes() else "chacha20-poly1305@openssh.com"
    assert t._native.cipher() == want
    t.close()
    # The caller's choice still wins over the module's order.
    t = amiko.Transport(("127.0.0.1", sshd.port), disabled_algorithms={
        "ciphers": ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]})
    t.connect(username=sshd.user, password=sshd.password)
    assert t._native.cipher() == "chacha20-poly1305@openssh.com"
    t.close()


def test_open_channel_kinds(sshd):
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    assert isinstance(t.open_channel("session"), amiko.Channel)
    with pytest.raises(amiko.ChannelException):
        t.open_channel("forwarded-tcpip", ("127.0.0.1", 1), ("127.0.0.1", 2))
    t.close()


def test_open_session_before_auth_is_refused(sshd):
    t = started(sshd)
    with pytest.raises(amiko.SSHException):
        t.open_session()
    t.close()


def test_network_waits_release_the_gil(sshd):
    """While one thread waits for a command's output, another thread's Python code keeps running."""
    import threading
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.connect(username=sshd.user, password=sshd.password)
    ch = t.open_session()
    ch.exec_command("sleep 1; echo done")
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    start_ticks = ticks[0]
    assert ch.makefile("rb").read() == b"done\n"
    during = ticks[0] - start_ticks
    stop.set()
    th.join()
    assert during > 100000, "the other thread ran only {} loops in 1 s".format(during)
    t.close()


def test_jump_host_with_direct_tcpip_and_sock(sshd):
    """Paramiko's jump-host recipe: open_channel("direct-tcpip") on one connection, then connect(sock=channel)."""
    jump = amiko.SSHClient()
    jump.load_host_keys(sshd.known_hosts)
    jump.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    chan = jump.get_transport().open_channel("direct-tcpip", ("127.0.0.1", sshd.port), ("127.0.0.1", 0))
    inner = amiko.SSHClient()
    inner.load_host_keys(sshd.known_hosts)
    inner.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False,
                  sock=chan)
    _, out, _ = inner.exec_command("echo inner")
    assert out.read() == b"inner\n"
    assert inner.get_transport().remote_version.startswith("SSH-2.0-OpenSSH")
    inner.close()
    _, out, _ = jump.exec_command("echo outer")
    assert out.read() == b"outer\n"
    with pytest.raises(amiko.ChannelException) as e:
        jump.get_transport().open_channel("direct-tcpip", ("127.0.0.1", 1), ("127.0.0.1", 0))
    assert e.value.code == 2
    jump.close()
