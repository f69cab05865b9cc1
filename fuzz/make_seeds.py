#!/usr/bin/env python3
"""Writes the seed corpus of every target into fuzz/corpus/<target>/ (run once; the output is committed).

Seeds are small, well-formed inputs in each target's input format (see amiko-proto/src/fuzzing.rs): real SSH
messages as RFC 4253/4252/4254 lay them out, real keys and known_hosts/ssh_config lines, real SFTP packets.
Keys come from amiko-proto/tests/data and from ssh-keygen (when it is installed) for the OpenSSH formats.
"""
import os, struct, subprocess, tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(ROOT, "corpus")

def u32(n): return struct.pack(">I", n)
def u64(n): return struct.pack(">Q", n)
def s(b): b = b.encode() if isinstance(b, str) else b; return u32(len(b)) + b
def nl(*xs): return s(",".join(xs))
def u16l(*ps): return b"".join(struct.pack("<H", len(p)) + p for p in ps)
def plain_packet(payload):
    pad = 8 - (5 + len(payload)) % 8
    if pad < 4: pad += 8
    return u32(1 + len(payload) + pad) + bytes([pad]) + payload + b"\0" * pad

def write(target, name, data):
    d = os.path.join(C, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

KEXINIT = (bytes([20]) + bytes(range(16)) + nl("curve25519-sha256", "kex-strict-c-v00@openssh.com", "ext-info-c")
           + nl("ssh-ed25519", "rsa-sha2-256") + nl("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com") * 2
           + nl("hmac-sha2-256-etm@openssh.com") * 2 + nl("none") * 2 + s("") * 2 + b"\0" + u32(0))
ECDH_INIT = bytes([30]) + s(bytes(range(32)))
SERVICE_REQ = bytes([5]) + s("ssh-userauth")
SERVICE_ACC = bytes([6]) + s("ssh-userauth")
EXT_INFO = bytes([7]) + u32(1) + s("server-sig-algs") + s("ssh-ed25519,rsa-sha2-256")
AUTH_NONE = bytes([50]) + s("u") + s("ssh-connection") + s("none")
AUTH_PW = bytes([50]) + s("u") + s("ssh-connection") + s("password") + b"\0" + s("pw")
AUTH_KI = bytes([50]) + s("u") + s("ssh-connection") + s("keyboard-interactive") + s("") + s("")
AUTH_PK = bytes([50]) + s("u") + s("ssh-connection") + s("publickey") + b"\0" + s("ssh-ed25519") + s(s("ssh-ed25519") + s(bytes(32)))
AUTH_FAIL = bytes([51]) + nl("publickey", "password") + b"\0"
AUTH_OK = bytes([52])
BANNER = bytes([53]) + s("welcome\n") + s("")
INFO_REQ = bytes([60]) + s("n") + s("i") + s("") + u32(1) + s("Password: ") + b"\0"
INFO_RESP = bytes([61]) + u32(1) + s("pw")
GLOBAL = bytes([80]) + s("keepalive@openssh.com") + b"\1"
TCPIP_FWD = bytes([80]) + s("tcpip-forward") + b"\1" + s("0.0.0.0") + u32(8080)
OPEN = bytes([90]) + s("session") + u32(0) + u32(2097152) + u32(32768)
OPEN_DTI = bytes([90]) + s("direct-tcpip") + u32(1) + u32(2097152) + u32(32768) + s("db") + u32(5432) + s("10.0.0.1") + u32(4000)
OPEN_CONF = bytes([91]) + u32(0) + u32(0) + u32(2097152) + u32(32768)
OPEN_FAIL = bytes([92]) + u32(1) + u32(2) + s("connect failed") + s("")
WADJ = bytes([93]) + u32(0) + u32(65536)
DATA = bytes([94]) + u32(0) + s("hello\n")
EXT = bytes([95]) + u32(0) + u32(1) + s("oops\n")
EOF_ = bytes([96]) + u32(0)
CLOSE = bytes([97]) + u32(0)
REQ_EXEC = bytes([98]) + u32(0) + s("exec") + b"\1" + s("ls -l")
REQ_PTY = bytes([98]) + u32(0) + s("pty-req") + b"\1" + s("xterm") + u32(80) + u32(24) + u32(0) + u32(0) + s(b"\x00")
REQ_ENV = bytes([98]) + u32(0) + s("env") + b"\0" + s("LANG") + s("C")
REQ_EXIT = bytes([98]) + u32(0) + s("exit-status") + b"\0" + u32(3)
REQ_WCH = bytes([98]) + u32(0) + s("window-change") + b"\0" + u32(100) + u32(40) + u32(0) + u32(0)
CH_OK = bytes([99]) + u32(0)
DISC = bytes([1]) + u32(11) + s("bye") + s("")
IGNORE = bytes([2]) + s("x" * 20)
UNIMPL = bytes([3]) + u32(5)
NEWKEYS = bytes([21])

# packet: [mode, suite, chunk, ...]
write("packet", "raw-plain-kexinit", bytes([0, 0, 0]) + plain_packet(KEXINIT))
write("packet", "raw-plain-bytewise", bytes([0, 0, 1]) + plain_packet(IGNORE) + plain_packet(NEWKEYS))
for suite in range(9):
    write("packet", f"roundtrip-suite{suite}", bytes([1, suite, 7]) + b"\0\0" + u16l(KEXINIT, b"", DATA, b"\x5a" * 300))
write("packet", "tamper-chacha", bytes([1, 1, 0]) + b"\x09\x00" + u16l(DATA))
write("packet", "tamper-ctr-hmac", bytes([1, 6, 0]) + b"\x33\x01" + u16l(DATA))
write("packet", "engine-server", bytes([2, 0, 0]) + b"SSH-2.0-OpenSSH_9.6p1 Ubuntu\r\n" + plain_packet(KEXINIT) + plain_packet(ECDH_INIT))
write("packet", "engine-client", bytes([2, 1, 13]) + b"banner line\r\nSSH-2.0-OpenSSH_9.6\r\n" + plain_packet(KEXINIT))

# message: [receiver/phase byte, kex, payload]. bit0: 1 = client receives; phase = b >> 1: 0 fresh, 1 mid-kex,
# 2 pre-auth, 3 open channel.
def msg(name, b, payload, kex=1): write("message", name, bytes([b, kex]) + payload)
msg("fresh-server-kexinit", 0, KEXINIT)
msg("fresh-client-kexinit", 1, KEXINIT)
for k in (0, 1, 3, 6):  # one of each family: ML-KEM hybrid, X25519, NIST ECDH, finite-field DH
    msg(f"midkex-server-ecdh-init-kex{k}", 2, ECDH_INIT, k)
msg("midkex-client-ecdh-reply", 3, bytes([31]) + s(s("ssh-ed25519") + s(bytes(32))) + s(bytes(32)) + s(s("ssh-ed25519") + s(bytes(64))))
msg("preauth-server-service", 4, SERVICE_REQ)
msg("preauth-server-password", 4, AUTH_PW)
msg("preauth-server-publickey", 4, AUTH_PK)
msg("preauth-server-kbdint", 4, AUTH_KI)
msg("preauth-client-ext-info", 5, EXT_INFO)
msg("preauth-client-failure", 5, AUTH_FAIL)
msg("preauth-client-banner", 5, BANNER)
msg("preauth-client-info-request", 5, INFO_REQ)
for name, p in [("open", OPEN), ("direct-tcpip", OPEN_DTI), ("data", DATA), ("extended", EXT), ("window", WADJ),
                ("exec", REQ_EXEC), ("pty", REQ_PTY), ("env", REQ_ENV), ("wchange", REQ_WCH), ("eof", EOF_),
                ("close", CLOSE), ("global", TCPIP_FWD), ("disconnect", DISC), ("kexinit", KEXINIT)]:
    msg(f"open-server-{name}", 6, p)
for name, p in [("data", DATA), ("exit-status", REQ_EXIT), ("open-conf", OPEN_CONF), ("open-fail", OPEN_FAIL),
                ("success", CH_OK), ("keepalive", GLOBAL), ("unimplemented", UNIMPL), ("close", CLOSE)]:
    msg(f"open-client-{name}", 7, p)

# session: [receiver/phase byte (phase = b >> 1: 0 pre-auth, 1 open)] then (op, x, ...) pairs.
def raw(p): return bytes([0]) + struct.pack("<H", len(p)) + p
write("session", "client-auth-then-shell", bytes([1]) + bytes([5, 0, 7, 0, 2, 0x80, 1, 0x85, 3, 0x80]))
write("session", "server-gets-raw-data", bytes([2]) + raw(DATA) + raw(WADJ) + raw(REQ_EXEC) + bytes([1, 3]))
write("session", "rekey-during-data", bytes([3]) + bytes([1, 0x7f, 4, 0, 1, 0x7f, 4, 0x80, 1, 0xff]))
write("session", "keepalive-timeouts", bytes([2]) + bytes([6, 1, 6, 2, 6, 200]) + raw(GLOBAL))
write("session", "preauth-raw-auth", bytes([0]) + raw(SERVICE_REQ) + raw(AUTH_PW) + raw(OPEN) + bytes([7, 0]))
write("session", "direct-tcpip-and-close", bytes([2]) + bytes([7, 0x81, 1, 0x81, 3, 0x89, 3, 0x01]) + raw(CLOSE))

# known_hosts, private_key, ssh_config: real files.
keys = {}
with tempfile.TemporaryDirectory() as tmp:
    for t, extra in [("ed25519", []), ("ecdsa", ["-b", "256"]), ("rsa", ["-b", "1024"])]:
        f = os.path.join(tmp, t)
        subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", "fuzz", "-f", f] + extra, check=True)
        keys[t] = (open(f).read(), open(f + ".pub").read().strip())
    f = os.path.join(tmp, "enc")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-a", "2", "-N", "amiko-fuzz", "-f", f], check=True)
    keys["enc-ed25519"] = (open(f).read(), open(f + ".pub").read().strip())
    f = os.path.join(tmp, "enc-ctr")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-a", "1", "-Z", "aes256-ctr", "-N", "amiko-fuzz", "-f", f], check=True)
    keys["enc-ecdsa-ctr"] = (open(f).read(), open(f + ".pub").read().strip())
    f = os.path.join(tmp, "pkcs8")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "384", "-m", "PKCS8", "-N", "", "-f", f], check=True)
    keys["pkcs8-ecdsa"] = (open(f).read(), open(f + ".pub").read().strip())
