"""Paramiko's agent API and allow_agent against a real OpenSSH ssh-agent and sshd."""

import os
import shutil
import subprocess
import tempfile
import time

import amiko
import pytest


@pytest.fixture
def agent(sshd, monkeypatch):
    """An OpenSSH ssh-agent (``ssh-agent -D -a``) holding the sshd's authorized client keys; $SSH_AUTH_SOCK names
    it."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        if os.environ.get("AMIKO_REQUIRE_PEERS") == "1":
            raise RuntimeError("ssh-agent is required")
        pytest.skip("ssh-agent missing")
    d = tempfile.mkdtemp(prefix="amiko-py-agent-")
    sock = os.path.join(d, "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not os.path.exists(sock):
        assert time.time() < deadline, "ssh-agent did not start"
        time.sleep(0.02)
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)

    def add(kind):
        subprocess.run(["ssh-add", sshd.client_keys[kind]], env=dict(os.environ, SSH_AUTH_SOCK=sock), check=True,
                       capture_output=True)

    yield sock, add
    proc.kill()
    proc.wait()
    shutil.rmtree(d, ignore_errors=True)


def connect(sshd, **kw):
    c = amiko.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect("127.0.0.1", port=sshd.port, username=sshd.user, look_for_keys=False, **kw)
    return c


def test_agent_lists_keys_and_signs(sshd, agent):
    sock, add = agent
    for kind in ("ed25519", "ecdsa", "rsa"):
        add(kind)
    keys = amiko.Agent().get_keys()
    names = [k.get_name() for k in keys]
    assert names == ["ssh-ed25519", "ecdsa-sha2-nistp384", "ssh-rsa"]
    for kind, key in zip(("ed25519", "ecdsa", "rsa"), keys):
        with open(sshd.client_keys[kind] + ".pub") as f:
            assert key.get_base64() == f.read().split()[1]
        assert key.can_sign()
    rsa = keys[2]
    for alg in ("rsa-sha2-256", "rsa-sha2-512"):
        sig = rsa.sign_ssh_data(b"hello", alg)
        assert sig[4:4 + len(alg)] == alg.encode()
        assert rsa.verify_ssh_sig(b"hello", sig)
    # No agent: no keys, as Paramiko.
    assert amiko.Agent("/nonexistent/agent.sock").get_keys() == ()


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_allow_agent_logs_in_with_agent_keys_only(sshd, agent, kind):
    sock, add = agent
    add(kind)
    with connect(sshd) as c:
        _, out, _ = c.exec_command("echo agent-ok")
        assert out.read() == b"agent-ok\n"
    with pytest.raises(amiko.SSHException):
        connect(sshd, allow_agent=False)


def test_transport_auth_publickey_with_an_agent_key(sshd, agent):
    sock, add = agent
    add("rsa")
    t = amiko.Transport(("127.0.0.1", sshd.port))
    t.start_client()
    key = amiko.Agent().get_keys()[0]
    assert t.auth_publickey(sshd.user, key) == []
    assert t.is_authenticated()
    t.close()


def test_agent_request_handler_forwards_the_agent_through_sshd(sshd, agent):
    sock, add = agent
    for kind in ("ed25519", "rsa"):
        add(kind)
    with connect(sshd) as c:
        t = c.get_transport()
        # Without forwarding, no agent over there.
        _, out, _ = c.exec_command("ssh-add -l; echo status=$?")
        assert out.read().decode().strip().endswith("status=2")
        chan = t.open_session()
        amiko.AgentRequestHandler(chan)
        chan.exec_command("ssh-add -L")
        listed = chan.makefile("r").read().decode()
        assert chan.recv_exit_status() == 0
        for kind in ("ed25519", "rsa"):
            with open(sshd.client_keys[kind] + ".pub") as f:
                assert " ".join(f.read().split()[:2]) in listed
