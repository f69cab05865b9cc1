"""Keys, HostKeys and SSHConfig, checked against OpenSSH's own tools (ssh-keygen) where they exist."""

import base64
import subprocess

import amiko
import pytest


@pytest.mark.parametrize("kind,cls,bits", [("ed25519", amiko.Ed25519Key, 256), ("ecdsa", amiko.ECDSAKey, 384),
                                           ("rsa", amiko.RSAKey, 3072)])
def test_loaded_keys_match_ssh_keygen(sshd, kind, cls, bits):
    key = cls.from_private_key_file(sshd.client_keys[kind])
    assert key.can_sign() and key.get_bits() == bits
    fp = subprocess.check_output(["ssh-keygen", "-l", "-f", sshd.client_keys[kind] + ".pub"], text=True).split()[1]
    assert key.fingerprint == fp
    with open(sshd.client_keys[kind] + ".pub") as f:
        assert key.get_base64() == f.read().split()[1]


def test_wrong_class_for_key_is_refused(sshd):
    with pytest.raises(amiko.SSHException):
        amiko.RSAKey.from_private_key_file(sshd.client_keys["ed25519"])


def test_encrypted_key_needs_passphrase(tmp_path):
    path = str(tmp_path / "enc")
    subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-f", path])
    with pytest.raises(amiko.PasswordRequiredException):
        amiko.Ed25519Key.from_private_key_file(path)
    with pytest.raises(amiko.SSHException):
        amiko.Ed25519Key.from_private_key_file(path, password="wrong")
    assert amiko.Ed25519Key.from_private_key_file(path, password="s3cret").can_sign()


def test_generated_key_written_is_read_by_ssh_keygen(tmp_path):
    key = amiko.ECDSAKey.generate(bits=256)
    path = str(tmp_path / "gen")
    key.write_private_key_file(path)
    pub = subprocess.check_output(["ssh-keygen", "-y", "-f", path], text=True).split()
    assert pub[0] == "ecdsa-sha2-nistp256" and pub[1] == key.get_base64()
    assert amiko.PKey.from_path(path) == key


def test_sign_and_verify():
    key = amiko.Ed25519Key.generate()
    sig = key.sign_ssh_data(b"data")
    assert key.verify_ssh_sig(b"data", sig)
    assert not key.verify_ssh_sig(b"other", sig)


def test_hostkeys_load_lookup_save_and_hashed_names(tmp_path):
    k1 = amiko.Ed25519Key.generate()
    k2 = amiko.ECDSAKey.generate()
    kh = tmp_path / "known_hosts"
    plain = "example.com,10.0.0.1 ssh-ed25519 {}\n".format(k1.get_base64())
    kh.write_text("hashme ecdsa-sha2-nistp256 {}\n".format(k2.get_base64()))
    # Hash the entry with OpenSSH itself, then add plain and unusable lines.
    subprocess.check_call(["ssh-keygen", "-q", "-H", "-f", str(kh)], stdout=subprocess.DEVNULL)
    kh.write_text(kh.read_text() + plain + "# comment\nbad line\nother ssh-dss AAAAB3NzaC1kc3M=\n")
    text = kh.read_text()
    assert "hashme" not in text and "|1|" in text
    hk = amiko.HostKeys(str(kh))
    assert hk.lookup("10.0.0.1")["ssh-ed25519"] == k1
    assert hk.check("hashme", k2)
    assert not hk.check("hashme", k1)
    assert hk.lookup("unknown") is None
    hk.add("new.example", "ssh-ed25519", k1)
    out = tmp_path / "saved"
    hk.save(str(out))
    again = amiko.HostKeys(str(out))
    assert again.check("new.example", k1) and again.check("hashme", k2)
    h = amiko.HostKeys.hash_host("example.com")
    assert h.startswith("|1|") and amiko.HostKeys.hash_host("example.com", h) == h


def test_ssh_config_lookup():
    cfg = amiko.SSHConfig.from_text("""
Host web*
    HostName %h.internal
    User deploy
    IdentityFile ~/.ssh/web_%r
    Port 2200
Host *
    User fallback
    IdentityFile ~/.ssh/id_all
    ServerAliveInterval 30
Match user deploy
    Compression yes
""")
    r = cfg.lookup("web1")
    assert r["hostname"] == "web1.internal"
    assert r["user"] == "deploy"
    assert r.as_int("port") == 2200
    assert r["identityfile"][0].endswith("/.ssh/web_deploy") and len(r["identityfile"]) == 2
    assert r.as_int("serveraliveinterval") == 30
    assert r.as_bool("compression")
    o = cfg.lookup("db")
    assert o["hostname"] == "db" and o["user"] == "fallback" and "compression" not in o
    assert "web*" in cfg.get_hostnames()
    with pytest.raises(amiko.ConfigParseError):
        amiko.SSHConfig.from_text("Match user\n")


def test_public_key_from_type_string_checks_the_type():
    k = amiko.Ed25519Key.generate()
    assert amiko.PKey.from_type_string("ssh-ed25519", k.asbytes()) == k
    with pytest.raises(amiko.SSHException):
        amiko.PKey.from_type_string("ssh-rsa", k.asbytes())
    with pytest.raises(amiko.SSHException):
        amiko.PKey(data=base64.b64decode("AAAAB3NzaC1kc3M="))
