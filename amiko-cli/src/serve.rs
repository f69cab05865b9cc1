//! `amiko serve`: the server on the command line, stopping cleanly on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::sync::Arc;

use amiko::server::{read_authorized_keys, Server, ServerConfig, SimpleAuth};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2222")]
    pub listen: String,
    /// Host key file (OpenSSH or PEM); generated (and written there) if it does not exist.
    #[arg(long = "host-key")]
    pub host_key: PathBuf,
    /// An OpenSSH host certificate of the host key (`ssh-keygen -s CA -h`), served besides the plain key to
    /// clients that ask for certificates (sshd's HostCertificate).
    #[arg(long = "host-cert")]
    pub host_cert: Option<PathBuf>,
    /// CA public keys (one per line) trusted to sign user certificates (sshd's TrustedUserCAKeys).
    #[arg(long = "trusted-user-ca-keys")]
    pub trusted_user_ca_keys: Option<PathBuf>,
    /// authorized_keys file for public-key logins, in sshd's format. Options in front of a key are enforced as
    /// sshd enforces them (command=, from=, restrict, no-pty, no-port-forwarding, permitopen=, expiry-time=,
    /// cert-authority, ...); a line with an unknown or malformed option is skipped with a warning. environment=
    /// is ignored, as sshd without PermitUserEnvironment.
    #[arg(long = "authorized-keys")]
    pub authorized_keys: Option<PathBuf>,
    /// Accept this environment variable's value as the password.
    #[arg(long = "password-env", value_name = "NAME")]
    pub password_env: Option<String>,
    /// Serve SFTP with this directory as its root (clients cannot leave it).
    #[arg(long = "sftp-root")]
    pub sftp_root: Option<PathBuf>,
    /// Unauthenticated connections allowed, as sshd's MaxStartups start:rate:full.
    #[arg(long = "max-startups", value_name = "START:RATE:FULL", default_value = "10:30:100")]
    pub max_startups: String,
    /// Let users forward TCP through the server (ssh -L, -J, -D: direct-tcpip channels; ssh -R: listeners on
    /// loopback). Off by default.
    #[arg(long)]
    pub allow_tcp_forwarding: bool,
    /// Let users forward their ssh-agent into their sessions (ssh -A): SSH_AUTH_SOCK in a private directory for
    /// the session's processes. Off by default.
    #[arg(long)]
    pub allow_agent_forwarding: bool,
    /// Let users forward Unix sockets through the server (ssh -L port:/socket, ssh -R /socket:...). Off by default.
    #[arg(long)]
    pub allow_streamlocal_forwarding: bool,
    /// Let clients set variables matching PATTERN in their sessions (ssh's SendEnv/SetEnv), as sshd's AcceptEnv:
    /// a whole name, `*` for any run and `?` for one character, case-sensitive. Repeatable; added to the default
    /// `LANG` and `LC_*` (`-o AcceptEnv=...` does the same). Any other name is refused, because a name like
    /// BASH_ENV or LD_PRELOAD runs the client's code before its command, a certificate's force-command included.
    #[arg(long = "accept-env", value_name = "PATTERN")]
    pub accept_env: Vec<String>,
    /// Start the AcceptEnv list empty instead of with `LANG` and `LC_*` (sshd's own default, where only what
    /// `--accept-env` names is accepted).
    #[arg(long)]
    pub no_default_accept_env: bool,
    /// Groups for diffie-hellman-group-exchange-* in OpenSSH's moduli(5) format (the RFC 3526 groups if the file
    /// is missing).
    #[arg(long, value_name = "FILE", default_value = "/etc/ssh/moduli")]
    pub moduli: PathBuf,
    /// sshd_config-style options. Algorithm lists: `Ciphers=+aes128-cbc`, `KexAlgorithms=+diffie-hellman-group14-sha1`,
    /// `MACs=...`, `HostKeyAlgorithms=...` (`+` appends, `-` removes, `^` puts first, as in sshd_config(5)); the
    /// legacy SHA-1 and CBC algorithms are only offered when named this way. `AcceptEnv=PATTERN...`
    /// (whitespace-separated) as `--accept-env`. `SetEnv=NAME=VALUE...` (sshd's SetEnv): set in every session.
    #[arg(short = 'o', value_name = "OPTION=VALUE")]
    pub options: Vec<String>,
    /// Offer compression (zlib@openssh.com, started after authentication) as sshd's `Compression`; `no` offers
    /// only `none`.
    #[arg(long, value_name = "yes|no", default_value = "yes", value_parser = yes_no)]
    pub compression: bool,
    /// Only this user may log in.
    #[arg(long)]
    pub user: Option<String>,
    /// More logging.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// sshd's yes/no (`delayed`, an old sshd spelling of the default, is yes).
fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "delayed" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("expected yes or no, got '{v}'")),
    }
}

/// One AcceptEnv pattern, refused where sshd refuses it ("Invalid environment name"): empty or with `=`.
fn accept_env_pattern(p: &str) -> Result<String, String> {
    if p.is_empty() || p.contains('=') {
        return Err(format!("'{p}' is not a variable name pattern"));
    }
    Ok(p.to_string())
}

fn load_or_create_host_key(path: &PathBuf) -> Result<amiko::PrivateKey, String> {
    if path.exists() {
        return amiko::load_key_file(path, None).map_err(|e| e.to_string());
    }
    let key = amiko::PrivateKey::generate_ed25519().map_err(|e| e.to_string())?;
    let text = key.to_openssh_text().map_err(|e| e.to_string())?;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(
        "generated host key {} ({})",
        path.display(),
        key.public_key().fingerprint()
    );
    Ok(key)
}

