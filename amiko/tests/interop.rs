//! The interop matrix (issue 6): every algorithm amiko implements × every real peer that has it, in both roles,
//! written to docs/INTEROP.md.
//!
//! The rows come from `amiko_proto::config` at run time (the `*_SUPPORTED` lists, the opt-in `*_LEGACY` ones
//! included, and `COMPRESSION_SUPPORTED`), so a new algorithm gets its row without touching this file. The columns
//! are amiko's client against OpenSSH's sshd and dropbear, and OpenSSH's ssh and dropbear's dbclient against
//! amiko's server; OpenSSH 10 adds two more when its tree is there (AMIKO_OPENSSH10_ROOT, or target/openssh10 as
//! scripts/openssh10-root makes it). Each peer is asked what it has: `ssh -Q` for ssh; sshd's KEXINIT, read off the
//! wire, once it is configured with everything `ssh -Q` lists (sshd has less: no plain zlib); and the KEXINIT that
//! dropbear and dbclient send, as dropbear has no such query. A cell whose peer lacks the algorithm is n/a, not a
//! failure.
//!
//! A cell forces its one algorithm on every side that has a setting for it (amiko's lists, ssh's `-o`, dbclient's
//! `-c`/`-m`; sshd offers everything it has), leaves the other categories at their defaults (MAC cells take a
//! non-AEAD cipher, so the MAC is used), runs `echo`, and passes only when the output is right AND both sides say
//! they used the algorithm: amiko through `Client::negotiated` or the server's `SessionInfo::negotiated`, OpenSSH
//! through `ssh -v` or what sshd's DEBUG log gained during the cell (cells against one sshd take turns, as its log
//! does not tell connections apart). Dropbear prints nothing of the kind, so amiko's side speaks for those.
//!
//! One sshd per OpenSSH version holds a host key of every type, each with a host certificate; dropbear takes one key
//! per family, so three dropbears cover the three ECDSA curves; amiko's server is started per cell (in process,
//! cheap) with that cell's single algorithm. Cells run four at a time.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use amiko::server::{AuthDecision, Handler, Server, ServerConfig, SessionInfo, SimpleAuth};
use amiko::{Channel, Client, ClientConfig, HostKeyPolicy, Negotiated, PrivateKey, PublicKey};
use amiko_proto::config::{self, Algorithms};
use common::{Dropbear, Sshd};

/// Cells in flight at once: the machine has two cores, and most of a cell's time is spent waiting on a process.
const CONCURRENCY: usize = 4;
/// A cell that takes longer than this has failed (the slowest, 8192-bit group exchange, takes about a second).
const CELL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Category {
    Kex,
    HostKey,
    Cipher,
    Mac,
    Compression,
}

const CATEGORIES: [Category; 5] = [
    Category::Kex,
    Category::HostKey,
    Category::Cipher,
    Category::Mac,
    Category::Compression,
];

impl Category {
    fn title(self) -> &'static str {
        match self {
            Category::Kex => "Key exchange",
            Category::HostKey => "Host key",
            Category::Cipher => "Cipher",
            Category::Mac => "MAC",
            Category::Compression => "Compression",
        }
    }

    /// Every name amiko implements in this category, from the engine itself.
    fn supported(self) -> &'static [&'static str] {
        match self {
            Category::Kex => config::KEX_SUPPORTED,
            Category::HostKey => config::HOST_KEY_SUPPORTED,
            Category::Cipher => config::CIPHER_SUPPORTED,
            Category::Mac => config::MAC_SUPPORTED,
            Category::Compression => amiko_proto::transport::compress::COMPRESSION_SUPPORTED,
        }
    }

    /// The names amiko offers only when asked to.
    fn legacy(self) -> &'static [&'static str] {
        match self {
            Category::Kex => config::KEX_LEGACY,
            Category::HostKey => config::HOST_KEY_LEGACY,
            Category::Cipher => config::CIPHER_LEGACY,
            Category::Mac => config::MAC_LEGACY,
            Category::Compression => &[],
        }
    }

    /// `ssh -Q` query.
    fn ssh_query(self) -> &'static str {
        match self {
            Category::Kex => "kex",
            Category::HostKey => "HostKeyAlgorithms",
            Category::Cipher => "cipher",
            Category::Mac => "mac",
            Category::Compression => "compression",
        }
    }

    /// The sshd_config keyword that lists this category (compression has none but yes/no).
    fn sshd_keyword(self) -> Option<&'static str> {
        match self {
            Category::Kex => Some("KexAlgorithms"),
            Category::HostKey => Some("HostKeyAlgorithms"),
            Category::Cipher => Some("Ciphers"),
            Category::Mac => Some("MACs"),
            Category::Compression => None,
        }
    }

    /// Which KEXINIT name-list (RFC 4253 §7.1, counted from 0) holds this category (client→server for the
    /// directional ones).
    fn kexinit_index(self) -> usize {
        match self {
            Category::Kex => 0,
            Category::HostKey => 1,
            Category::Cipher => 2,
            Category::Mac => 4,
            Category::Compression => 6,
        }
    }

    /// What a connection agreed on in this category, once per direction where it has directions.
    fn negotiated(self, n: &Negotiated) -> Vec<Option<String>> {
        match self {
            Category::Kex => vec![Some(n.kex.clone())],
            Category::HostKey => vec![Some(n.host_key.clone())],
            Category::Cipher => vec![Some(n.cipher_c2s.clone()), Some(n.cipher_s2c.clone())],
            Category::Mac => vec![n.mac_c2s.clone(), n.mac_s2c.clone()],
            Category::Compression => vec![Some(n.comp_c2s.clone()), Some(n.comp_s2c.clone())],
        }
    }
}

