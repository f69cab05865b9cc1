"""Shared parts of the benchmark scripts (scripts/bench-*): a throwaway OpenSSH sshd and `amiko serve` on random
loopback ports with their own keys in a temporary directory, child processes measured one by one with wait4 (wall
time, user+sys CPU of the child and everything it reaped, peak RSS), statistics, and the JSON result files that
scripts/bench turns into BENCHMARKS.md.

JSON result file of one script:
    {"script": NAME, "params": {...}, "tables": [TABLE, ...]}
    TABLE = {"id", "title", "baseline": client name or null, "bytes": bytes moved per run or null,
             "items": operations per run or null, "note": text, "rows": [ROW, ...]}
             optional "extra_cols": [names of further columns]
    ROW = {"client", "time": [s per repetition], "cpu": [s], "rss_kb": [KiB], optional "wall": [process s],
           optional "extra": {column name: cell text}}
"time" is what is compared (usually the process's wall time); "speed vs baseline" = baseline median / median.
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

# Stopped with SIGTERM (scripts/bench's time limit), unwind like on an error: the `finally` blocks stop every server
# and client this script started.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
AMIKO = os.path.join(RELEASE, "amiko")
EXAMPLES = os.path.join(RELEASE, "examples")
PY_CLIENTS = os.path.join(ROOT, "scripts", "ssh_py_clients.py")
RUSAGE_SRC = os.path.join(ROOT, "scripts", "rusage_run.c")
RUSAGE_RUN = os.path.join(ROOT, "target", "bench-tools", "rusage_run")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc=None):
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                sys.exit(f"server on port {port} exited")
            time.sleep(0.02)
    sys.exit(f"server on port {port} did not start")


def ensure_built(examples=()):
    """Builds the release CLI (and the named amiko examples) if they are missing."""
    if not os.path.exists(AMIKO):
        subprocess.run(["cargo", "build", "--release", "-p", "amiko-cli"], cwd=ROOT, check=True)
    missing = [e for e in examples if not os.path.exists(os.path.join(EXAMPLES, e))]
    if missing:
        cmd = ["cargo", "build", "--release", "-q", "-p", "amiko"] + [a for e in missing for a in ("--example", e)]
        subprocess.run(cmd, cwd=ROOT, check=True)


def launcher():
    """Compiles scripts/rusage_run.c once (cc is there wherever Rust builds aws-lc); None if that fails."""
    if not os.path.exists(RUSAGE_RUN) or os.path.getmtime(RUSAGE_RUN) < os.path.getmtime(RUSAGE_SRC):
        os.makedirs(os.path.dirname(RUSAGE_RUN), exist_ok=True)
        r = subprocess.run(["cc", "-O2", "-o", RUSAGE_RUN, RUSAGE_SRC], capture_output=True)
        if r.returncode != 0:
            print(f"benchlib: cannot build {RUSAGE_SRC}; peak RSS will include Python's", file=sys.stderr)
            return None
    return RUSAGE_RUN


def have_python(*modules):
    return subprocess.run([sys.executable, "-c", "import " + ", ".join(modules)], capture_output=True).returncode == 0


class Peers:
    """An OpenSSH sshd (and optionally `amiko serve`) on random loopback ports, with a fresh Ed25519 host key and
    user key in a temporary directory; known_hosts holds the host key for both ports. Use as a context manager:
    everything started here is stopped (by its own pid) and the directory removed on exit."""

    # The one key exchange the sshd offers, so every client does the same work: OpenSSH 9.x's ssh would otherwise
    # pick sntrup761x25519, which Paramiko and asyncssh lack and which costs ssh ~60 ms of CPU a connection here.
    KEX = "curve25519-sha256,curve25519-sha256@libssh.org"

    def __init__(self, prefix="amiko-bench-", sshd_extra="", amiko_serve=False, sftp=False, kex=KEX, serve_args=()):
        self.d = tempfile.mkdtemp(prefix=prefix)
        self.serve_args = list(serve_args)
        self.kex = kex
        self.procs = []
        self.sshd_extra = sshd_extra
        self.amiko_serve = amiko_serve
        self.sftp = sftp
        self.port = self.amport = None

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start(self):
        d = self.d
        for name in ["host", "id"]:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/{name}"], check=True)
        shutil.copy(f"{d}/id.pub", f"{d}/authorized_keys")
        self.id = f"{d}/id"
        self.kh = f"{d}/known_hosts"
        self.port = free_port()
        with open(f"{d}/sshd_config", "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {d}/host\nPidFile none\n"
                    f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n"
                    # bash sources ~/.bashrc for every command sshd starts unless SHLVL says it is nested; root's
                    # .bashrc here (pyenv init) costs ~90 ms a command, which would swamp every per-command figure.
                    "SetEnv SHLVL=1\n" + (f"KexAlgorithms {self.kex}\n" if self.kex else "")
                    + ("Subsystem sftp internal-sftp\n" if self.sftp else "") + self.sshd_extra)
        os.makedirs("/run/sshd", exist_ok=True)
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", f"{d}/sshd_config", "-E", f"{d}/sshd.log"])
        self.procs.append(sshd)
        wait_port(self.port, sshd)
        ports = [self.port]
        if self.amiko_serve:
            self.amport = free_port()
            cmd = [AMIKO, "serve", "--listen", f"127.0.0.1:{self.amport}", "--host-key", f"{d}/host",
                   "--authorized-keys", f"{d}/authorized_keys"]
            if self.sftp:
                os.makedirs(f"{d}/amroot")
                cmd += ["--sftp-root", f"{d}/amroot"]
            # As sshd's SetEnv SHLVL=1 above: bash skips ~/.bashrc for the commands amiko serve starts (sessions
            # do not inherit the server's environment, as under sshd).
            cmd += ["-o", "SetEnv=SHLVL=1"]
            serve = subprocess.Popen(cmd + self.serve_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(serve)
            wait_port(self.amport, serve)
            ports.append(self.amport)
        key = open(f"{d}/host.pub").read().split()[:2]
        with open(self.kh, "w") as f:
            for p in ports:
                f.write(f"[127.0.0.1]:{p} {key[0]} {key[1]}\n")
        self.user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True,
                                                             text=True).stdout.strip()
        # Flags that ssh, sftp and amiko share: our key, our known_hosts, nothing from ~/.ssh.
        self.opts = ["-i", self.id, "-o", f"UserKnownHostsFile={self.kh}", "-o", "StrictHostKeyChecking=yes"]

    def add_key(self, kind, bits=None):
        """A further user key (e.g. for a client that cannot use Ed25519), authorized on both servers."""
        path = f"{self.d}/id_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path] + (["-b", str(bits)] if bits else []),
                       check=True)
        with open(f"{self.d}/authorized_keys", "a") as f:
            f.write(open(path + ".pub").read())
        return path

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        shutil.rmtree(self.d, ignore_errors=True)


class Sample:
    def __init__(self, wall, cpu, rss_kb, status, out, err):
        self.wall, self.cpu, self.rss_kb, self.status, self.out, self.err = wall, cpu, rss_kb, status, out, err


class Child:
    """A child process started through the launcher; `finish` waits for it and measures it."""

    def __init__(self, cmd, stdin=None, env=None, stdout=subprocess.PIPE):
        self.cmd = list(cmd)
        self.errf = tempfile.TemporaryFile()
        lau = launcher()
        self.ru_file = None
        if lau:
            fd, self.ru_file = tempfile.mkstemp(prefix="rusage-")
            os.close(fd)
            cmd = [lau, self.ru_file] + self.cmd
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=stdout,
                                  stderr=self.errf, env=env)

    def finish(self, count_stdout=False, check=True):
        p = self.p
        try:
            out = None
            if p.stdout is not None:
                if count_stdout:
                    try:
                        import fcntl
                        fcntl.fcntl(p.stdout.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups
                    except OSError:
                        pass
                    n, buf = 0, bytearray(1 << 20)
                    fd = p.stdout.fileno()
                    while True:
                        k = os.readv(fd, [buf])
                        if k == 0:
                            break
                        n += k
                    out = n
                else:
                    out = p.stdout.read()
                p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            if p.returncode is None:
                p.terminate()  # the launcher passes it on to the client
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            raise
        wall = time.perf_counter() - self.t0
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu, rss = ru.ru_utime + ru.ru_stime, ru.ru_maxrss
        if self.ru_file:
            try:
                with open(self.ru_file) as f:
                    fields = f.read().split()
                rss, cpu = int(fields[0]), float(fields[1]) + float(fields[2])
            except (OSError, ValueError, IndexError):
                pass  # the launcher did not get to write: keep its own figures
            os.remove(self.ru_file)
        self.errf.seek(0)
        err = self.errf.read().decode(errors="replace")
        self.errf.close()
        if check and p.returncode != 0:
            sys.exit(f"{' '.join(map(str, self.cmd))[:300]}\nfailed with {p.returncode}: {err[-800:]}")
        return Sample(wall, cpu, rss, p.returncode, out, err)


def run(cmd, count_stdout=False, stdin=None, env=None, check=True):
    """Runs `cmd` and measures it alone: wall time, CPU (user+sys, including what it reaped) and peak RSS of the
    child. With count_stdout, stdout is counted and dropped (`out` is the byte count), else collected."""
    return Child(cmd, stdin=stdin, env=env).finish(count_stdout=count_stdout, check=check)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


class Row:
    def __init__(self, client):
        self.client = client
        self.time, self.cpu, self.rss_kb, self.wall = [], [], [], []
        self.extra = {}

    def add(self, sample, time_s=None):
        self.time.append(sample.wall if time_s is None else time_s)
        self.wall.append(sample.wall)
        self.cpu.append(sample.cpu)
        self.rss_kb.append(sample.rss_kb)

    def to_json(self):
        j = {"client": self.client, "time": self.time, "cpu": self.cpu, "rss_kb": self.rss_kb, "wall": self.wall}
        if self.extra:
            j["extra"] = self.extra
        return j


def table(id, title, rows, baseline=None, bytes=None, items=None, note="", extra_cols=()):
    """extra_cols: names of further columns, whose cells are in each row's "extra" {column: text} (optional)."""
    t = {"id": id, "title": title, "baseline": baseline, "bytes": bytes, "items": items, "note": note,
         "rows": [r.to_json() if isinstance(r, Row) else r for r in rows]}
    if extra_cols:
        t["extra_cols"] = list(extra_cols)
    return t


