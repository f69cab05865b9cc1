//! A connection taken one step at a time, as Paramiko's `Transport` does: key exchange, the host-key decision,
//! then authentication attempts chosen by the caller, then a [`Client`].

use std::sync::Arc;

use amiko_proto::config::Config;
use amiko_proto::connection::{Connection, Event};
use amiko_proto::keys::{PrivateKey, PublicKey};

use crate::client::{Client, KbdInteractive};
use crate::driver::{self, Owner, Shared};
use crate::error::{Error, Result};

/// How one authentication attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The server accepted: the connection is authenticated.
    Success,
    /// The server refused; `allowed` lists the methods that may continue, `partial` is true when this method
    /// succeeded but another one is still required (RFC 4252 §5.1).
    Failure {
        /// Methods that can continue.
        allowed: Vec<String>,
        /// Partial success.
        partial: bool,
    },
}

/// A connection whose key exchange has reached the server's host key, not yet authenticated.
///
/// ```no_run
/// # async fn f() -> amiko::Result<()> {
/// use amiko::proto::config::{Config, Role};
/// use amiko::{AuthOutcome, Unauthenticated};
/// let tcp = tokio::net::TcpStream::connect("example.com:22").await.unwrap();
/// let mut u = Unauthenticated::start(tcp, Config::new(Role::Client)).await?;
/// println!("host key {}", u.host_key().fingerprint());
/// u.accept_host_key()?;
/// if u.auth_password("me", "secret").await? == AuthOutcome::Success {
///     let client = u.into_client()?;
///     client.exec("true").await?;
/// }
/// # Ok(()) }
/// ```
pub struct Unauthenticated {
    owner: Arc<Owner>,
    host_key: PublicKey,
    host_key_decided: bool,
    service_ready: bool,
    authenticated: bool,
    banner: Option<String>,
}

impl Unauthenticated {
    /// Runs the version exchange and the key exchange over `stream` until the server's host key is known.
    pub async fn start<S>(stream: S, proto: Config) -> Result<Self>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let shared = Shared::new(Connection::new(proto, Vec::new()));
        driver::spawn(stream, shared.clone());
        let owner = Arc::new(Owner { shared: shared.clone() });
        let host_key = shared
            .wait(|g| {
                let i = g.events.iter().position(|e| matches!(e, Event::HostKey(_)))?;
                match g.events.remove(i) {
                    Some(Event::HostKey(k)) => Some(Ok(k)),
                    _ => None,
                }
            })
            .await?;
        Ok(Unauthenticated {
            owner,
            host_key,
            host_key_decided: false,
            service_ready: false,
            authenticated: false,
            banner: None,
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The server's host key (its signature over the exchange hash has been verified).
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// Trusts the host key: the key exchange finishes and authentication can start.
    pub fn accept_host_key(&mut self) -> Result<()> {
        if !self.host_key_decided {
            self.shared().lock().conn.accept_host_key().map_err(Error::Proto)?;
            self.shared().kick();
            self.host_key_decided = true;
        }
        Ok(())
    }

    /// Refuses the host key: the server gets DISCONNECT (host key not verifiable) and the connection ends.
    pub fn reject_host_key(self, why: &str) {
        self.shared().lock().conn.reject_host_key(why);
        self.shared().kick();
    }

    /// The banner the server sent before authentication, if any so far.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// The server's identification line (`SSH-2.0-OpenSSH_9.2p1 ...`).
    pub fn remote_version(&self) -> Option<String> {
        self.shared().lock().conn.peer_version().map(str::to_string)
    }

    /// Whether an attempt has succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the connection is still up.
    pub fn is_active(&self) -> bool {
        !self.shared().lock().conn.is_closed()
    }

    /// Asks with method "none", which tells which methods the server allows (or lets the user in).
    pub async fn auth_none(&mut self, user: &str) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_none(user), None, None, None).await
    }

