"""Fan-out from Python against real sshd: many sessions at once, per-host results and failures."""

import socket

import amiko
from amiko import fanout


def test_fanout_runs_everywhere_and_keeps_order(sshd):
    hosts = ["127.0.0.1:{}".format(sshd.port)] * 60
    results = fanout.run(hosts, "echo $((6*7)); echo e >&2", username=sshd.user, password=sshd.password,
                         known_hosts=sshd.known_hosts, parallel=30, timeout=60)
    assert len(results) == 60
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    assert {r.stdout for r in results} == {b"42\n"} and {r.stderr for r in results} == {b"e\n"}
    assert [r.host for r in results] == hosts
    assert all(r.duration > 0 for r in results)


def test_fanout_reports_each_failure(sshd):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    good = "127.0.0.1:{}".format(sshd.port)
    results = fanout.run([good, "127.0.0.1:{}".format(dead), "no-such-user-x@" + good], "exit 3", username=sshd.user,
                         key_filename=sshd.client_keys["ed25519"], known_hosts=sshd.known_hosts,
                         connect_timeout=5)
    ok, refused, wrong_user = results
    assert ok.exit_status == 3 and ok.error is None and not ok.ok
    assert refused.error and refused.exit_status is None
    assert wrong_user.error and "no-such-user-x" in wrong_user.error


def test_fanout_rejects_unknown_hosts_by_default(sshd, tmp_path):
    empty = tmp_path / "kh"
    empty.write_text("")
    [r] = fanout.run("127.0.0.1:{}".format(sshd.port), "true", username=sshd.user, password=sshd.password,
                     known_hosts=str(empty))
    assert r.error and "host key" in r.error
    [r] = fanout.run("127.0.0.1:{}".format(sshd.port), "true", username=sshd.user, password=sshd.password,
                     known_hosts=str(empty), policy=amiko.AutoAddPolicy)
    assert r.ok and "ssh-" in empty.read_text() or "ecdsa" in empty.read_text()
