"""The seed tutorial's code, unchanged but for `import amiko as paramiko`, against a real OpenSSH sshd.

The tutorial connects with the default port (22) and `Transport(host)`, so the sshd listens on port 22 of a
random 127.x.y.z address. The same runner also drives real Paramiko, which shows the runner's checks are the
tutorial's and not fitted to amiko.
"""

import os

import peers
import pytest
import seed_runner


@pytest.fixture(scope="module")
def sshd22():
    addr = peers.loopback_22()
    if addr is None:
        pytest.fail("no 127.x.y.z address has port 22 free")
    try:
        s = peers.Sshd(addr=addr, port=22)
    except RuntimeError as e:
        if os.environ.get("AMIKO_REQUIRE_PEERS") == "1":
            raise
        pytest.skip(str(e))
    yield s
    s.stop()


def test_seed_walkthrough_with_amiko(sshd22, home):
    ns = seed_runner.run("import amiko as paramiko", sshd22.addr, sshd22.user, sshd22.password, log=lambda s: None)
    assert ns["paramiko"].__name__ == "amiko"
    # AutoAddPolicy remembered the key in memory only (load_system_host_keys files are never written).
    assert not (home / ".ssh" / "known_hosts").exists()


def test_seed_walkthrough_with_paramiko_checks_the_runner(sshd22, home):
    paramiko = pytest.importorskip("paramiko")
    ns = seed_runner.run("import paramiko", sshd22.addr, sshd22.user, sshd22.password, log=lambda s: None)
    assert ns["paramiko"] is paramiko