data = os.path.join(ROOT, "..", "amiko-proto", "tests", "data")
for name in ["rsa2048.pem", "ecdsa384.pem"]:
    write("private_key", name, b"\0" + open(os.path.join(data, name), "rb").read())
for t, (priv, pub) in keys.items():
    write("private_key", t, (b"\1" if t.startswith("enc") else b"\0") + priv.encode())
pubs = [pub for _, pub in keys.values()]
def kh(*ls): return ("\n".join(ls) + "\n").encode()
ed, ec, rsa = (keys[t][1].rsplit(" ", 1)[0] for t in ["ed25519", "ecdsa", "rsa"])
write("known_hosts", "plain", kh(f"example.com,10.0.0.1 {ed}", f"[example.com]:2222 {ec}", f"*.corp,!bad.corp {rsa}"))
write("known_hosts", "markers", kh("# comment", f"@revoked * {ed}", f"@cert-authority *.example.com {ec}", f"@unknown x {rsa}"))
write("known_hosts", "hashed", kh(f"|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= {ed}", f"host?.example.* {rsa}"))
write("authorized_keys", "plain", kh("# comment", "", ed, f"{ec} with a comment", f"  {rsa}"))
write("authorized_keys", "options", kh(f'restrict,pty,command="echo \\"hi\\", there" {ed}',
    f'from="127.0.0.*,!10.0.0.0/8,::1",no-agent-forwarding,permitopen="[::1]:22",permitlisten="8080" {ec}',
    f'cert-authority,principals="alice,ops",expiry-time="20991231Z",environment="A=1" {rsa}'))
