//! amiko: SSH client and server on tokio, with a Paramiko-shaped blocking API in [`blocking`].
//!
//! ```no_run
//! # async fn f() -> amiko::Result<()> {
//! let mut cfg = amiko::ClientConfig::new("me");
//! cfg.password = Some("secret".into());
//! let client = amiko::Client::connect("example.com", 22, cfg).await?;
//! let out = client.exec("uname -n").await?;
//! assert_eq!(out.exit_status, Some(0));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod agent;
mod agent_forward;
pub mod blocking;
mod channel;
mod client;
mod driver;
mod error;
pub mod fanout;
mod forward;
mod handshake;
mod host_keys;
mod low_water;
pub mod server;
pub mod set_aside;
pub mod sftp;

pub use amiko_proto as proto;
pub use amiko_proto::connection::PtyRequest;
pub use amiko_proto::keys::{PrivateKey, PublicKey};
pub use amiko_proto::transport::negotiate::Negotiated;
pub use channel::{Channel, SharedChannel};
pub use client::{home_dir, load_key_file, Client, ClientConfig, KbdInteractive, Output};
pub use error::{Error, Result};
pub use forward::{ForwardedConnection, RemoteForward};
pub use handshake::{AuthOutcome, Unauthenticated};
pub use host_keys::{append_known_host, HostKeyCheck, HostKeyPolicy};
pub use set_aside::SetAside;
