"""Real peers for the Python tests: an OpenSSH sshd and ``amiko serve`` on loopback, started and stopped here.

As root the harness uses the account ``amikotest`` (created if needed, with a password), as the Rust harness does.
"""

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

TEST_USER = "amikotest"
TEST_PASSWORD = "amiko-Test-pw-42"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AMIKO = os.path.join(ROOT, "target", "release", "amiko")


def free_port(addr="127.0.0.1"):
    s = socket.socket()
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def is_root():
    return os.geteuid() == 0


def ensure_test_user():
    if subprocess.call(["id", TEST_USER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        subprocess.call(["useradd", "-m", "-s", "/bin/bash", TEST_USER])
    p = subprocess.run(["chpasswd"], input="{}:{}\n".format(TEST_USER, TEST_PASSWORD).encode())
    return p.returncode == 0


def keygen(path, kind, bits=None):
    cmd = ["ssh-keygen", "-q", "-N", "", "-t", kind, "-f", path]
    if bits:
        cmd += ["-b", str(bits)]
    subprocess.check_call(cmd)


def wait_port(addr, port, proc, what):
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection((addr, port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    raise RuntimeError("{} did not start".format(what))


class Sshd:
    """An OpenSSH sshd on ``addr:port`` with ed25519, ECDSA and RSA host keys and password, key and
    keyboard-interactive logins for the test user."""

    def __init__(self, addr="127.0.0.1", port=None, extra=""):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            raise RuntimeError("OpenSSH sshd is not installed")
        if not is_root() or not ensure_test_user():
            raise RuntimeError("the sshd tests need root (to log in as the test account)")
        self.addr = addr
        self.port = port or free_port(addr)
        self.user = TEST_USER
        self.password = TEST_PASSWORD
        self.dir = tempfile.mkdtemp(prefix="amiko-py-sshd-")
        self.host_keys = {}
        for kind in ("ed25519", "ecdsa", "rsa"):
            path = os.path.join(self.dir, "host_" + kind)
            keygen(path, kind)
            self.host_keys[kind] = path
        self.client_keys = {}
        auth = []
        for kind, bits in (("ed25519", None), ("ecdsa", 384), ("rsa", 3072)):
            path = os.path.join(self.dir, "id_" + kind)
            keygen(path, kind, bits)
            self.client_keys[kind] = path
            with open(path + ".pub") as f:
                auth.append(f.read())
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            f.writelines(auth)
        # sshd reads authorized_keys as the user it logs in.
        os.chmod(self.dir, 0o755)
        os.chmod(self.authorized_keys, 0o644)
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        label = self.addr if self.port == 22 else "[{}]:{}".format(self.addr, self.port)
        with open(self.known_hosts, "w") as f:
            for path in self.host_keys.values():
                with open(path + ".pub") as p:
                    t, b = p.read().split()[:2]
                f.write("{} {} {}\n".format(label, t, b))
        config = os.path.join(self.dir, "sshd_config")
        host_key_lines = "".join("HostKey {}\n".format(p) for p in self.host_keys.values())
        with open(config, "w") as f:
            f.write(extra + "\nListenAddress {}\nPort {}\n".format(self.addr, self.port) + host_key_lines +
                    "PidFile none\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication yes\n"
                    "KbdInteractiveAuthentication yes\nPubkeyAuthentication yes\nSubsystem sftp internal-sftp\n"
                    "MaxStartups 200\nMaxSessions 200\nMaxAuthTries 20\nAcceptEnv AMIKO_*\nLogLevel DEBUG\n"
                    .format(self.authorized_keys))
        os.makedirs("/run/sshd", exist_ok=True)
        self.log = os.path.join(self.dir, "sshd.log")
        self.proc = subprocess.Popen([sshd, "-D", "-f", config, "-E", self.log], stdin=subprocess.DEVNULL)
        wait_port(self.addr, self.port, self.proc, "sshd")

    def host_key_line(self, kind="ed25519"):
        with open(self.host_keys[kind] + ".pub") as f:
            return f.read().strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class AmikoServe:
    """``amiko serve`` with password login for the test user; SFTP is jailed in a temporary directory."""

    def __init__(self):
        if not os.path.exists(AMIKO):
            raise RuntimeError("build amiko first: cargo build --release")
        self.dir = tempfile.mkdtemp(prefix="amiko-py-serve-")
        self.port = free_port()
        self.user = TEST_USER
        self.password = TEST_PASSWORD
        self.host_key = os.path.join(self.dir, "host_ed25519")
        keygen(self.host_key, "ed25519")
        self.sftp_root = os.path.join(self.dir, "sftp")
        os.makedirs(self.sftp_root)
        cmd = [AMIKO, "serve", "--listen", "127.0.0.1:{}".format(self.port), "--host-key", self.host_key,
               "--password-env", "AMIKO_TEST_PW", "--user", self.user, "--sftp-root", self.sftp_root]
        env = dict(os.environ, AMIKO_TEST_PW=self.password)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        wait_port("127.0.0.1", self.port, self.proc, "amiko serve")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def loopback_22():
    """An address 127.x.y.z whose port 22 is free, for code that uses the default port (the seed does)."""
    for _ in range(20):
        addr = "127.{}.{}.{}".format(random.randint(1, 254), random.randint(0, 254), random.randint(1, 254))
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, 22))
            return addr
        except OSError:
            continue
        finally:
            s.close()
    return None
