//! Paramiko's SSHClient.

use std::io::BufReader;
use std::path::PathBuf;
use std::time::Duration;

use amiko_proto::keys::PrivateKey;
use zeroize::Zeroizing;

use super::channel::{Channel, ChannelStderr, ChannelStdin, ChannelStdout, Reader};
use super::{block_on, Transport};
use crate::client::{home_dir, load_key_file, Client, ClientConfig};
use crate::error::{Error, Result};
use crate::host_keys::HostKeyPolicy;

/// Arguments of `SSHClient::connect`, named as Paramiko's keyword arguments.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Port (22 if 0).
    pub port: u16,
    /// User name (the local user if empty).
    pub username: String,
    /// Password.
    pub password: Option<String>,
    /// Key files to try.
    pub key_filename: Vec<PathBuf>,
    /// A loaded key.
    pub pkey: Option<PrivateKey>,
    /// Passphrase for encrypted key files.
    pub passphrase: Option<String>,
    /// Connect timeout.
    pub timeout: Option<Duration>,
    /// Also try ~/.ssh/id_ed25519, id_ecdsa and id_rsa (Paramiko's default is true; here opt-in).
    pub look_for_keys: bool,
}

/// Paramiko's high-level client: host keys, connect, exec_command, invoke_shell.
pub struct SSHClient {
    policy: HostKeyPolicy,
    known_hosts_files: Vec<PathBuf>,
    client: Option<Client>,
}

impl Default for SSHClient {
    fn default() -> Self {
        Self::new()
    }
}

impl SSHClient {
    /// A client with the Reject policy and no known hosts loaded.
    pub fn new() -> Self {
        SSHClient {
            policy: HostKeyPolicy::Reject,
            known_hosts_files: Vec::new(),
            client: None,
        }
    }

    /// Loads ~/.ssh/known_hosts (new keys are saved there under AutoAdd).
    pub fn load_system_host_keys(&mut self) {
        if let Some(h) = home_dir() {
            self.known_hosts_files.push(h.join(".ssh/known_hosts"));
        }
    }

    /// Loads a known_hosts file (new keys are saved to the first file loaded).
    pub fn load_host_keys(&mut self, path: impl Into<PathBuf>) {
        self.known_hosts_files.insert(0, path.into());
    }

    /// What to do with unknown hosts.
    pub fn set_missing_host_key_policy(&mut self, policy: HostKeyPolicy) {
        self.policy = policy;
    }

    /// Connects and authenticates. The password moves into the [`ClientConfig`], which wipes it when dropped; the
    /// passphrase is wiped once the keys are loaded. (`ConnectOptions` itself has no `Drop`, so that it can be
    /// built with `..Default::default()`: what a caller keeps of it is the caller's to wipe.)
    pub fn connect(&mut self, host: &str, mut opts: ConnectOptions) -> Result<()> {
        let passphrase = Zeroizing::new(opts.passphrase.take());
        let user = if opts.username.is_empty() {
            std::env::var("USER").unwrap_or_else(|_| "root".into())
        } else {
            opts.username.clone()
        };
        let mut cfg = ClientConfig::new(user);
        cfg.host_keys.policy = self.policy;
        cfg.host_keys.files = self.known_hosts_files.clone();
        cfg.password = opts.password.take();
        cfg.connect_timeout = opts.timeout;
        cfg.keys.extend(opts.pkey.clone());
        for f in &opts.key_filename {
            cfg.keys.push(load_key_file(f, passphrase.as_deref())?);
        }
        if opts.look_for_keys {
            if let Some(h) = home_dir() {
                for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                    if let Ok(k) = load_key_file(&h.join(".ssh").join(name), passphrase.as_deref()) {
                        cfg.keys.push(k);
                    }
                }
            }
        }
        let port = if opts.port == 0 { 22 } else { opts.port };
        self.client = Some(block_on(Client::connect(host, port, cfg))?);
        Ok(())
    }

    fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .ok_or_else(|| Error::Config("SSH session not active".into()))
    }

    /// Runs a command on a new channel; returns its stdin, stdout and stderr.
    pub fn exec_command(&self, command: &str) -> Result<(ChannelStdin, ChannelStdout, ChannelStderr)> {
        let client = self.client()?;
        let ch = block_on(async {
            let ch = client.open_session().await?;
            ch.exec(command).await?;
            Ok::<_, Error>(ch)
        })?;
        let ch = Channel::new(ch);
        Ok((
            ChannelStdin(ch.clone()),
            ChannelStdout(BufReader::new(Reader::new(ch.clone(), false))),
            ChannelStderr(BufReader::new(Reader::new(ch, true))),
        ))
    }

    /// Opens a channel with a pty (vt100, 80×24) and a shell.
    pub fn invoke_shell(&self) -> Result<Channel> {
        let client = self.client()?;
        let ch = Channel::new(block_on(client.open_session())?);
        ch.get_pty("vt100", 80, 24)?;
        ch.invoke_shell()?;
        Ok(ch)
    }

    /// Opens an SFTP session (Paramiko's `open_sftp`).
    pub fn open_sftp(&self) -> Result<super::SFTPClient> {
        let client = self.client()?;
        Ok(super::SFTPClient::new(block_on(crate::sftp::Sftp::new(client))?))
    }

    /// The underlying transport.
    pub fn get_transport(&self) -> Option<Transport> {
        self.client.clone().map(Transport::from_client)
    }

    /// Closes the connection: DISCONNECT is sent before this returns (waiting at most a second for the socket).
    pub fn close(&mut self) {
        if let Some(c) = self.client.take() {
            super::close(&c);
        }
    }
}
