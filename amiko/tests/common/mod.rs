//! Real peers for integration tests: an OpenSSH sshd and a dropbear, each started on a random loopback port with
//! its own throwaway config, host keys and authorized keys, and killed when the value is dropped.
//!
//! Password login needs a real local account: as root the harness creates `amikotest` (password below); otherwise
//! tests log in as the current user with keys only. Under `AMIKO_REQUIRE_PEERS=1` (set by scripts/test under CI) a
//! missing peer is a failure, never a skip.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const TEST_USER: &str = "amikotest";
pub const TEST_PASSWORD: &str = "amiko-Test-pw-42";

pub fn peers_required() -> bool {
    std::env::var("AMIKO_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Returns None (after saying why) when a peer is missing and not required; panics when required.
pub fn missing(what: &str) -> Option<std::convert::Infallible> {
    if peers_required() {
        panic!("{what} is required (AMIKO_REQUIRE_PEERS=1) but missing");
    }
    eprintln!("skipping: {what} missing");
    None
}

/// OpenSSH's `ssh` as the tests run it against a server of ours: no prompts, only `known_hosts` trusted, errors
/// only on stderr. Callers add the key, port, destination and command.
pub fn openssh_client(known_hosts: &Path) -> Command {
    let mut c = Command::new("ssh");
    c.args([
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "LogLevel=ERROR",
    ])
    .arg("-o")
    .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
    c
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    // `id -u` keeps the test free of libc bindings.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(1)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "amiko-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn run(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn keygen(path: &Path, t: &str, bits: Option<&str>) {
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", "", "-t", t, "-f"]).arg(path);
    if let Some(b) = bits {
        c.args(["-b", b]);
    }
    assert!(run(&mut c), "ssh-keygen -t {t} failed");
}

/// Creates the test account once per machine (as root). Safe when tests race: a lock file serialises it.
fn ensure_test_user() -> bool {
    if !is_root() {
        return false;
    }
    let lock = std::env::temp_dir().join("amiko-test-user.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => {
                let _ = std::fs::remove_file(&lock);
            }
        }
    }
    let exists = run(Command::new("id").arg(TEST_USER));
    if !exists {
        run(Command::new("useradd").args(["-m", "-s", "/bin/bash", TEST_USER]));
    }
    // With UsePAM no, a locked password ('!') refuses even key logins: always set it.
    let mut c = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("chpasswd");
    if let Some(mut i) = c.stdin.take() {
        let _ = writeln!(i, "{TEST_USER}:{TEST_PASSWORD}");
    }
    let ok = c.wait().is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&lock);
    ok && run(Command::new("id").arg(TEST_USER))
}

fn current_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// Waits up to 10 s for `child` to listen on 127.0.0.1:`port`; false if it exited or never did.
pub fn wait_for_port(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The OpenSSH 10 tree of AMIKO_OPENSSH10_ROOT, if it is set and holds an sshd.
pub fn openssh10_root() -> Option<PathBuf> {
    std::env::var_os("AMIKO_OPENSSH10_ROOT")
        .map(PathBuf::from)
        .filter(|root| root.join("usr/sbin/sshd").exists())
}

/// A running OpenSSH sshd.
pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    pub user: String,
    pub password: Option<String>,
    /// An ed25519 key authorized for `user`.
    pub client_key: PathBuf,
    /// known_hosts with all of this sshd's host keys for [127.0.0.1]:port.
    pub known_hosts: PathBuf,
    pub host_key_pubs: Vec<String>,
    child: Child,
    log: PathBuf,
}

impl Sshd {
    pub fn start() -> Option<Sshd> {
        Self::start_with("")
    }

    /// Starts sshd with extra sshd_config lines (placed first: in sshd_config the first value wins).
    pub fn start_with(extra: &str) -> Option<Sshd> {
        Self::start_inner(extra, None)
    }

