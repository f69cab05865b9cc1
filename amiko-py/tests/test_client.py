"""SSHClient against a real OpenSSH sshd: host-key policies, every login method, exec_command's file objects."""

import socket
import threading
import warnings

import amiko
import pytest


def connect(sshd, **kw):
    c = amiko.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    args = dict(port=sshd.port, username=sshd.user, look_for_keys=False, allow_agent=False)
    args.update(kw)
    c.connect("127.0.0.1", **args)
    return c


@pytest.fixture
def client(sshd):
    c = connect(sshd, password=sshd.password)
    yield c
    c.close()


def test_password_login_and_exec_with_exit_status(client):
    stdin, stdout, stderr = client.exec_command("echo out; echo err >&2; exit 7")
    assert stdout.read() == b"out\n"
    assert stderr.read() == b"err\n"
    assert stdout.channel.recv_exit_status() == 7
    assert isinstance(stdin, amiko.ChannelStdinFile)
    assert stdout.channel is stderr.channel is stdin.channel


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_key_filename_login(sshd, kind):
    with connect(sshd, key_filename=sshd.client_keys[kind]) as c:
        _, out, _ = c.exec_command("whoami")
        assert out.read().decode().strip() == sshd.user


def test_pkey_object_login(sshd):
    key = amiko.RSAKey.from_private_key_file(sshd.client_keys["rsa"])
    assert key.get_bits() == 3072
    with connect(sshd, pkey=key) as c:
        assert c.get_transport().is_authenticated()


def test_look_for_keys_uses_home_ssh(sshd, home):
    (home / ".ssh").mkdir()
    with open(sshd.client_keys["ed25519"]) as f:
        (home / ".ssh" / "id_ed25519").write_text(f.read())
    with connect(sshd, look_for_keys=True) as c:
        assert c.get_transport().is_authenticated()


def test_wrong_password_raises_authentication_exception(sshd):
    with pytest.raises(amiko.AuthenticationException):
        connect(sshd, password="wrong password")


def test_no_credentials_is_an_ssh_exception(sshd):
    with pytest.raises(amiko.SSHException):
        connect(sshd)


def test_reject_policy_refuses_unknown_host(sshd, home):
    c = amiko.SSHClient()
    with pytest.raises(amiko.SSHException, match="not found in known_hosts"):
        c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    assert c.get_transport() is None