pub fn run(args: ServeArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiko: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        let result: Result<(), String> = async {
            let key = load_or_create_host_key(&args.host_key)?;
            let mut auth = SimpleAuth {
                user: args.user.clone(),
                allow_tcp_forwarding: args.allow_tcp_forwarding,
                allow_agent_forwarding: args.allow_agent_forwarding,
                allow_streamlocal_forwarding: args.allow_streamlocal_forwarding,
                ..Default::default()
            };
            if args.no_default_accept_env {
                auth.accept_env.clear();
            }
            for pattern in &args.accept_env {
                auth.accept_env
                    .push(accept_env_pattern(pattern).map_err(|e| format!("--accept-env: {e}"))?);
            }
            if let Some(f) = &args.authorized_keys {
                auth.authorized_keys = read_authorized_keys(f).map_err(|e| e.to_string())?;
            }
            if let Some(name) = &args.password_env {
                auth.password = Some(std::env::var(name).map_err(|_| format!("--password-env: ${name} is not set"))?);
            }
            let trusted_cas = match &args.trusted_user_ca_keys {
                Some(f) => {
                    // sshd's TrustedUserCAKeys: keys only; options belong in authorized_keys (cert-authority).
                    let mut cas = Vec::new();
                    for entry in read_authorized_keys(f).map_err(|e| e.to_string())? {
                        if !entry.options.is_empty() {
                            return Err(format!(
                                "--trusted-user-ca-keys: {}: options in front of {} (only keys belong here)",
                                f.display(),
                                entry.key.fingerprint()
                            ));
                        }
                        cas.push(entry.key);
                    }
                    if cas.is_empty() {
                        return Err(format!("--trusted-user-ca-keys: no key in {}", f.display()));
                    }
                    cas
                }
                None => Vec::new(),
            };
            if auth.password.is_none() && auth.authorized_keys.is_empty() && trusted_cas.is_empty() {
                return Err(
                    "no way to log in: give --authorized-keys, --trusted-user-ca-keys and/or --password-env".into(),
                );
            }
            let mut host_keys = vec![key.clone()];
            if let Some(f) = &args.host_cert {
                let line = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                let cert = amiko::PublicKey::from_openssh(&line).map_err(|e| format!("{}: {e}", f.display()))?;
                match cert.certificate() {
                    Some(c) if c.cert_type == amiko::proto::cert::CertType::Host => {}
                    _ => return Err(format!("{}: not a host certificate", f.display())),
                }
                host_keys.push(
                    key.with_certificate(cert)
                        .map_err(|e| format!("{}: {e}", f.display()))?,
                );
            }
            let mut cfg = ServerConfig::new(host_keys);
            cfg.trusted_user_ca_keys = trusted_cas;
            cfg.sftp_root = args.sftp_root.clone();
            cfg.moduli_file = Some(args.moduli.clone());
            for o in &args.options {
                use amiko::proto::config::AlgorithmKind;
                let (k, v) = o
                    .split_once('=')
                    .ok_or_else(|| format!("-o {o}: expected OPTION=VALUE"))?;
                let kind = match k.trim().to_ascii_lowercase().as_str() {
                    "setenv" => {
                        // sshd's SetEnv: NAME=VALUE pairs, space-separated, for every session.
                        for pair in v.split_whitespace() {
                            let (name, value) = pair
                                .split_once('=')
                                .filter(|(n, _)| !n.is_empty())
                                .ok_or_else(|| format!("-o {o}: SetEnv takes NAME=VALUE"))?;
                            cfg.set_env.push((name.to_string(), value.to_string()));
                        }
                        continue;
                    }
                    "acceptenv" => {
                        for pattern in v.split_whitespace() {
                            auth.accept_env
                                .push(accept_env_pattern(pattern).map_err(|e| format!("-o {o}: {e}"))?);
                        }
                        continue;
                    }
                    "ciphers" => AlgorithmKind::Cipher,
                    "macs" => AlgorithmKind::Mac,
                    "kexalgorithms" => AlgorithmKind::Kex,
                    "hostkeyalgorithms" => AlgorithmKind::HostKey,
                    _ => {
                        return Err(format!(
                            "-o {o}: only Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms, AcceptEnv and SetEnv"
                        ))
                    }
                };
                cfg.proto.algorithms.apply(kind, v.trim()).map_err(|e| e.to_string())?;
            }
            cfg.proto.set_compression(args.compression);
            let parts: Vec<&str> = args.max_startups.split(':').collect();
            cfg.max_startups = match parts.as_slice() {
                [s, r, f] => match (s.parse(), r.parse(), f.parse()) {
                    (Ok(s), Ok(r), Ok(f)) => (s, r, f),
                    _ => return Err(format!("--max-startups: bad value {}", args.max_startups)),
                },
                [n] => n
                    .parse()
                    .map(|n| (n, 100, n))
                    .map_err(|_| format!("--max-startups: bad value {n}"))?,
                _ => return Err(format!("--max-startups: bad value {}", args.max_startups)),
            };
            let server = Server::bind(&args.listen, cfg, Arc::new(auth))
                .await
                .map_err(|e| e.to_string())?;
            let addr = server.local_addr().map_err(|e| e.to_string())?;
            tracing::info!("listening on {addr}");
            println!("amiko serve: listening on {addr}");
            let stop = async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
                else {
                    return std::future::pending().await;
                };
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                tracing::info!("stopping: waiting for running sessions");
            };
            server.run_until(stop).await.map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("amiko serve: {e}");
                1
            }
        }
    })
}
