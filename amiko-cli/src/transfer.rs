//! `amiko get` and `amiko put`: SFTP transfers with ssh's flags, a progress bar on a TTY, quiet otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use amiko::sftp::{Sftp, TransferOptions};

use crate::exec::{connect, runtime, SSH_ERROR};
use crate::opts::SshArgs;

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Copy directories recursively.
    #[arg(short = 'r')]
    pub recursive: bool,
    /// Continue a partial transfer after checking that what is there matches.
    #[arg(long)]
    pub resume: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
}

/// Splits `[user@]host:path`.
fn split_remote(s: &str) -> Option<(String, String)> {
    let (host, path) = s.split_once(':')?;
    (!host.is_empty() && !host.contains('/'))
        .then(|| (host.to_string(), if path.is_empty() { ".".into() } else { path.into() }))
}

fn progress(label: &str) -> Option<amiko::sftp::Progress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    Some(Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish();
        }
    }))
}

pub fn run(args: &TransferArgs, put: bool, from: &str, to: &str) -> i32 {
    let (dest, remote, local) = match (put, split_remote(if put { to } else { from })) {
        (_, None) => {
            eprintln!("amiko: expected [user@]host:path for the remote side");
            return SSH_ERROR;
        }
        (true, Some((h, p))) => (h, p, PathBuf::from(from)),
        (false, Some((h, p))) => (h, p, PathBuf::from(to)),
    };
    runtime().block_on(async {
        let client = match connect(&args.ssh, &dest).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("amiko: {e}");
                return SSH_ERROR;
            }
        };
        let r = async {
            let sftp = Sftp::new(&client).await?;
            let label = if put {
                local.display().to_string()
            } else {
                remote.clone()
            };
            let opts = TransferOptions {
                resume: args.resume,
                in_flight: args.in_flight,
                progress: progress(&label),
                ..Default::default()
            };
            match (put, args.recursive) {
                (true, false) => {
                    // `put file dir/` puts into the directory, as scp and sftp do.
                    let target = match sftp.stat(&remote).await {
                        Ok(a) if a.is_dir() => format!(
                            "{}/{}",
                            remote.trim_end_matches('/'),
                            local
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        ),
                        _ => remote.clone(),
                    };
                    sftp.put(&local, &target, &opts).await
                }
                (true, true) => sftp.put_dir(&local, &remote, &opts).await,
                (false, false) => {
                    let target = if local.is_dir() {
                        local.join(remote.rsplit('/').next().unwrap_or("download"))
                    } else {
                        local.clone()
                    };
                    sftp.get(&remote, &target, &opts).await
                }
                (false, true) => sftp.get_dir(&remote, &local, &opts).await,
            }
        }
        .await;
        match r {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("amiko: {e}");
                1
            }
        }
    })
}