    /// OpenSSH 10 (ML-KEM) from a Debian trixie tree that scripts/test made with debootstrap (device nodes made by
    /// debootstrap; nothing is mounted), run with chroot. Logs in as root with a key.
    pub fn start_openssh10() -> Option<Sshd> {
        match openssh10_root() {
            Some(root) => Self::start_inner("", Some(&root)),
            _ => {
                // The one deliberate exception to "no skip under CI": the trixie tree comes from the network and
                // scripts/test says why it could not be made.
                let why = std::env::var("AMIKO_OPENSSH10_UNAVAILABLE")
                    .unwrap_or_else(|_| "AMIKO_OPENSSH10_ROOT unset".into());
                eprintln!("skipping: no OpenSSH 10 peer ({why})");
                None
            }
        }
    }

    /// The sshd of another OpenSSH tree (see [`Sshd::start_openssh10`]) with extra sshd_config lines, whose paths
    /// are as sshd sees them inside the tree.
    pub fn start_in_root_with(root: &Path, extra: &str) -> Option<Sshd> {
        Self::start_inner(extra, Some(root))
    }

    fn start_inner(extra: &str, chroot: Option<&Path>) -> Option<Sshd> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() || Command::new("ssh-keygen").arg("-?").output().is_err() {
            missing("OpenSSH sshd (/usr/sbin/sshd) and ssh-keygen")?;
        }
        let dir = match chroot {
            Some(root) => {
                let d = root.join("amiko").join(format!(
                    "t{}-{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&d).expect("dir in chroot");
                let _ = std::fs::create_dir_all(root.join("run/sshd"));
                d
            }
            None => temp_dir("sshd"),
        };
        // Paths as sshd sees them.
        let inner = |p: &Path| -> String {
            match chroot {
                Some(root) => format!("/{}", p.strip_prefix(root).unwrap_or(p).display()),
                None => p.display().to_string(),
            }
        };
        let mut host_key_lines = String::new();
        let mut host_key_pubs = Vec::new();
        for (t, bits) in [
            ("ed25519", None),
            ("ecdsa", Some("256")),
            ("ecdsa", Some("384")),
            ("ecdsa", Some("521")),
            ("rsa", Some("3072")),
        ] {
            let p = dir.join(format!("host_{t}_{}", bits.unwrap_or("")));
            keygen(&p, t, bits);
            host_key_lines.push_str(&format!("HostKey {}\n", inner(&p)));
            host_key_pubs.push(
                std::fs::read_to_string(p.with_extension("pub"))
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            );
        }
        let client_key = dir.join("id_ed25519");
        keygen(&client_key, "ed25519", None);
        let auth_keys = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &auth_keys).expect("authorized_keys");
        let port = free_port();
        let known_hosts = dir.join("known_hosts");
        let kh: String = host_key_pubs
            .iter()
            .map(|l| {
                let mut parts = l.split_whitespace();
                format!(
                    "[127.0.0.1]:{port} {} {}\n",
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or("")
                )
            })
            .collect();
        std::fs::write(&known_hosts, kh).expect("known_hosts");
        let (user, password) = if chroot.is_some() {
            ("root".to_string(), None)
        } else if ensure_test_user() {
            (TEST_USER.to_string(), Some(TEST_PASSWORD.to_string()))
        } else {
            (current_user(), None)
        };
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "{extra}\nListenAddress 127.0.0.1\nPort {port}\n{host_key_lines}PidFile none\nAuthorizedKeysFile {}\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication yes\n\
                 PubkeyAuthentication yes\nPermitRootLogin yes\nSubsystem sftp internal-sftp\nLogLevel DEBUG3\n\
                 MaxStartups 200\nMaxSessions 200\nMaxAuthTries 10\n",
                inner(&auth_keys)
            ),
        )
        .expect("sshd_config");
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = dir.join("sshd.log");
        let mut cmd = match chroot {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg("/usr/sbin/sshd");
                c
            }
            None => Command::new(sshd),
        };
        let mut child = cmd
            .arg("-D")
            .arg("-f")
            .arg(inner(&config))
            .arg("-E")
            .arg(inner(&log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd start");
        if !wait_for_port(port, &mut child) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sshd did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Some(Sshd {
            port,
            dir,
            user,
            password,
            client_key,
            known_hosts,
            host_key_pubs,
            child,
            log,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running dropbear (root only: it reads ~user/.ssh/authorized_keys of a real account).
pub struct Dropbear {
    pub port: u16,
    pub dir: PathBuf,
    pub user: String,
    pub password: String,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    child: Child,
}

impl Dropbear {
    pub fn start() -> Option<Dropbear> {
        Self::start_with_host_keys(&[])
    }

    /// Starts dropbear with these host keys (dropbear's format, at most one per key type: dropbear refuses more);
    /// none: a fresh ed25519 key. `known_hosts` names the first.
    pub fn start_with_host_keys(keys: &[PathBuf]) -> Option<Dropbear> {
        if !Path::new("/usr/sbin/dropbear").exists() || !Path::new("/usr/bin/dropbearkey").exists() {
            missing("dropbear (/usr/sbin/dropbear, dropbearkey)")?;
        }
        if !ensure_test_user() {
            missing("root (dropbear tests need the amikotest account)")?;
        }
        let dir = temp_dir("dropbear");
        let mut host_keys = keys.to_vec();
        if host_keys.is_empty() {
            let host_key = dir.join("host_ed25519");
            assert!(run(Command::new("dropbearkey")
                .args(["-t", "ed25519", "-f"])
                .arg(&host_key)));
            host_keys.push(host_key);
        }
        let pub_line = dropbear_public_key(&host_keys[0]);
        let client_key = dir.join("id_ed25519");
        keygen(&client_key, "ed25519", None);
        let home = PathBuf::from(format!("/home/{TEST_USER}"));
        let ssh_dir = home.join(".ssh");
        let _ = std::fs::create_dir_all(&ssh_dir);
        let ak = ssh_dir.join("authorized_keys");
        let line = std::fs::read_to_string(client_key.with_extension("pub")).expect("pub");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ak)
            .expect("authorized_keys");
        let _ = f.write_all(line.as_bytes());
        run(Command::new("chown")
            .args(["-R", &format!("{TEST_USER}:{TEST_USER}")])
            .arg(&ssh_dir));
        run(Command::new("chmod").arg("700").arg(&ssh_dir));
        run(Command::new("chmod").arg("600").arg(&ak));
        let port = free_port();
        let mut parts = pub_line.split_whitespace();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            ),
        )
        .expect("known_hosts");
        let log = std::fs::File::create(dir.join("dropbear.log")).expect("log");
        let mut child = Command::new("/usr/sbin/dropbear")
            .args(["-F", "-E", "-p", &format!("127.0.0.1:{port}")])
            .args(host_keys.iter().flat_map(|k| [Path::new("-r"), k.as_path()]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dropbear start");
        assert!(wait_for_port(port, &mut child), "dropbear did not start");
        Some(Dropbear {
            port,
            dir,
            user: TEST_USER.into(),
            password: TEST_PASSWORD.into(),
            client_key,
            known_hosts,
            child,
        })
    }
}

/// The OpenSSH public key line of a dropbear private key file (`dropbearkey -y`).
pub fn dropbear_public_key(key: &Path) -> String {
    let out = Command::new("dropbearkey")
        .args(["-y", "-f"])
        .arg(key)
        .output()
        .expect("dropbearkey -y");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-"))
        .map(str::to_string)
        .expect("dropbear public key")
}

impl Drop for Dropbear {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running OpenSSH ssh-agent (`ssh-agent -D -a SOCK`) holding keys added with ssh-add; killed when dropped.
pub struct SshAgent {
    pub socket: PathBuf,
    pub dir: PathBuf,
    /// Each key added: (private key file, its public key line).
    pub keys: Vec<(PathBuf, String)>,
    child: Child,
}

impl SshAgent {
    /// Starts an agent and adds a fresh key of each `types` ("ed25519", "ecdsa", "rsa") to it.
    pub fn start(types: &[&str]) -> Option<SshAgent> {
        if Command::new("ssh-agent").arg("-h").output().is_err() || Command::new("ssh-add").arg("-h").output().is_err()
        {
            missing("OpenSSH ssh-agent and ssh-add")?;
        }
        let dir = temp_dir("agent");
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent start");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not make its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut agent = SshAgent {
            socket,
            dir,
            keys: Vec::new(),
            child,
        };
        for t in types {
            let path = agent.dir.join(format!("id_{t}"));
            keygen(&path, t, if *t == "rsa" { Some("3072") } else { None });
            agent.add(&path);
        }
        Some(agent)
    }

    /// ssh-add a key file.
    pub fn add(&mut self, path: &Path) {
        self.add_with(path, &[]);
    }

    /// ssh-add a key file with options (`-c`: the agent asks for confirmation at each use, which fails without a
    /// display, so the agent refuses to sign with it).
    pub fn add_with(&mut self, path: &Path, options: &[&str]) {
        let out = Command::new("ssh-add")
            .args(options)
            .arg(path)
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .expect("ssh-add");
        assert!(
            out.status.success(),
            "ssh-add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = std::fs::read_to_string(path.with_extension("pub")).expect("pub key");
        self.keys.push((path.to_path_buf(), line.trim().to_string()));
    }

    /// The agent's keys as `ssh-add -l` prints their fingerprints.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(_, line)| amiko::PublicKey::from_openssh(line).expect("pub").fingerprint())
            .collect()
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sshd {
    /// Authorizes one more public key line for the test user.
    pub fn authorize(&self, pub_line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .expect("authorized_keys");
        writeln!(f, "{pub_line}").expect("authorized_keys");
    }
}

/// An amiko server on a random 127.0.0.1 port, served on its own thread and runtime until [`InProcessServer::stop`]
/// or drop (it stops accepting then; connections still open end with their clients, and the thread is not joined,
/// so a client that lives on in a test's runtime cannot hold the teardown up).
pub struct InProcessServer {
    pub port: u16,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcessServer {
    /// Serves `handler` with `cfg`. With `known_hosts`, that file is written with the server's host keys for
    /// `[127.0.0.1]:PORT` before this returns.
    pub fn start(
        cfg: amiko::server::ServerConfig,
        handler: std::sync::Arc<dyn amiko::server::Handler>,
        known_hosts: Option<&Path>,
    ) -> Self {
        let publics: Vec<amiko::PublicKey> = cfg.host_keys.iter().map(|k| k.public_key()).collect();
        let known_hosts = known_hosts.map(Path::to_path_buf);
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = amiko::server::Server::bind("127.0.0.1:0", cfg, handler).await.unwrap();
                let port = server.local_addr().unwrap().port();
                if let Some(kh) = known_hosts {
                    let lines: String = publics
                        .iter()
                        .map(|k| format!("[127.0.0.1]:{port} {}\n", k.to_openssh()))
                        .collect();
                    std::fs::write(kh, lines).unwrap();
                }
                port_tx.send(port).unwrap();
                server.run_until(async { drop(stop_rx.await) }).await.unwrap();
            });
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server starts");
        InProcessServer {
            port,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops accepting (what drop does); returns the serving thread, which ends once open connections have.
    pub fn stop(&mut self) -> Option<std::thread::JoinHandle<()>> {
        if let Some(s) = self.stop_tx.take() {
            let _ = s.send(());
        }
        self.thread.take()
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP echo server on loopback for forwarding tests: echoes every connection until it closes. Returns its port.
pub fn tcp_echo() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = conn.try_clone().unwrap();
                let mut w = conn;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    port
}

/// A new passphrase-less Ed25519 key pair at `path` and `path.pub` (ssh-keygen).
pub fn new_ed25519_key(path: &Path) {
    keygen(path, "ed25519", None);
}

/// Runs `ssh-keygen` with `args`; fails the test with its stderr if it fails.
pub fn ssh_keygen(args: &[&str]) {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ssh-keygen -s ca -I test -n principals -V validity [-h] [extra] key`: writes key-cert.pub.
pub fn sign_key(ca: &Path, key: &Path, principals: &str, validity: &str, host: bool, extra: &[&str]) {
    let mut args = vec![
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        "test",
        "-n",
        principals,
        "-V",
        validity,
    ];
    if host {
        args.push("-h");
    }
    args.extend(extra);
    args.push(key.to_str().unwrap());
    ssh_keygen(&args);
}

/// `type base64` of a key's .pub file.
pub fn pub_line(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}
