//! Server side of user authentication: the engine decodes and verifies, the application decides.

use crate::connection::{AuthMethod, Connection, Event};
use crate::error::{DisconnectReason, Error, Result};
use crate::keys::PublicKey;
use crate::wire::{msg, Reader, Writer};

struct Pending {
    user: String,
    method: &'static str,
    key: Option<(String, Vec<u8>)>,
}

/// Where the server's authentication stands.
#[derive(Default)]
pub(crate) struct ServerAuth {
    service_accepted: bool,
    user: Option<String>,
    failures: u32,
    /// USERAUTH_REQUESTs received: only the very first may be a free "none" probe (as in OpenSSH).
    attempts: u32,
    /// The user name of the first request: OpenSSH disconnects when a client switches user between attempts, so
    /// that per-user limits and lockouts cannot be sidestepped by rotating names on one connection.
    first_user: Option<String>,
    pending: Option<Pending>,
}

impl ServerAuth {
    /// The authenticated user.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

impl Connection {
    /// Server: the user authenticated by this connection, once done.
    pub fn authenticated_user(&self) -> Option<&str> {
        self.server_auth.user()
    }

    pub(crate) fn server_auth_message(&mut self, payload: &[u8]) -> Result<()> {
        let mut r = Reader::new(&payload[1..]);
        match payload[0] {
            msg::SERVICE_REQUEST => {
                let service = r.utf8()?;
                if service != "ssh-userauth" || self.server_auth.service_accepted {
                    self.disconnect(DisconnectReason::ServiceNotAvailable, "service not available");
                    return Ok(());
                }
                self.server_auth.service_accepted = true;
                let mut p = Vec::new();
                Writer::new(&mut p).u8(msg::SERVICE_ACCEPT).string(service);
                self.send(&p)
            }
            msg::EXT_INFO => Ok(()),
            msg::USERAUTH_REQUEST => {
                if !self.server_auth.service_accepted {
                    return Err(Error::protocol("USERAUTH_REQUEST before the ssh-userauth service"));
                }
                if self.server_auth.user.is_some() {
                    return Ok(()); // RFC 4252 §5.1: requests after success are ignored
                }
                self.on_userauth_request(&mut r)
            }
            msg::USERAUTH_INFO_RESPONSE => {
                let pending = self.server_auth.pending.as_ref();
                if pending.map(|p| p.method) != Some("keyboard-interactive") {
                    return Err(Error::protocol("INFO_RESPONSE without a keyboard-interactive request"));
                }
                let n = r.u32()?;
                if n > super::MAX_PROMPTS {
                    return Err(Error::protocol(format!("{n} keyboard-interactive responses")));
                }
                let mut answers = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    answers.push(r.utf8()?.to_string());
                }
                let user = pending.map(|p| p.user.clone()).unwrap_or_default();
                let method = AuthMethod::KeyboardInteractive(Some(answers));
                self.events.push_back(Event::AuthRequest { user, method });
                Ok(())
            }
            kind => Err(Error::protocol(format!(
                "unexpected authentication message {kind} from client"
            ))),
        }
    }

    fn on_userauth_request(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let user = r.utf8()?.to_string();
        let service = r.utf8()?;
        if service != "ssh-connection" {
            self.disconnect(DisconnectReason::ServiceNotAvailable, "only ssh-connection is served");
            return Ok(());
        }
        match &self.server_auth.first_user {
            Some(first) if *first != user => {
                return Err(Error::protocol(format!(
                    "change of user name between authentication attempts ({first} -> {user})"
                )));
            }
            Some(_) => {}
            None => self.server_auth.first_user = Some(user.clone()),
        }
        self.server_auth.attempts = self.server_auth.attempts.saturating_add(1);
        let method_name = r.utf8()?;
        let (method, tag, key) = match method_name {
            "none" => (AuthMethod::None, "none", None),
            "password" => {
                if r.bool()? {
                    return self.auth_reject(false); // password change requests are not supported
                }
                (AuthMethod::Password(r.utf8()?.to_string()), "password", None)
            }
            "publickey" => {
                let signed = r.bool()?;
                let alg = r.utf8()?.to_string();
                let blob = r.string()?.to_vec();
                // ssh-rsa (SHA-1) signatures are opt-in, as for host keys: only with "ssh-rsa" in HostKeyAlgorithms.
                if alg == "ssh-rsa" && !self.cfg.algorithms.host_key.iter().any(|a| a == "ssh-rsa") {
                    return self.auth_reject(false);
                }
                let Ok(key) = PublicKey::from_blob(&blob) else {
                    return self.auth_reject(false);
                };
                if signed {
                    let sig = r.string()?;
                    let sid = self.session_id().unwrap_or_default().to_vec();
                    let data = super::publickey_signed_data(&sid, &user, &alg, &blob);
                    // A certificate algorithm signs as its plain one; the blob must be a certificate exactly when
                    // the algorithm names one.
                    let alg_fits = key.certificate().is_some() == crate::cert::is_cert_algorithm(&alg);
                    if !alg_fits || key.verify(&data, sig).ok().as_deref() != Some(crate::cert::plain_algorithm(&alg)) {
                        self.server_auth.pending = Some(Pending {
                            user,
                            method: "publickey",
                            key: None,
                        });
                        return self.auth_reject(false);
                    }
                    (AuthMethod::PublicKey(key), "publickey", None)
                } else {
                    (AuthMethod::PublicKeyQuery(key), "publickey", Some((alg, blob)))
                }
            }
            "keyboard-interactive" => (AuthMethod::KeyboardInteractive(None), "keyboard-interactive", None),
            _ => {
                // A method we do not know still costs an attempt, or a client could probe without limit.
                self.server_auth.pending = Some(Pending {
                    user,
                    method: "unknown",
                    key: None,
                });
                return self.auth_reject(false);
            }
        };
        self.server_auth.pending = Some(Pending {
            user: user.clone(),
            method: tag,
            key,
        });
        self.events.push_back(Event::AuthRequest { user, method });
        Ok(())
    }

