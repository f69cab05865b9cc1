//! Paramiko's Transport: the low-level connection.

use super::block_on;
use super::channel::Channel;
use crate::client::{Client, ClientConfig};
use crate::error::{Error, Result};
use crate::host_keys::HostKeyPolicy;

/// A connection set up step by step, as Paramiko's `Transport((host, port))` then `connect(username, password)`.
pub struct Transport {
    host: String,
    port: u16,
    client: Option<Client>,
    policy: HostKeyPolicy,
}

impl Transport {
    /// A transport to `host:port` (nothing happens until `connect`). Like Paramiko's `Transport.connect` without a
    /// `hostkey` argument, it does not check the host key unless a policy is set with `set_host_key_policy`.
    pub fn new(host: &str, port: u16) -> Self {
        Transport {
            host: host.into(),
            port,
            client: None,
            policy: HostKeyPolicy::DangerouslyAcceptAny,
        }
    }

    pub(crate) fn from_client(c: Client) -> Self {
        Transport {
            host: String::new(),
            port: 0,
            client: Some(c),
            policy: HostKeyPolicy::Reject,
        }
    }

    /// Host-key checking for `connect` (against ~/.ssh/known_hosts).
    pub fn set_host_key_policy(&mut self, policy: HostKeyPolicy) {
        self.policy = policy;
    }

    /// Connects and authenticates with a password.
    pub fn connect(&mut self, username: &str, password: &str) -> Result<()> {
        let mut cfg = ClientConfig::new(username);
        cfg.password = Some(password.into());
        cfg.host_keys.policy = self.policy;
        self.client = Some(block_on(Client::connect(&self.host, self.port, cfg))?);
        Ok(())
    }

    /// Connects with a full configuration.
    pub fn connect_with(&mut self, cfg: ClientConfig) -> Result<()> {
        self.client = Some(block_on(Client::connect(&self.host, self.port, cfg))?);
        Ok(())
    }

    /// Whether the connection is up.
    pub fn is_active(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.is_active())
    }

    /// Whether authentication succeeded (a connected transport is always authenticated here).
    pub fn is_authenticated(&self) -> bool {
        self.is_active()
    }

    /// Opens a session channel.
    pub fn open_session(&self) -> Result<Channel> {
        let c = self
            .client
            .as_ref()
            .ok_or_else(|| Error::Config("transport is not connected".into()))?;
        Ok(Channel::new(block_on(c.open_session())?))
    }

    /// The async client underneath.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// Closes the connection: DISCONNECT is sent before this returns (waiting at most a second for the socket).
    pub fn close(&mut self) {
        if let Some(c) = self.client.take() {
            super::close(&c);
        }
    }
}
