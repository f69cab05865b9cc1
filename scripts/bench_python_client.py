"""One benchmark workload with one Python SSH library; run by scripts/bench-python in a fresh process.

usage: bench_python_client.py TOOL WORKLOAD HOST PORT USER PASSWORD ARG
TOOL: amiko | amiko-chacha | amiko-ctr | paramiko | asyncssh
WORKLOAD: stream (ARG bytes through exec_command), get / put (ARG bytes over SFTP), connect (ARG connections,
each: connect + password auth + exec `true`).
Prints one JSON line: wall seconds and CPU seconds (user+sys, all threads) of the workload alone (imports and
interpreter start excluded; stream, get and put start the clock once connected and authenticated, so they measure
the transfer, closing included; for "connect", one untimed connection first takes the one-time start-up costs of
each library out of the per-connection figure), and the cipher negotiated.
"""

import json
import os
import resource
import sys
import tempfile
import time

tool, workload, host, port, user, password, arg = sys.argv[1:8]
port = int(port)
arg = int(arg)
# Where the remote files live: /tmp on sshd, the jail's root on `amiko serve --sftp-root`.
REMOTE = os.environ.get("AMIKO_BENCH_REMOTE_DIR", "/tmp").rstrip("/")
# amiko-ctr: the cipher and the key exchange Paramiko negotiates here (aes128-ctr, curve25519-sha256), for a
# same-algorithms comparison. amiko's default key exchange against OpenSSH 9.x is post-quantum sntrup761x25519,
# about 1 ms more client CPU than curve25519 per connection; Paramiko has no post-quantum key exchange.
CTR = {"ciphers": ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"],
       "kex": ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]}
# amiko-chacha: OpenSSH's cipher order (ChaCha20-Poly1305 first), which the module left for AES-GCM on CPUs with
# AES instructions.
CHACHA = {"ciphers": ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]}
VARIANTS = {"amiko-ctr": CTR, "amiko-chacha": CHACHA}


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def sync_client(mod):
    c = mod.SSHClient()
    c.set_missing_host_key_policy(mod.AutoAddPolicy())
    extra = {"disabled_algorithms": VARIANTS[tool]} if tool in VARIANTS else {}
    c.connect(host, port=port, username=user, password=password, look_for_keys=False, allow_agent=False, **extra)
    return c


def sync_cipher(c):
    t = c.get_transport()
    if hasattr(t, "_native"):
        return t._native.cipher()
    return t.remote_cipher


def warm_up_sync(mod):
    """One untimed connection: one-time costs (runtime and crypto start-up) are not a per-connection cost."""
    c = sync_client(mod)
    c.exec_command("true")[1].read()
    c.close()


def run_sync(mod):
    local = os.path.join(tempfile.gettempdir(), "amiko-bench-py-{}".format(os.getpid()))
    if workload == "put":
        with open(local, "wb") as f:
            f.write(b"\0" * arg)
    cipher = None
    if workload == "connect":
        warm_up_sync(mod)
        t0, c0 = time.perf_counter(), cpu()
        for _ in range(arg):
            c = sync_client(mod)
            _, out, _ = c.exec_command("true")
            out.read()
            out.channel.recv_exit_status()
            cipher = sync_cipher(c)
            c.close()
    else:
        # The connection is made before the clock starts: these workloads measure throughput, and connecting has
        # its own workload.
        c = sync_client(mod)
        cipher = sync_cipher(c)
        t0, c0 = time.perf_counter(), cpu()
        if workload == "stream":
            _, out, _ = c.exec_command("head -c {} /dev/zero".format(arg))
            n = len(out.read())
            assert n == arg, n
        else:
            s = c.open_sftp()
            remote = REMOTE + "/amiko-bench-py-remote-{}".format(os.getpid())
            if workload == "get":
                # The file to fetch is made outside the timed part.
                pass
            if workload == "put":
                s.put(local, remote)
            else:
                s.get(REMOTE + "/amiko-bench-py-source", local)
                assert os.path.getsize(local) == arg
            s.close()
        c.close()
    wall, used = time.perf_counter() - t0, cpu() - c0
    if os.path.exists(local):
        os.remove(local)
    return wall, used, cipher


def run_asyncssh():
    import asyncio
    import asyncssh

    async def main():
        local = os.path.join(tempfile.gettempdir(), "amiko-bench-py-{}".format(os.getpid()))
        if workload == "put":
            with open(local, "wb") as f:
                f.write(b"\0" * arg)
        opts = dict(port=port, username=user, password=password, known_hosts=None, client_keys=None,
                    agent_path=None)
        cipher = None
        if workload == "connect":
            async with asyncssh.connect(host, **opts) as conn:
                await conn.run("true")
        if workload == "connect":
            t0, c0 = time.perf_counter(), cpu()
            for _ in range(arg):
                async with asyncssh.connect(host, **opts) as conn:
                    await conn.run("true")
                    cipher = conn.get_extra_info("send_cipher")
        else:
            async with asyncssh.connect(host, **opts) as conn:
                cipher = conn.get_extra_info("send_cipher")
                t0, c0 = time.perf_counter(), cpu()
                if workload == "stream":
                    r = await conn.run("head -c {} /dev/zero".format(arg), encoding=None)
                    assert len(r.stdout) == arg
                else:
                    async with conn.start_sftp_client() as s:
                        if workload == "put":
                            await s.put(local, REMOTE + "/amiko-bench-py-remote-{}".format(os.getpid()))
                        else:
                            await s.get(REMOTE + "/amiko-bench-py-source", local)
        wall, used = time.perf_counter() - t0, cpu() - c0
        if os.path.exists(local):
            os.remove(local)
        return wall, used, cipher

    return asyncio.run(main())


if tool == "asyncssh":
    wall, used, cipher = run_asyncssh()
else:
    mod = __import__("paramiko" if tool == "paramiko" else "amiko")
    wall, used, cipher = run_sync(mod)
try:
    os.remove(REMOTE + "/amiko-bench-py-remote-{}".format(os.getpid()))
except OSError:
    pass
print(json.dumps({"tool": tool, "workload": workload, "wall": wall, "cpu": used, "cipher": cipher}))