write("authorized_keys", "bad", kh(f"frobnicate {ed}", f'command="unterminated {ec}', f'from="10.0.0.1/8" {rsa}'))
write("ssh_config", "basic", b"Host example.com\n  HostName 10.0.0.1\n  User alice\n  Port 2222\n  IdentityFile ~/.ssh/id_%h_%r\n\nHost *\n  ServerAliveInterval 30\n")
write("ssh_config", "match", b"Match host *.corp !bad.corp user bob\n  ProxyCommand ssh -W %h:%p jump\nMatch exec \"test %n = x\"\n  User x\nMatch all\n  Port=22\n")
write("ssh_config", "include-quoted", b"Include ~/.ssh/conf.d/* \"other file\"\nHost \"a b\" example.com\n  LocalCommand echo %l %u %d %%\n  SendEnv LANG LC_*\n")

# sftp: [0 = requests | 1 = replies, chunk size, frames...]
def frame(t, body): return u32(1 + len(body)) + bytes([t]) + body
ATTRS = u32(0xf) + u64(1234) + u32(1000) + u32(1000) + u32(0o100644) + u32(1) + u32(2)
reqs = [frame(1, u32(3)), frame(3, u32(1) + s("/etc/passwd") + u32(1) + u32(0)),
        frame(5, u32(2) + s(b"h1") + u64(0) + u32(32768)), frame(6, u32(3) + s(b"h1") + u64(5) + s("data")),
        frame(4, u32(4) + s(b"h1")), frame(11, u32(5) + s(".")), frame(12, u32(6) + s(b"d")),
        frame(9, u32(7) + s("f") + ATTRS), frame(14, u32(8) + s("dir") + u32(4) + u32(0o755)),
        frame(18, u32(9) + s("a") + s("b")), frame(20, u32(10) + s("t") + s("l")), frame(16, u32(11) + s(".")),
        frame(200, u32(12) + s("posix-rename@openssh.com") + s("a") + s("b")),
        frame(200, u32(13) + s("statvfs@openssh.com") + s("/"))]
write("sftp", "requests", bytes([0, 0]) + b"".join(reqs))
write("sftp", "requests-bytewise", bytes([0, 1]) + b"".join(reqs[:4]))
reps = [frame(2, u32(3) + s("posix-rename@openssh.com") + s("1") + s("limits@openssh.com") + s("1")),
        frame(101, u32(1) + u32(0) + s("ok") + s("en")), frame(101, u32(2) + u32(1)),
        frame(102, u32(3) + s(b"h1")), frame(103, u32(4) + s("hello")),
        frame(104, u32(5) + u32(2) + s("a") + s("-rw-r--r-- 1 u g 1234 Jan 1 a") + ATTRS + s("b") + s("b") + u32(0)),
        frame(105, u32(6) + ATTRS), frame(201, u32(7) + u64(1) + u64(2))]
write("sftp", "replies", bytes([1, 0]) + b"".join(reps))
write("sftp", "replies-split", bytes([1, 5]) + b"".join(reps[3:]))