/// What one peer has, per category.
#[derive(Debug, Default, Clone)]
struct Support(HashMap<Category, Vec<String>>);

impl Support {
    fn has(&self, cat: Category, alg: &str) -> bool {
        self.0.get(&cat).is_some_and(|l| l.iter().any(|a| a == alg))
    }

    /// From a KEXINIT's name-lists.
    fn from_kexinit(lists: &[String]) -> Support {
        Support(
            CATEGORIES
                .iter()
                .map(|c| {
                    let l = lists.get(c.kexinit_index()).map(String::as_str).unwrap_or("");
                    (*c, l.split(',').map(str::to_string).collect())
                })
                .collect(),
        )
    }
}

/// The cipher for MAC cells: amiko's first default that is not AEAD (an AEAD cipher makes the MAC unused) and that
/// the peer has.
fn mac_cipher(peer: &Support) -> &'static str {
    config::CIPHER_DEFAULT
        .iter()
        .copied()
        .find(|c| !amiko_proto::transport::cipher::is_aead(c) && peer.has(Category::Cipher, c))
        .unwrap_or("aes128-ctr")
}

/// Puts `alg` alone on amiko's list for `cat` (naming an opt-in algorithm is the opt-in).
fn force(a: &mut Algorithms, cat: Category, alg: &str, peer: &Support) {
    let one = vec![alg.to_string()];
    match cat {
        Category::Kex => a.kex = one,
        Category::HostKey => a.host_key = one,
        Category::Cipher => a.cipher = one,
        Category::Mac => {
            a.mac = one;
            a.cipher = vec![mac_cipher(peer).to_string()];
        }
        Category::Compression => a.compression = one,
    }
}

/// Checks amiko's own record of the negotiation.
fn check_negotiated(who: &str, cat: Category, alg: &str, n: Option<&Negotiated>) -> Result<(), String> {
    let n = n.ok_or_else(|| format!("{who} has no negotiated algorithms"))?;
    let got = cat.negotiated(n);
    if got.iter().all(|g| g.as_deref() == Some(alg)) {
        Ok(())
    } else {
        Err(format!("{who} negotiated {got:?}"))
    }
}

/// Whether OpenSSH's debug output (`ssh -v`, or sshd's log at LogLevel DEBUG) shows `alg` negotiated: the
/// `kex: algorithm:`, `kex: host key algorithm:` and `kex: client->server cipher: C MAC: M compression: Z` lines
/// (the last for both directions). sshd adds " [preauth]" to lines of its unprivileged child.
fn openssh_saw(cat: Category, alg: &str, text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end().trim_end_matches(" [preauth]"))
        .collect();
    let any = |f: &dyn Fn(&str) -> bool| lines.iter().any(|l| f(l));
    let both_directions = |f: &dyn Fn(&str) -> bool| {
        ["client->server", "server->client"].iter().all(|d| {
            let head = format!("kex: {d} cipher: ");
            any(&|l: &str| l.contains(&head) && f(l))
        })
    };
    match cat {
        Category::Kex => any(&|l: &str| l.ends_with(&format!("kex: algorithm: {alg}"))),
        Category::HostKey => any(&|l: &str| l.ends_with(&format!("kex: host key algorithm: {alg}"))),
        Category::Cipher => both_directions(&|l: &str| l.contains(&format!(" cipher: {alg} MAC: "))),
        Category::Mac => both_directions(&|l: &str| l.contains(&format!(" MAC: {alg} compression: "))),
        Category::Compression => both_directions(&|l: &str| l.ends_with(&format!(" compression: {alg}"))),
    }
}

/// The key type that signs with host key algorithm `alg` (`rsa-sha2-512-cert-v01@openssh.com` → `ssh-rsa`).
fn key_type_of(alg: &str) -> &str {
    match amiko_proto::cert::plain_algorithm(alg) {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        plain => plain,
    }
}

fn run_quiet(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a peer's client, killing it (by its own pid, through `Child::kill`) if it outlives `limit`.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Output { status, stdout, stderr }),
        None => Err(format!(
            "timed out after {limit:?}: {}",
            String::from_utf8_lossy(&stderr)
        )),
    }
}