def test_auto_add_policy_saves_to_load_host_keys_file(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    c = amiko.SSHClient()
    c.load_host_keys(str(kh))
    c.set_missing_host_key_policy(amiko.AutoAddPolicy())
    c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    c.close()
    text = kh.read_text()
    assert text.startswith("[127.0.0.1]:{} ".format(sshd.port))
    # And the saved key is accepted by the default policy next time.
    c2 = amiko.SSHClient()
    c2.load_host_keys(str(kh))
    c2.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    c2.close()


def test_warning_policy_warns_and_connects(sshd, home):
    c = amiko.SSHClient()
    c.set_missing_host_key_policy(amiko.WarningPolicy)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    assert any("Unknown" in str(x.message) for x in w)
    c.close()


def test_user_policy_subclass_sees_host_and_key(sshd, home):
    seen = []

    class Record(amiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):
            seen.append((client, hostname, key))
            raise amiko.SSHException("refused by test policy")

    c = amiko.SSHClient()
    c.set_missing_host_key_policy(Record())
    with pytest.raises(amiko.SSHException, match="refused by test policy"):
        c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    assert len(seen) == 1
    client, hostname, key = seen[0]
    assert client is c
    assert hostname == "[127.0.0.1]:{}".format(sshd.port)
    assert isinstance(key, amiko.PKey)
    assert key.get_base64() in open(sshd.known_hosts).read()


def test_changed_host_key_raises_bad_host_key(sshd, tmp_path):
    other = amiko.Ed25519Key.generate()
    kh = tmp_path / "known_hosts"
    kh.write_text("[127.0.0.1]:{} ssh-ed25519 {}\n".format(sshd.port, other.get_base64()))
    c = amiko.SSHClient()
    c.load_host_keys(str(kh))
    with pytest.raises(amiko.BadHostKeyException) as e:
        c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    assert e.value.expected_key == other
    assert "does not match" in str(e.value)


def test_closed_port_raises_no_valid_connections():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = amiko.SSHClient()
    with pytest.raises(amiko.NoValidConnectionsError) as e:
        c.connect("127.0.0.1", port=port, username="x", password="y")
    assert ("127.0.0.1", port) in e.value.errors
    assert isinstance(e.value, OSError)


def test_stdin_write_and_close_sends_eof(client):
    stdin, stdout, _ = client.exec_command("wc -c")
    stdin.write("hello ")
    stdin.write(b"world")
    stdin.close()
    assert stdout.read().strip() == b"11"


def test_readline_readlines_and_iteration_give_str(client):
    _, stdout, _ = client.exec_command("printf 'a\\nb\\nc\\nd\\n'")
    assert stdout.readline() == "a\n"
    assert next(iter(stdout)) == "b\n"
    assert stdout.readlines() == ["c\n", "d\n"]
    assert stdout.readline() == ""


def test_exec_timeout_raises_socket_timeout(client):
    _, stdout, _ = client.exec_command("sleep 5", timeout=0.3)
    with pytest.raises(socket.timeout):
        stdout.read()


def test_get_pty_and_environment(client):
    _, stdout, _ = client.exec_command("tty; echo $AMIKO_X", get_pty=True, environment={"AMIKO_X": "set"})
    out = stdout.read().decode()
    assert out.splitlines()[0].startswith("/dev/pts/")
    assert "set" in out


def test_large_output_is_read_whole(client):
    _, stdout, _ = client.exec_command("head -c 20000000 /dev/zero")
    data = stdout.read()
    assert len(data) == 20000000 and data.count(0) == len(data)


def test_large_varied_output_arrives_whole_and_in_order(client):
    # About 20 MB of distinct lines: read() writes them into a bytes object that grows as it fills (or gathers
    # them in chunks, where it cannot grow), so a piece lost, repeated or out of order changes the result.
    expected = "".join("{}\n".format(i) for i in range(1, 2600001)).encode()
    _, stdout, _ = client.exec_command("seq 1 2600000")
    assert stdout.read() == expected


def test_output_waiting_whole_before_read_arrives_whole(client):
    # About 5 MB, all buffered in the channel before read() starts (it fits the 8 MiB window, and the exit status
    # comes after it): read() is handed more at once than its first room of 64 KiB, and keeps the excess aside
    # until it has grown; losing or misplacing that excess changes the result.
    expected = "".join("{}\n".format(i) for i in range(1, 700001)).encode()
    _, stdout, _ = client.exec_command("seq 1 700000")
    assert stdout.channel.recv_exit_status() == 0
    assert stdout.read() == expected


def test_reading_stdout_whole_does_not_stall_on_unread_stderr(client):
    # 20 MB to each stream, more than the 8 MiB window: Paramiko's stdout.read() would wait for ever, the server
    # blocked on the unread stderr. Here stderr is set aside while stdout is read, and stderr.read() returns it.
    expected = "".join("{}\n".format(i) for i in range(1, 2600001)).encode()
    _, stdout, stderr = client.exec_command("seq 1 2600000 >&2; seq 1 2600000; echo end >&2", timeout=60)
    assert stdout.read() == expected
    assert stderr.read() == expected + b"end\n"
    assert stdout.channel.recv_exit_status() == 0


# Run in a child process: if the locks behind these calls ever wait on each other again, the child hangs and is
# killed, rather than the whole test session with it (one runtime thread serves every connection).
# The start of the scripts below, run in child processes: a client connected to the sshd given as arguments.
CHILD_CLIENT = """
import sys, threading, amiko
port, user, password, known_hosts = sys.argv[1:5]
c = amiko.SSHClient()
c.load_host_keys(known_hosts)
c.connect("127.0.0.1", port=int(port), username=user, password=password, look_for_keys=False, allow_agent=False)
"""

POLL_WHILE_READING = CHILD_CLIENT + """
expected = "".join("{}\\n".format(i) for i in range(1, 2600001)).encode()
_, stdout, stderr = c.exec_command("seq 1 2600000 >&2; seq 1 2600000")
done = threading.Event()

def poll():
    while not done.is_set():
        stderr.channel.recv_stderr_ready()
        stdout.channel.recv_ready()

pollers = [threading.Thread(target=poll) for _ in range(2)]
for t in pollers:
    t.start()
out = stdout.read()
done.set()
for t in pollers:
    t.join()
assert out == expected
assert stderr.read() == expected
print("ok")
"""


def test_polling_readiness_while_another_thread_reads_to_the_end(sshd):
    # recv_ready()/recv_stderr_ready() in loops beside stdout.read(), which sets stderr aside: neither may wait on
    # a lock the other holds.
    _run_child(POLL_WHILE_READING, sshd)


def _run_child(script, sshd, **env):
    """Runs `script` (CHILD_CLIENT and more) in a child Python against `sshd`, with `env` added; it prints "ok"."""
    import os
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", script, str(sshd.port), sshd.user, sshd.password, sshd.known_hosts],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, **env))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# The same whole reads where bytes objects cannot grow in place (as on an interpreter without CPython's
# _PyBytes_Resize): the output is gathered in chunks and copied once. Forced in a child process by the variable.
READS_IN_CHUNKS = CHILD_CLIENT + """
expected = "".join("{}\\n".format(i) for i in range(1, 2600001)).encode()
_, stdout, stderr = c.exec_command("seq 1 2600000 >&2; seq 1 2600000; echo end >&2")
assert stdout.read() == expected
assert stderr.read() == expected + b"end\\n"
_, stdout, _ = c.exec_command("printf x")
assert stdout.read() == b"x"
print("ok")
"""


def test_whole_reads_gathered_in_chunks_arrive_whole_and_in_order(sshd):
    _run_child(READS_IN_CHUNKS, sshd, AMIKO_PY_BYTES_IN_CHUNKS="1")


def test_two_threads_reading_stdout_and_stderr_get_every_byte_in_order(client):
    # The pattern Paramiko users take against that stall: a thread per stream. read() on one stream must not take
    # the other's bytes away from the thread reading it, with recv() or with read().
    expected = "".join("{}\n".format(i) for i in range(1, 600001)).encode()
    for use_recv in (False, True):
        _, stdout, stderr = client.exec_command("seq 1 600000 >&2 & seq 1 600000; wait", timeout=60)
        got = {}

        def errors():
            if use_recv:
                parts = []
                while True:
                    b = stderr.channel.recv_stderr(65536)
                    if not b:
                        break
                    parts.append(b)
                got["err"] = b"".join(parts)
            else:
                got["err"] = stderr.read()

        t = threading.Thread(target=errors)
        t.start()
        out = stdout.read()
        t.join(60)
        assert out == expected
        assert got["err"] == expected, use_recv


def test_many_commands_on_threads_share_one_connection(client):
    results = [None] * 8

    def run(i):
        _, out, _ = client.exec_command("echo {}".format(i))
        results[i] = out.read()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [("{}\n".format(i)).encode() for i in range(8)]


def test_invoke_shell_keeps_state(client):
    shell = client.invoke_shell()
    shell.settimeout(10)
    shell.send("export AMIKO_V=kept\n")
    shell.send("echo value=$AMIKO_V; exit\n")
    out = b""
    while True:
        chunk = shell.recv(4096)
        if not chunk:
            break
        out += chunk
    assert b"value=kept" in out
    assert shell.recv_exit_status() == 0


def test_context_manager_closes(sshd):
    with connect(sshd, password=sshd.password) as c:
        t = c.get_transport()
        assert t.is_active()
    assert not t.is_active()
    with pytest.raises(amiko.SSHException):
        c.exec_command("true")


def test_compress_true_negotiates_delayed_zlib_and_shrinks_the_wire(sshd):
    with connect(sshd, password=sshd.password, compress=True) as c:
        native = c.get_transport()._native
        assert native.compression() == ("zlib@openssh.com", "zlib@openssh.com")
        before = native.wire_bytes()[1]
        _, out, _ = c.exec_command("yes amiko | head -c 4000000")
        assert out.read() == (b"amiko\n" * 700000)[:4000000]
        got = native.wire_bytes()[1] - before
        assert got < 200000, got


def test_no_compression_unless_asked_and_use_compression_before_start(sshd):
    with connect(sshd, password=sshd.password) as c:
        assert c.get_transport()._native.compression() == ("none", "none")
        with pytest.raises(amiko.SSHException):
            c.get_transport().use_compression(True)
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.use_compression(True)
    t.connect(username=sshd.user, password=sshd.password)
    try:
        assert t._native.compression() == ("zlib@openssh.com", "zlib@openssh.com")
        ch = t.open_session()
        ch.exec_command("echo packed")
        assert ch.makefile("rb").read() == b"packed\n"
    finally:
        t.close()


# close() sends DISCONNECT before it returns: here the process ends right after it, with no other call that could
# carry the message out.
CLOSE_THEN_EXIT = CHILD_CLIENT + """
import os
_, stdout, _ = c.exec_command("true")
stdout.read()
c.close()
print("ok", flush=True)
os._exit(0)
"""


def test_close_sends_disconnect_before_the_process_exits(sshd):
    import re
    import time
    with open(sshd.log) as f:
        before = f.read().count("Received disconnect")
    _run_child(CLOSE_THEN_EXIT, sshd)
    # sshd logs the client's DISCONNECT ("Received disconnect from ... :11: bye"); without it, only "Connection
    # closed by ...".
    deadline = time.time() + 5
    while True:
        with open(sshd.log) as f:
            log = f.read()
        if log.count("Received disconnect") > before:
            break
        assert time.time() < deadline, log[-2000:]
        time.sleep(0.1)
    assert re.search(r"Received disconnect from .*:11: bye", log), log[-2000:]