    /// Tries a password.
    pub async fn auth_password(&mut self, user: &str, password: &str) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_password(user, password), None, None, None)
            .await
    }

    /// Tries a private key (query first, then the signature; rsa-sha2-256/512 from server-sig-algs).
    pub async fn auth_publickey(&mut self, user: &str, key: &PrivateKey) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_publickey(user, key.clone()), None, None, None)
            .await
    }

    /// Tries a key held by an ssh-agent: offers it, and if the server would take it, has the agent sign (with
    /// rsa-sha2-512/256 for RSA keys, as server-sig-algs allows). An agent that fails to sign ends the attempt
    /// with its error; the connection stays usable for other attempts.
    pub async fn auth_publickey_agent(
        &mut self,
        user: &str,
        agent: &mut crate::agent::AgentClient,
        key: &PublicKey,
    ) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_publickey_offer(user, key), None, None, Some(agent))
            .await
    }

    /// Runs keyboard-interactive: each round of prompts goes to `answer`.
    pub async fn auth_keyboard_interactive(&mut self, user: &str, answer: &KbdInteractive) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_keyboard_interactive(user), Some(answer), None, None)
            .await
    }

    /// Keyboard-interactive answering every prompt with `password` (Paramiko's fallback for password logins).
    pub async fn auth_keyboard_interactive_password(&mut self, user: &str, password: &str) -> Result<AuthOutcome> {
        self.attempt(|c| c.auth_keyboard_interactive(user), None, Some(password), None)
            .await
    }

    /// Sends one request, then follows events until the server decides.
    async fn attempt(
        &mut self,
        send: impl FnOnce(&mut Connection) -> amiko_proto::Result<()>,
        answer: Option<&KbdInteractive>,
        password: Option<&str>,
        mut agent: Option<&mut crate::agent::AgentClient>,
    ) -> Result<AuthOutcome> {
        if self.authenticated {
            return Ok(AuthOutcome::Success);
        }
        self.accept_host_key()?;
        while !self.service_ready {
            match self.next_event().await? {
                Event::AuthReady => self.service_ready = true,
                Event::Banner(b) => self.banner.get_or_insert_with(String::new).push_str(&b),
                _ => {}
            }
        }
        send(&mut self.shared().lock().conn).map_err(Error::Proto)?;
        self.shared().kick();
        loop {
            match self.next_event().await? {
                Event::AuthSuccess => {
                    self.authenticated = true;
                    return Ok(AuthOutcome::Success);
                }
                Event::AuthFailure { methods, partial } => {
                    return Ok(AuthOutcome::Failure {
                        allowed: methods,
                        partial,
                    })
                }
                Event::Banner(b) => self.banner.get_or_insert_with(String::new).push_str(&b),
                Event::AuthSignatureRequest { key, algorithm, data } => {
                    let signed = match agent.as_deref_mut() {
                        Some(a) => a.sign(&key, &algorithm, &data).await,
                        None => Err(Error::Agent("no agent to sign with".into())),
                    };
                    let mut g = self.shared().lock();
                    let sent = match signed {
                        Ok(sig) => g
                            .conn
                            .auth_publickey_signature(&sig)
                            .map_err(|e| Error::Agent(format!("unusable signature: {e}"))),
                        Err(e) => Err(e),
                    };
                    if sent.is_err() {
                        g.conn.auth_publickey_decline();
                    }
                    drop(g);
                    self.shared().kick();
                    sent?;
                }
                Event::AuthInfoRequest {
                    name,
                    instruction,
                    prompts,
                } => {
                    // Wiped once encoded (the engine wipes its encoding in turn).
                    let answers = zeroize::Zeroizing::new(match answer {
                        Some(f) => f(&name, &instruction, &prompts),
                        None => prompts
                            .iter()
                            .map(|_| password.unwrap_or_default().to_string())
                            .collect(),
                    });
                    self.shared()
                        .lock()
                        .conn
                        .auth_info_response(&answers)
                        .map_err(Error::Proto)?;
                    self.shared().kick();
                }
                _ => {}
            }
        }
    }

    async fn next_event(&self) -> Result<Event> {
        self.shared()
            .wait(|g| {
                let i = g.events.iter().position(|e| {
                    matches!(
                        e,
                        Event::AuthReady
                            | Event::AuthSuccess
                            | Event::AuthFailure { .. }
                            | Event::AuthInfoRequest { .. }
                            | Event::AuthSignatureRequest { .. }
                            | Event::Banner(_)
                    )
                })?;
                g.events.remove(i).map(Ok)
            })
            .await
    }

    /// The authenticated client. Fails if no attempt has succeeded yet.
    pub fn into_client(self) -> Result<Client> {
        if !self.authenticated {
            return Err(Error::Config("not authenticated yet".into()));
        }
        Ok(Client::from_parts(self.owner, self.banner))
    }

    /// Ends the connection.
    pub fn disconnect(&self) {
        self.shared()
            .lock()
            .conn
            .disconnect(amiko_proto::DisconnectReason::ByApplication, "bye");
        self.shared().kick();
    }
}
