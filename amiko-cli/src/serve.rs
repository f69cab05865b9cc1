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
    /// authorized_keys file for public-key logins.
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
    /// Let users forward TCP through the server (ssh -L, -J, -D): direct-tcpip channels. Off by default.
    #[arg(long)]
    pub allow_tcp_forwarding: bool,
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
                ..Default::default()
            };
            if let Some(f) = &args.authorized_keys {
                auth.authorized_keys = read_authorized_keys(f).map_err(|e| e.to_string())?;
            }
            if let Some(name) = &args.password_env {
                auth.password = Some(std::env::var(name).map_err(|_| format!("--password-env: ${name} is not set"))?);
            }
            if auth.password.is_none() && auth.authorized_keys.is_empty() {
                return Err("no way to log in: give --authorized-keys and/or --password-env".into());
            }
            let mut cfg = ServerConfig::new(vec![key]);
            cfg.sftp_root = args.sftp_root.clone();
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