    /// Server: accepts the pending authentication request.
    pub fn auth_accept(&mut self) -> Result<()> {
        let p = self
            .server_auth
            .pending
            .take()
            .ok_or_else(|| Error::Usage("no authentication request".into()))?;
        self.send(&[msg::USERAUTH_SUCCESS])?;
        self.server_auth.user = Some(p.user.clone());
        self.events.push_back(Event::Authenticated { user: p.user });
        Ok(())
    }

    /// Server: refuses the pending request. `partial` means it succeeded but more methods are needed. After
    /// `max_auth_attempts` failures the connection is closed, as OpenSSH's MaxAuthTries does. Every refused request
    /// counts except a first "none", which clients send to learn the methods (OpenSSH's rule too).
    pub fn auth_reject(&mut self, partial: bool) -> Result<()> {
        let p = self.server_auth.pending.take();
        let free_probe = self.server_auth.attempts <= 1;
        if !partial && p.as_ref().is_some_and(|p| p.method != "none" || !free_probe) {
            self.server_auth.failures += 1;
        }
        let methods: Vec<String> = self.cfg.auth_methods.clone();
        let mut m = Vec::new();
        Writer::new(&mut m)
            .u8(msg::USERAUTH_FAILURE)
            .name_list(&methods)
            .bool(partial);
        self.send(&m)?;
        if self.server_auth.failures >= self.cfg.max_auth_attempts {
            self.disconnect(
                DisconnectReason::NoMoreAuthMethodsAvailable,
                "too many authentication failures",
            );
        }
        Ok(())
    }

    /// Server: the queried public key would be accepted (USERAUTH_PK_OK); the client will sign next.
    pub fn auth_pk_ok(&mut self) -> Result<()> {
        let p = self
            .server_auth
            .pending
            .take()
            .ok_or_else(|| Error::Usage("no authentication request".into()))?;
        let (alg, blob) = p
            .key
            .ok_or_else(|| Error::Usage("pending request is not a key query".into()))?;
        let mut m = Vec::new();
        Writer::new(&mut m).u8(msg::USERAUTH_PK_OK).string(alg).string(blob);
        self.send(&m)
    }

    /// Server: sends keyboard-interactive prompts (each with whether to echo the answer).
    pub fn auth_info_request(&mut self, name: &str, instruction: &str, prompts: &[(&str, bool)]) -> Result<()> {
        if self.server_auth.pending.as_ref().map(|p| p.method) != Some("keyboard-interactive") {
            return Err(Error::Usage("no keyboard-interactive request".into()));
        }
        let mut m = Vec::new();
        let mut w = Writer::new(&mut m);
        w.u8(msg::USERAUTH_INFO_REQUEST)
            .string(name)
            .string(instruction)
            .string("")
            .u32(prompts.len() as u32);
        for (p, echo) in prompts {
            w.string(p).bool(*echo);
        }
        self.send(&m)
    }

    /// Server: sends a banner to show before authentication completes.
    pub fn auth_banner(&mut self, text: &str) -> Result<()> {
        let mut m = Vec::new();
        Writer::new(&mut m).u8(msg::USERAUTH_BANNER).string(text).string("");
        self.send(&m)
    }
}
