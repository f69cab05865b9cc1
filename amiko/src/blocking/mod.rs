//! A blocking API with Paramiko's names, over a shared tokio runtime (like `reqwest::blocking`).
//!
//! ```no_run
//! use amiko::blocking::{SSHClient, ConnectOptions};
//! use amiko::HostKeyPolicy;
//! use std::io::Read;
//! let mut client = SSHClient::new();
//! client.load_system_host_keys();
//! client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
//! client.connect("example.com", ConnectOptions { username: "me".into(), password: Some("pw".into()), ..Default::default() })?;
//! let (_stdin, mut stdout, _stderr) = client.exec_command("uname -n")?;
//! let mut out = String::new();
//! stdout.read_to_string(&mut out)?;
//! assert_eq!(stdout.channel().recv_exit_status()?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod channel;
mod client;
mod sftp;
mod transport;

use std::future::Future;
use std::sync::OnceLock;

pub use channel::{Channel, ChannelStderr, ChannelStdin, ChannelStdout};
pub use client::{ConnectOptions, SSHClient};
pub use sftp::{SFTPClient, SFTPFile};
pub use transport::Transport;

/// Runs a future to completion on the shared runtime (one worker thread, started on first use). This is what the
/// blocking API and the Python module run on.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("amiko-blocking")
            .enable_all()
            .build()
            .expect("the blocking API's runtime could not start (no threads or timers on this system?)")
    });
    rt.block_on(f)
}