/// The last lines of a peer's stderr, for a failure message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("debug")).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// Reads the peer's version line and its first packet, the cleartext KEXINIT, and returns the version and the ten
/// name-lists (RFC 4253 §4.2, §6, §7.1).
fn read_kexinit(s: &mut TcpStream) -> Result<(String, Vec<String>), String> {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let version = loop {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while line.last() != Some(&b'\n') {
            s.read_exact(&mut b).map_err(|e| format!("version line: {e}"))?;
            line.push(b[0]);
            if line.len() > 255 {
                return Err("version line too long".into());
            }
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if line.starts_with("SSH-") {
            break line;
        }
    };
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(|e| format!("packet length: {e}"))?;
    let len = u32::from_be_bytes(len) as usize;
    if !(22..=35000).contains(&len) {
        return Err(format!("packet length {len}"));
    }
    let mut packet = vec![0u8; len];
    s.read_exact(&mut packet).map_err(|e| format!("packet: {e}"))?;
    let padding = packet[0] as usize;
    let payload = packet.get(1..len.saturating_sub(padding)).ok_or("bad padding length")?;
    if payload.first() != Some(&20) {
        return Err(format!("first packet is message {:?}, not KEXINIT", payload.first()));
    }
    let mut rest = payload.get(17..).ok_or("short KEXINIT")?;
    let mut lists = Vec::new();
    for _ in 0..10 {
        let n = rest.get(..4).ok_or("short KEXINIT")?;
        let n = u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize;
        let list = rest.get(4..4 + n).ok_or("short KEXINIT")?;
        lists.push(String::from_utf8_lossy(list).into_owned());
        rest = &rest[4 + n..];
    }
    Ok((version, lists))
}

/// What a server offers: connect and read its KEXINIT.
fn probe_server(port: u16) -> Support {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.write_all(b"SSH-2.0-amiko_interop_probe\r\n").expect("version");
    let (_, lists) = read_kexinit(&mut s).unwrap_or_else(|e| panic!("the server's KEXINIT: {e}"));
    Support::from_kexinit(&lists)
}

/// What dbclient offers: let it connect to a listener and read its KEXINIT; then it is killed (our child, by pid).
fn probe_dbclient() -> Support {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("port").port();
    let mut child = Command::new("dbclient")
        .args(["-y", "-y", "-p", &port.to_string(), "probe@127.0.0.1", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbclient");
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = loop {
        match listener.accept() {
            Ok((mut s, _)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.write_all(b"SSH-2.0-amiko_interop_probe\r\n");
                break read_kexinit(&mut s);
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("dbclient did not connect: {e}")),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let (_, lists) = result.unwrap_or_else(|e| panic!("dbclient's KEXINIT: {e}"));
    Support::from_kexinit(&lists)
}

fn ssh_keygen(args: &[&str], path: &Path) {
    run_quiet(Command::new("ssh-keygen").args(args).arg(path));
}

/// One host key of every type, each with a host certificate for 127.0.0.1 from one CA, in OpenSSH's format: for
/// sshd and for amiko's server.
struct HostKeys {
    /// The private key files (`-cert.pub` and `.pub` beside each).
    files: Vec<PathBuf>,
    /// The CA's public key line.
    ca: String,
    /// amiko's server's keys: each plain, and each with its certificate.
    server_keys: Vec<PrivateKey>,
}

impl HostKeys {
    fn generate(dir: &Path) -> HostKeys {
        let ca = dir.join("host_ca");
        ssh_keygen(&["-q", "-N", "", "-t", "ed25519", "-f"], &ca);
        let mut files = Vec::new();
        let mut server_keys = Vec::new();
        for (t, bits) in [
            ("ed25519", "256"),
            ("ecdsa", "256"),
            ("ecdsa", "384"),
            ("ecdsa", "521"),
            ("rsa", "3072"),
        ] {
            let key = dir.join(format!("host_{t}{bits}"));
            ssh_keygen(&["-q", "-N", "", "-t", t, "-b", bits, "-f"], &key);
            let ca = ca.display().to_string();
            ssh_keygen(
                &[
                    "-q",
                    "-s",
                    &ca,
                    "-I",
                    "interop",
                    "-h",
                    "-n",
                    "127.0.0.1",
                    "-V",
                    "-5m:+1d",
                ],
                &key.with_extension("pub"),
            );
            let plain = amiko::load_key_file(&key, None)
                .expect("host key")
                .without_certificate();
            let cert = std::fs::read_to_string(format!("{}-cert.pub", key.display())).expect("certificate");
            let cert = PublicKey::from_openssh(&cert).expect("certificate");
            server_keys.push(plain.with_certificate(cert).expect("certificate fits"));
            server_keys.push(plain);
            files.push(key);
        }
        let ca = public_line(&ca.with_extension("pub"));
        HostKeys { files, ca, server_keys }
    }

    /// known_hosts for a server with these keys on `port`: each plain key, and the CA.
    fn known_hosts(&self, port: u16) -> String {
        let mut s = String::new();
        for f in &self.files {
            let _ = writeln!(s, "[127.0.0.1]:{port} {}", public_line(&f.with_extension("pub")));
        }
        let _ = writeln!(s, "@cert-authority [127.0.0.1]:{port} {}", self.ca);
        s
    }

    /// Whether amiko's server can sign with `alg` (it verifies ssh-rsa but never signs with it).
    fn server_signs(&self, alg: &str) -> bool {
        self.server_keys.iter().any(|k| k.signature_algorithms().contains(&alg))
    }
}

/// `type base64` of a public key file.
fn public_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One OpenSSH build: its sshd (with every host key, offering everything amiko has that it has) and its ssh.
struct OpenSsh {
    /// `ssh -V`.
    version: String,
    /// For column headers: `9.2p1`.
    short: String,
    /// The tree it runs in (chroot), None for the system's.
    root: Option<PathBuf>,
    /// Our files for this build (host keys, ssh's key, per-cell known_hosts), and the same path as it sees it.
    dir: PathBuf,
    inner: String,
    /// What ssh has (`ssh -Q`).
    support: Support,
    /// What sshd offers, from its KEXINIT, when configured with everything ssh has: sshd has less (no plain zlib).
    sshd_support: Support,
    sshd: Sshd,
    /// Held by a cell against this sshd, so that what its log gains meanwhile is that cell's connection (sshd's
    /// log lines carry no pid to tell connections apart).
    one_at_a_time: Mutex<()>,
}

impl OpenSsh {
    fn command(root: Option<&Path>, program: &str) -> Command {
        match root {
            Some(r) => {
                let mut c = Command::new("chroot");
                c.arg(r).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn start(root: Option<PathBuf>, keys: &HostKeys, client_key: &Path) -> Option<OpenSsh> {
        let (dir, inner) = match &root {
            Some(r) => {
                let name = format!("amiko/interop-{}", std::process::id());
                let d = r.join(&name);
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).expect("dir in the tree");
                (d, format!("/{name}"))
            }
            None => {
                let d = common::temp_dir("interop-openssh");
                let inner = d.display().to_string();
                (d, inner)
            }
        };
        // Into the tree: sshd and ssh there see nothing outside it. fs::copy keeps the 0600 mode they insist on.
        let copy = |from: &Path| {
            let name = from.file_name().expect("file name");
            std::fs::copy(from, dir.join(name)).expect("copy key");
        };
        for f in &keys.files {
            copy(f);
            copy(&f.with_extension("pub"));
            copy(Path::new(&format!("{}-cert.pub", f.display())));
        }
        copy(client_key);
        let version = Self::command(root.as_deref(), "ssh").arg("-V").output().ok()?;
        let version = String::from_utf8_lossy(&version.stderr).trim().to_string();
        let short = version
            .strip_prefix("OpenSSH_")
            .and_then(|v| v.split([' ', ',']).next())
            .unwrap_or(&version)
            .to_string();
        let mut support = Support::default();
        for cat in CATEGORIES {
            let out = run_quiet(Self::command(root.as_deref(), "ssh").args(["-Q", cat.ssh_query()]));
            support.0.insert(
                cat,
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect(),
            );
        }
        // sshd offers whatever both have; the client side of a cell picks one. The first HostKey of a type is the
        // one sshd uses, and these come before the harness's own.
        let mut extra = String::new();
        for f in &keys.files {
            let name = f.file_name().expect("name").to_string_lossy();
            let _ = writeln!(extra, "HostKey {inner}/{name}\nHostCertificate {inner}/{name}-cert.pub");
        }
        for cat in CATEGORIES {
            if let Some(keyword) = cat.sshd_keyword() {
                let both: Vec<&str> = cat
                    .supported()
                    .iter()
                    .copied()
                    .filter(|a| support.has(cat, a))
                    .collect();
                let _ = writeln!(extra, "{keyword} {}", both.join(","));
            }
        }
        extra.push_str("Compression yes\n");
        let sshd = match &root {
            Some(r) => Sshd::start_in_root_with(r, &extra),
            None => Sshd::start_with(&extra),
        }?;
        let sshd_support = probe_server(sshd.port);
        Some(OpenSsh {
            version,
            short,
            root,
            dir,
            inner,
            support,
            sshd_support,
            sshd,
            one_at_a_time: Mutex::default(),
        })
    }
}

impl Drop for OpenSsh {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One dropbear server and the host keys it holds.
struct DropbearServer {
    db: Dropbear,
    key_types: Vec<String>,
    known_hosts: String,
    support: Support,
}

/// Dropbear: its servers (one key per family each, so one per ECDSA curve) and what its client offers.
struct DropbearPeer {
    version: String,
    client_version: String,
    servers: Vec<DropbearServer>,
    dbclient: Support,
    /// dbclient's key, in dropbear's format.
    client_key: PathBuf,
}

impl DropbearPeer {
    fn start(dir: &Path) -> Option<DropbearPeer> {
        if !Path::new("/usr/bin/dbclient").exists() {
            common::missing("dropbear's dbclient")?;
        }
        let mut servers = Vec::new();
        for group in [
            &[("rsa", "2048"), ("ecdsa", "256"), ("ed25519", "256")][..],
            &[("ecdsa", "384")],
            &[("ecdsa", "521")],
        ] {
            let files: Vec<PathBuf> = group
                .iter()
                .map(|(t, bits)| {
                    let f = dir.join(format!("dropbear_{t}{bits}"));
                    if !f.exists() {
                        run_quiet(Command::new("dropbearkey").args(["-t", t, "-s", bits, "-f"]).arg(&f));
                    }
                    f
                })
                .collect();
            let db = Dropbear::start_with_host_keys(&files)?;
            let pubs: Vec<String> = files.iter().map(|f| common::dropbear_public_key(f)).collect();
            let key_types = pubs
                .iter()
                .map(|p| p.split_whitespace().next().unwrap_or("").to_string())
                .collect();
            let known_hosts = pubs
                .iter()
                .map(|p| {
                    let mut w = p.split_whitespace();
                    format!(
                        "[127.0.0.1]:{} {} {}\n",
                        db.port,
                        w.next().unwrap_or(""),
                        w.next().unwrap_or("")
                    )
                })
                .collect();
            let support = probe_server(db.port);
            servers.push(DropbearServer {
                db,
                key_types,
                known_hosts,
                support,
            });
        }
        let client_key = dir.join("id_dropbear");
        run_quiet(
            Command::new("dropbearkey")
                .args(["-t", "ed25519", "-f"])
                .arg(&client_key),
        );
        let version = |p: &str| {
            let out = Command::new(p).arg("-V").output().expect("-V");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        };
        Some(DropbearPeer {
            version: version("/usr/sbin/dropbear"),
            client_version: version("dbclient"),
            servers,
            dbclient: probe_dbclient(),
            client_key,
        })
    }

    /// The server for a cell: for host key cells the one holding that key type, if it offers the algorithm.
    fn server_for(&self, cat: Category, alg: &str) -> Option<&DropbearServer> {
        let s = if cat == Category::HostKey {
            self.servers
                .iter()
                .find(|s| s.key_types.iter().any(|t| t == key_type_of(alg)))?
        } else {
            self.servers.first()?
        };
        s.support.has(cat, alg).then_some(s)
    }

    fn short_version(&self) -> String {
        self.version
            .rsplit(['v', ' '])
            .next()
            .unwrap_or(&self.version)
            .to_string()
    }
}

/// amiko's server's handler for the cells: the cell's keys may log in, and every exec records what the connection
/// negotiated before the built-in runner runs the command.
struct Recorder {
    auth: SimpleAuth,
    seen: Mutex<HashMap<String, Option<Negotiated>>>,
}

impl Handler for Recorder {
    fn auth_publickey(&self, user: &str, key: &PublicKey) -> AuthDecision {
        self.auth.auth_publickey(user, key)
    }

    fn exec(&self, info: &SessionInfo, command: &str, _channel: &mut Option<Channel>) -> bool {
        self.seen
            .lock()
            .expect("lock")
            .insert(command.to_string(), info.negotiated.clone());
        false
    }
}

/// One amiko server for one cell; stops accepting when dropped.
struct AmikoServer {
    port: u16,
    recorder: Arc<Recorder>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl AmikoServer {
    fn recorded(&self, command: &str) -> Result<Negotiated, String> {
        match self.recorder.seen.lock().expect("lock").get(command) {
            Some(Some(n)) => Ok(n.clone()),
            Some(None) => Err("amiko's server had no negotiated algorithms at exec".into()),
            None => Err(format!("amiko's server saw no exec of {command:?}")),
        }
    }
}

impl Drop for AmikoServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    AmikoToSshd(usize),
    SshToAmiko(usize),
    AmikoToDropbear,
    DbclientToAmiko,
}

enum Outcome {
    Pass,
    Fail(String),
    /// The peer does not have the algorithm.
    PeerLacks,
    /// amiko's server does not sign with this host key algorithm (ssh-rsa: verified, never made).
    AmikoVerifyOnly,
}

struct Env {
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
    keys: HostKeys,
    /// ssh's key (OpenSSH format; copied into each OpenSSH's directory).
    client_key: PathBuf,
    authorized: Vec<PublicKey>,
    gex_groups: Arc<Vec<amiko_proto::kex::DhGroup>>,
    openssh: Vec<OpenSsh>,
    dropbear: Option<DropbearPeer>,
}

impl Env {
    fn columns(&self) -> Vec<Column> {
        let mut c = Vec::new();
        if !self.openssh.is_empty() {
            c.extend([Column::AmikoToSshd(0), Column::SshToAmiko(0)]);
        }
        if self.dropbear.is_some() {
            c.extend([Column::AmikoToDropbear, Column::DbclientToAmiko]);
        }
        for i in 1..self.openssh.len() {
            c.extend([Column::AmikoToSshd(i), Column::SshToAmiko(i)]);
        }
        c
    }

    fn header(&self, col: Column) -> String {
        match col {
            Column::AmikoToSshd(i) => format!("amiko → sshd {}", self.openssh[i].short),
            Column::SshToAmiko(i) => format!("ssh {} → amiko", self.openssh[i].short),
            Column::AmikoToDropbear => {
                format!(
                    "amiko → dropbear {}",
                    self.dropbear.as_ref().map(|d| d.short_version()).unwrap_or_default()
                )
            }
            Column::DbclientToAmiko => {
                format!(
                    "dbclient {} → amiko",
                    self.dropbear.as_ref().map(|d| d.short_version()).unwrap_or_default()
                )
            }
        }
    }

    /// Starts amiko's server with `alg` alone in its `cat` list.
    fn server(&self, cat: Category, alg: &str, peer: &Support) -> Result<AmikoServer, String> {
        let mut cfg = ServerConfig::new(self.keys.server_keys.clone());
        cfg.moduli_file = None;
        cfg.proto.gex_groups = self.gex_groups.clone();
        force(&mut cfg.proto.algorithms, cat, alg, peer);
        let recorder = Arc::new(Recorder {
            auth: SimpleAuth {
                authorized_keys: self.authorized.iter().cloned().map(Into::into).collect(),
                ..Default::default()
            },
            seen: Mutex::default(),
        });
        let server = self
            .rt
            .block_on(Server::bind("127.0.0.1:0", cfg, recorder.clone()))
            .map_err(|e| format!("amiko server: {e}"))?;
        let port = server.local_addr().map_err(|e| e.to_string())?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.rt.spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Ok(AmikoServer {
            port,
            recorder,
            stop: Some(stop),
        })
    }

    fn run(&self, col: Column, cat: Category, alg: &str, token: &str) -> Outcome {
        let result = match col {
            Column::AmikoToSshd(i) => {
                let o = &self.openssh[i];
                if !o.sshd_support.has(cat, alg) {
                    return Outcome::PeerLacks;
                }
                let kh = self.keys.known_hosts(o.sshd.port);
                let s = &o.sshd;
                let _alone = o.one_at_a_time.lock().unwrap_or_else(|e| e.into_inner());
                let from = s.log().len();
                self.amiko_client(s.port, &s.user, &s.client_key, kh, &o.sshd_support, cat, alg, token)
                    .and_then(|()| {
                        openssh_saw(cat, alg, s.log().get(from..).unwrap_or_default())
                            .then_some(())
                            .ok_or_else(|| "sshd's log does not show it negotiated".to_string())
                    })
            }
            Column::AmikoToDropbear => {
                let d = self.dropbear.as_ref().expect("dropbear");
                let Some(s) = d.server_for(cat, alg) else {
                    return Outcome::PeerLacks;
                };
                self.amiko_client(
                    s.db.port,
                    &s.db.user,
                    &s.db.client_key,
                    s.known_hosts.clone(),
                    &s.support,
                    cat,
                    alg,
                    token,
                )
            }
            Column::SshToAmiko(i) => {
                let o = &self.openssh[i];
                if !o.support.has(cat, alg) {
                    return Outcome::PeerLacks;
                }
                if cat == Category::HostKey && !self.keys.server_signs(alg) {
                    return Outcome::AmikoVerifyOnly;
                }
                self.ssh_client(o, cat, alg, token)
            }
            Column::DbclientToAmiko => {
                let d = self.dropbear.as_ref().expect("dropbear");
                if !d.dbclient.has(cat, alg) {
                    return Outcome::PeerLacks;
                }
                if cat == Category::HostKey && !self.keys.server_signs(alg) {
                    return Outcome::AmikoVerifyOnly;
                }
                self.dbclient(d, cat, alg, token)
            }
        };
        match result {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        }
    }

    /// amiko's client with `alg` forced, against a peer server: the command's output, and what the client says it
    /// negotiated.
    #[allow(clippy::too_many_arguments)]
    fn amiko_client(
        &self,
        port: u16,
        user: &str,
        key: &Path,
        known_hosts: String,
        peer: &Support,
        cat: Category,
        alg: &str,
        token: &str,
    ) -> Result<(), String> {
        let mut cfg = ClientConfig::new(user);
        cfg.keys = vec![amiko::load_key_file(key, None).map_err(|e| e.to_string())?];
        cfg.host_keys.files.clear();
        cfg.host_keys.extra = known_hosts;
        cfg.host_keys.policy = HostKeyPolicy::Reject;
        cfg.agent = None;
        cfg.login_timeout = Some(CELL_TIMEOUT);
        force(&mut cfg.proto.algorithms, cat, alg, peer);
        let command = format!("echo ok-{token}");
        let negotiated = self.rt.block_on(async {
            tokio::time::timeout(CELL_TIMEOUT, async {
                let c = Client::connect("127.0.0.1", port, cfg)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let out = c.exec(&command).await.map_err(|e| format!("exec: {e}"));
                let negotiated = c.negotiated();
                c.disconnect();
                let out = out?;
                if out.stdout != format!("ok-{token}\n").as_bytes() {
                    return Err(format!(
                        "output {:?}, stderr {:?}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                Ok(negotiated)
            })
            .await
            .map_err(|_| format!("timed out after {CELL_TIMEOUT:?}"))?
        })?;
        check_negotiated("amiko's client", cat, alg, negotiated.as_ref())
    }

    /// OpenSSH's ssh with `alg` forced (`-o`), against amiko's server with only `alg`: the output, `ssh -v`, and
    /// what the server recorded.
    fn ssh_client(&self, o: &OpenSsh, cat: Category, alg: &str, token: &str) -> Result<(), String> {
        let server = self.server(cat, alg, &o.support)?;
        let kh = format!("known_hosts-{token}");
        std::fs::write(o.dir.join(&kh), self.keys.known_hosts(server.port)).map_err(|e| e.to_string())?;
        let key = self.client_key.file_name().expect("name").to_string_lossy().to_string();
        let mut cmd = OpenSsh::command(o.root.as_deref(), "ssh");
        cmd.args([
            "-v",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .args(["-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}/{kh}", o.inner))
        .arg("-i")
        .arg(format!("{}/{key}", o.inner));
        let option = match cat {
            Category::Kex => vec![format!("KexAlgorithms={alg}")],
            Category::HostKey => vec![format!("HostKeyAlgorithms={alg}")],
            Category::Cipher => vec![format!("Ciphers={alg}")],
            Category::Mac => vec![format!("Ciphers={}", mac_cipher(&o.support)), format!("MACs={alg}")],
            // ssh has no list: yes offers zlib@openssh.com,zlib,none and the server's single method decides.
            Category::Compression if alg == "none" => vec!["Compression=no".to_string()],
            Category::Compression => vec!["Compression=yes".to_string()],
        };
        for opt in option {
            cmd.arg("-o").arg(opt);
        }
        let command = format!("echo ok-{token}");
        cmd.args(["-p", &server.port.to_string(), "interop@127.0.0.1", &command]);
        let out = run_with_timeout(&mut cmd, CELL_TIMEOUT);
        let _ = std::fs::remove_file(o.dir.join(&kh));
        let out = out?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.stdout != format!("ok-{token}\n").as_bytes() {
            return Err(format!(
                "ssh exited {:?}, output {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                tail(&stderr)
            ));
        }
        if !openssh_saw(cat, alg, &stderr) {
            return Err("ssh -v does not show it negotiated".into());
        }
        check_negotiated("amiko's server", cat, alg, Some(&server.recorded(&command)?))
    }

    /// dbclient (with `-c`/`-m` for ciphers and MACs, its only algorithm options) against amiko's server with only
    /// `alg`: the output and what the server recorded.
    fn dbclient(&self, d: &DropbearPeer, cat: Category, alg: &str, token: &str) -> Result<(), String> {
        let server = self.server(cat, alg, &d.dbclient)?;
        let mut cmd = Command::new("dbclient");
        // -y -y: no known_hosts (the host key signature is still checked in the key exchange).
        cmd.env("HOME", &self.dir).args(["-y", "-y", "-i"]).arg(&d.client_key);
        match cat {
            Category::Cipher => {
                cmd.args(["-c", alg]);
            }
            Category::Mac => {
                cmd.args(["-c", mac_cipher(&d.dbclient), "-m", alg]);
            }
            _ => {}
        }
        let command = format!("echo ok-{token}");
        cmd.args(["-p", &server.port.to_string(), "interop@127.0.0.1", &command]);
        let out = run_with_timeout(&mut cmd, CELL_TIMEOUT)?;
        if out.stdout != format!("ok-{token}\n").as_bytes() {
            return Err(format!(
                "dbclient exited {:?}, output {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                tail(&String::from_utf8_lossy(&out.stderr))
            ));
        }
        check_negotiated("amiko's server", cat, alg, Some(&server.recorded(&command)?))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The OpenSSH 10 tree: AMIKO_OPENSSH10_ROOT, else target/openssh10 if scripts/openssh10-root made it there.
fn openssh10_root() -> Option<PathBuf> {
    common::openssh10_root().or_else(|| {
        let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/openssh10");
        t.join("usr/sbin/sshd").exists().then_some(t)
    })
}

/// Today's date (UTC) as YYYY-MM-DD, from the days since 1970 (Howard Hinnant's civil_from_days).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

struct Cell {
    cat: Category,
    alg: &'static str,
    col: usize,
}

fn write_report(env: &Env, cols: &[Column], cells: &[Cell], outcomes: &[Outcome], took: Duration) -> String {
    let mut doc = String::new();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let (pass, fail) = (
        count(|o| matches!(o, Outcome::Pass)),
        count(|o| matches!(o, Outcome::Fail(_))),
    );
    let na = outcomes.len() - pass - fail;
    let _ = writeln!(doc, "# Interoperability matrix\n");
    let _ = writeln!(
        doc,
        "Generated by `amiko/tests/interop.rs` on {} in {} s: {pass} ✓, {fail} ✗, {na} n/a. Do not edit by hand.\n",
        today(),
        took.as_secs()
    );
    let _ = writeln!(
        doc,
        "Every algorithm amiko implements (read from `amiko_proto::config` when the test runs, the opt-in ones \
         included) against every real peer that has it, in both roles. A cell forces its one algorithm on each side \
         that has a setting for it (amiko's algorithm lists, `ssh -o`, dbclient's `-c`/`-m`; sshd offers everything \
         it has), leaves the other categories at their defaults (MAC cells take amiko's first non-AEAD cipher that \
         the peer has, so that the MAC is used), runs `echo` and checks its output. A ✓ also needs both sides to \
         report the algorithm: amiko through `Client::negotiated` or the server's `SessionInfo::negotiated`, \
         OpenSSH through `ssh -v` or the lines sshd's DEBUG log gained during the cell (dropbear reports nothing, \
         so amiko's side speaks for it).\n"
    );
    let _ = writeln!(
        doc,
        "What a peer has comes from the peer: `ssh -Q` for ssh; for sshd, the KEXINIT it sends when configured \
         with everything `ssh -Q` lists (sshd has less: no plain `zlib`); for dropbear and dbclient, which have no \
         such query, the KEXINIT they send. Certificate host keys are signed by one CA that the client trusts through \
         `@cert-authority`; dropbear takes one host key per family, so one dropbear runs per ECDSA curve.\n"
    );
    let _ = writeln!(
        doc,
        "Regenerate (as root, with OpenSSH and dropbear installed; OpenSSH 10 from `scripts/openssh10-root \
         target/openssh10` or `AMIKO_OPENSSH10_ROOT`):\n\n```\ncargo test --release -p amiko --test interop -- \
         --nocapture\n```\n"
    );
    let _ = writeln!(doc, "## Peers\n\n| Peer | Version | Columns |\n|---|---|---|");
    for (i, o) in env.openssh.iter().enumerate() {
        let _ = writeln!(
            doc,
            "| OpenSSH{} | `{}` | {}, {} |",
            if o.root.is_some() {
                " (Debian trixie tree, chroot)"
            } else {
                ""
            },
            o.version,
            env.header(Column::AmikoToSshd(i)),
            env.header(Column::SshToAmiko(i))
        );
    }
    if let Some(d) = &env.dropbear {
        let _ = writeln!(
            doc,
            "| dropbear | `{}` | {} |\n| dbclient | `{}` | {} |",
            d.version,
            env.header(Column::AmikoToDropbear),
            d.client_version,
            env.header(Column::DbclientToAmiko)
        );
    }
    if env.openssh.len() < 2 {
        let _ = writeln!(
            doc,
            "\nOpenSSH 10 was not available, so mlkem768x25519-sha256 has no peer here."
        );
    }
    if env.dropbear.is_none() {
        let _ = writeln!(
            doc,
            "\ndropbear was not available (it needs root and the amikotest account)."
        );
    }
    let _ = writeln!(
        doc,
        "\nLegend: ✓ worked, and both sides reported the algorithm; ✗ failed (see the list at the end); n/a the peer \
         does not have it; n/a\\* amiko's server does not sign with it (`ssh-rsa` is verified, never made). \
         *(opt-in)* marks algorithms amiko offers only when named.\n"
    );
    for cat in CATEGORIES {
        let _ = writeln!(doc, "## {}\n", cat.title());
        let _ = write!(doc, "| Algorithm |");
        for c in cols {
            let _ = write!(doc, " {} |", env.header(*c));
        }
        let _ = write!(doc, "\n|---|");
        for _ in cols {
            let _ = write!(doc, ":---:|");
        }
        doc.push('\n');
        for alg in cat.supported() {
            let legacy = if cat.legacy().contains(alg) { " *(opt-in)*" } else { "" };
            let _ = write!(doc, "| `{alg}`{legacy} |");
            for (ci, _) in cols.iter().enumerate() {
                let mark = cells
                    .iter()
                    .position(|c| c.cat == cat && c.alg == *alg && c.col == ci)
                    .map(|i| match &outcomes[i] {
                        Outcome::Pass => "✓",
                        Outcome::Fail(_) => "✗",
                        Outcome::PeerLacks => "n/a",
                        Outcome::AmikoVerifyOnly => "n/a\\*",
                    })
                    .unwrap_or("?");
                let _ = write!(doc, " {mark} |");
            }
            doc.push('\n');
        }
        doc.push('\n');
    }
    if fail > 0 {
        let _ = writeln!(doc, "## Failures\n");
        for (cell, o) in cells.iter().zip(outcomes) {
            if let Outcome::Fail(e) = o {
                let _ = writeln!(
                    doc,
                    "- {} `{}`, {}: {}",
                    cell.cat.title(),
                    cell.alg,
                    env.header(cols[cell.col]),
                    e.replace('\n', " ")
                );
            }
        }
    }
    doc
}

#[test]
fn every_algorithm_with_every_peer_in_both_roles() {
    let started = Instant::now();
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        common::missing("ssh-keygen");
        return;
    }
    let dir = common::temp_dir("interop");
    let keys = HostKeys::generate(&dir);
    let client_key = dir.join("id_ed25519");
    ssh_keygen(&["-q", "-N", "", "-t", "ed25519", "-f"], &client_key);
    let mut authorized = vec![PublicKey::from_openssh(&public_line(&client_key.with_extension("pub"))).unwrap()];
    let mut openssh = Vec::new();
    if Command::new("ssh").arg("-V").output().is_ok() {
        openssh.extend(OpenSsh::start(None, &keys, &client_key));
    } else {
        common::missing("OpenSSH ssh");
    }
    if let Some(root) = openssh10_root() {
        openssh.extend(OpenSsh::start(Some(root), &keys, &client_key));
    } else {
        eprintln!("no OpenSSH 10 tree: its columns are left out");
    }
    let dropbear = DropbearPeer::start(&dir);
    if let Some(d) = &dropbear {
        authorized.push(PublicKey::from_openssh(&common::dropbear_public_key(&d.client_key)).unwrap());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gex_groups = Arc::new(amiko::server::read_moduli(Path::new("/etc/ssh/moduli")).unwrap_or_default());
    let env = Env {
        rt,
        dir,
        keys,
        client_key,
        authorized,
        gex_groups,
        openssh,
        dropbear,
    };
    let cols = env.columns();
    if cols.is_empty() {
        eprintln!("skipping: no peer");
        return;
    }
    let mut cells = Vec::new();
    for cat in CATEGORIES {
        for alg in cat.supported() {
            for col in 0..cols.len() {
                cells.push(Cell { cat, alg, col });
            }
        }
    }
    let setup = started.elapsed();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cells.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cell) = cells.get(i) else { break };
                let token = format!("c{i}");
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    env.run(cols[cell.col], cell.cat, cell.alg, &token)
                }))
                .unwrap_or_else(|p| {
                    Outcome::Fail(format!(
                        "panicked: {}",
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    ))
                });
                outcomes.lock().unwrap()[i] = Some(r);
            });
        }
    });
    let outcomes: Vec<Outcome> = outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Fail("not run".into())))
        .collect();
    let took = started.elapsed();
    let doc = write_report(&env, &cols, &cells, &outcomes, took);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/INTEROP.md");
    std::fs::write(&path, &doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let failures: Vec<String> = cells
        .iter()
        .zip(&outcomes)
        .filter_map(|(c, o)| match o {
            Outcome::Fail(e) => Some(format!(
                "{} {} × {}: {e}",
                c.cat.title(),
                c.alg,
                env.header(cols[c.col])
            )),
            _ => None,
        })
        .collect();
    let pass = outcomes.iter().filter(|o| matches!(o, Outcome::Pass)).count();
    eprintln!(
        "interop matrix: {} cells ({pass} ✓, {} ✗, {} n/a) in {:.1} s ({:.1} s of setup); wrote {}",
        cells.len(),
        failures.len(),
        cells.len() - pass - failures.len(),
        took.as_secs_f64(),
        setup.as_secs_f64(),
        path.display()
    );
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