def rotate(xs, k):
    """The clients in a different order each repetition, so no client always runs first or last."""
    k %= len(xs) or 1
    return xs[k:] + xs[:k]


def write_json(path, script, params, tables):
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"script": script, "params": params, "tables": tables}, f, indent=1)


def row_stats(t, row):
    """Median/min/max of the row's time, its speed against the table's baseline, throughput, CPU and RSS."""
    base = next((r for r in t["rows"] if r["client"] == t["baseline"]), None)
    m = median(row["time"])
    s = {"median": m, "min": min(row["time"]), "max": max(row["time"]), "cpu": median(row["cpu"]),
         "rss_mib": max(row["rss_kb"]) / 1024, "speed": None}
    if base is not None and m > 0:
        s["speed"] = median(base["time"]) / m
    if t.get("bytes"):
        s["mbps"] = t["bytes"] / m / 1e6
        s["cpu_per_gb"] = s["cpu"] / (t["bytes"] / 1e9)
    if t.get("items"):
        s["per_item_ms"] = m / t["items"] * 1e3
        s["cpu_per_item_ms"] = s["cpu"] / t["items"] * 1e3
    return s


def markdown(t):
    """One table as Markdown: the speed ratio first, then median (min–max), throughput, CPU, peak RSS."""
    has_b, has_i = bool(t.get("bytes")), bool(t.get("items"))
    head = ["client", f"speed vs {t['baseline']}" if t.get("baseline") else "speed", "median s (min–max)"]
    if has_b:
        head += ["MB/s", "client CPU s/GB"]
    if has_i:
        head += ["ms per op", "client CPU ms per op"]
    head += ["client CPU s", "peak RSS MiB"] + t.get("extra_cols", [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in t["rows"]:
        s = row_stats(t, r)
        cells = [r["client"], f"**{s['speed']:.2f}×**" if s["speed"] is not None else "",
                 f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"]
        if has_b:
            cells += [f"{s['mbps']:.0f}", f"{s['cpu_per_gb']:.2f}"]
        if has_i:
            cells += [f"{s['per_item_ms']:.3f}", f"{s['cpu_per_item_ms']:.3f}"]
        cells += [f"{s['cpu']:.3f}", f"{s['rss_mib']:.1f}"] + [r.get("extra", {}).get(c, "") for c in
                                                              t.get("extra_cols", [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
