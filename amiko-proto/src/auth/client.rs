//! Client side of user authentication.

use zeroize::Zeroizing;

use crate::config::Role;
use crate::connection::{Connection, Event};
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, PublicKey};
use crate::wire::{msg, Reader, Writer};

#[derive(Default, PartialEq, Eq, Clone, Copy, Debug)]
enum State {
    #[default]
    WaitService,
    Ready,
    Done,
}

/// What the client is waiting for.
#[derive(Default)]
pub(crate) struct ClientAuth {
    state: State,
    in_flight: Option<&'static str>,
    pending_key: Option<(String, PrivateKey, String)>,
    /// A key offered with `auth_publickey_offer`: (user, key, algorithm). Its private half is elsewhere.
    pending_external: Option<(String, PublicKey, String)>,
    /// The server accepted `pending_external`; the application is asked for the signature.
    awaiting_signature: Option<(String, PublicKey, String)>,
}

impl ClientAuth {
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

impl Connection {
    fn auth_begin(&mut self, method: &'static str) -> Result<()> {
        if self.cfg.role != Role::Client {
            return Err(Error::Usage("authentication requests are for clients".into()));
        }
        match self.client_auth.state {
            State::WaitService => Err(Error::Usage(
                "authentication is not ready yet (wait for AuthReady)".into(),
            )),
            State::Done => Err(Error::Usage("already authenticated".into())),
            State::Ready if self.client_auth.in_flight.is_some() => {
                Err(Error::Usage("an authentication attempt is already under way".into()))
            }
            State::Ready => {
                self.client_auth.in_flight = Some(method);
                Ok(())
            }
        }
    }

    fn auth_request_header(user: &str, method: &str) -> Vec<u8> {
        let mut p = Vec::with_capacity(128);
        Writer::new(&mut p)
            .u8(msg::USERAUTH_REQUEST)
            .string(user)
            .string("ssh-connection")
            .string(method);
        p
    }

    /// Tries the "none" method, which mostly serves to learn the allowed methods.
    pub fn auth_none(&mut self, user: &str) -> Result<()> {
        self.auth_begin("none")?;
        let p = Self::auth_request_header(user, "none");
        self.send(&p)
    }

    /// Tries a password (RFC 4252 §8). The encoded request is wiped once sealed (or held back during a key
    /// exchange); `password` itself is the caller's to wipe.
    pub fn auth_password(&mut self, user: &str, password: &str) -> Result<()> {
        self.auth_begin("password")?;
        let mut p = Zeroizing::new(Self::auth_request_header(user, "password"));
        p.reserve(5 + password.len()); // before the password goes in: growing later would leave a copy behind
        Writer::new(&mut p).bool(false).string(password);
        self.send(&p)
    }

    /// The best of a key's signature algorithms (best first) that the server lists in server-sig-algs, else the
    /// key's first.
    fn pick_signature_algorithm(&self, algs: &[&str]) -> Result<String> {
        match self.server_sig_algs() {
            // server-sig-algs names plain algorithms; a certificate algorithm is allowed when its plain one is.
            Some(server) => algs
                .iter()
                .find(|a| server.iter().any(|s| s == crate::cert::plain_algorithm(a)))
                .or(algs.first()),
            None => algs.first(),
        }
        .map(|a| a.to_string())
        .ok_or_else(|| Error::Key("key has no signature algorithm".into()))
    }

    /// Tries a public key: first asks whether the server would accept it, then signs (RFC 4252 §7). For RSA the
    /// signature algorithm is the best of rsa-sha2-512/256 that the server lists in server-sig-algs.
    pub fn auth_publickey(&mut self, user: &str, key: PrivateKey) -> Result<()> {
        let alg = self.pick_signature_algorithm(&key.signature_algorithms())?;
        self.auth_begin("publickey")?;
        let mut p = Self::auth_request_header(user, "publickey");
        Writer::new(&mut p)
            .bool(false)
            .string(&alg)
            .string(key.public_key().blob());
        self.client_auth.pending_key = Some((user.to_string(), key, alg));
        self.send(&p)
    }

    /// Offers a public key whose private half the application holds elsewhere (an ssh-agent): if the server would
    /// accept it, `Event::AuthSignatureRequest` asks for the signature, to be given to
    /// [`Connection::auth_publickey_signature`]. The algorithm is chosen as for [`Connection::auth_publickey`].
    pub fn auth_publickey_offer(&mut self, user: &str, key: &PublicKey) -> Result<()> {
        let alg = self.pick_signature_algorithm(&key.signature_algorithms())?;
        self.auth_begin("publickey")?;
        let mut p = Self::auth_request_header(user, "publickey");
        Writer::new(&mut p).bool(false).string(&alg).string(key.blob());
        self.client_auth.pending_external = Some((user.to_string(), key.clone(), alg));
        self.send(&p)
    }

    /// Sends the signature asked for by `Event::AuthSignatureRequest` (an SSH signature blob: `string algorithm,
    /// string signature`, as an ssh-agent returns it). It must verify with the offered key and use the algorithm
    /// asked for: an agent that signs with something else (ssh-rsa with SHA-1, say) is caught here.
    pub fn auth_publickey_signature(&mut self, signature: &[u8]) -> Result<()> {
        let (user, key, alg) = self
            .client_auth
            .awaiting_signature
            .take()
            .ok_or_else(|| Error::Usage("no signature was asked for".into()))?;
        let sid = self
            .session_id()
            .ok_or_else(|| Error::protocol("no session id"))?
            .to_vec();
        let data = super::publickey_signed_data(&sid, &user, &alg, key.blob());
        let checked = key.verify(&data, signature).and_then(|used| match used == alg {
            true => Ok(()),
            false => Err(Error::Key(format!("signature made with {used}, not {alg} as asked"))),
        });
        if let Err(e) = checked {
            // The attempt is dropped; another may start (RFC 4252 lets a new request replace one under way).
            self.client_auth.in_flight = None;
            return Err(e);
        }
        let mut p = Self::auth_request_header(&user, "publickey");
        Writer::new(&mut p)
            .bool(true)
            .string(&alg)
            .string(key.blob())
            .string(signature);
        self.send(&p)
    }

    /// Gives up the attempt of `Event::AuthSignatureRequest` (the agent could not sign): another attempt may start.
    pub fn auth_publickey_decline(&mut self) {
        if self.client_auth.awaiting_signature.take().is_some() {
            self.client_auth.in_flight = None;
        }
    }

    /// Starts keyboard-interactive (RFC 4256); prompts arrive as `Event::AuthInfoRequest`.
    pub fn auth_keyboard_interactive(&mut self, user: &str) -> Result<()> {
        self.auth_begin("keyboard-interactive")?;
        let mut p = Self::auth_request_header(user, "keyboard-interactive");
        Writer::new(&mut p).string("").string("");
        self.send(&p)
    }

    /// Answers the prompts of `Event::AuthInfoRequest`, in order. The encoded response is wiped as for
    /// [`Connection::auth_password`].
    pub fn auth_info_response(&mut self, responses: &[String]) -> Result<()> {
        if self.client_auth.in_flight != Some("keyboard-interactive") {
            return Err(Error::Usage("no keyboard-interactive prompt to answer".into()));
        }
        let len = responses.iter().map(|r| r.len() + 4).sum::<usize>() + 5;
        let mut p = Zeroizing::new(Vec::with_capacity(len));
        let mut w = Writer::new(&mut p);
        w.u8(msg::USERAUTH_INFO_RESPONSE).u32(responses.len() as u32);
        for r in responses {
            w.string(r);
        }
        self.send(&p)
    }

    pub(crate) fn handle_auth_message(&mut self, payload: &[u8]) -> Result<()> {
        match self.cfg.role {
            Role::Client => self.client_auth_message(payload),
            Role::Server => self.server_auth_message(payload),
        }
    }

    fn client_auth_message(&mut self, payload: &[u8]) -> Result<()> {
        let mut r = Reader::new(&payload[1..]);
        match payload[0] {
            msg::SERVICE_ACCEPT if self.client_auth.state == State::WaitService => {
                self.client_auth.state = State::Ready;
                self.events.push_back(Event::AuthReady);
                Ok(())
            }
            msg::EXT_INFO => self.on_ext_info(payload),
            msg::USERAUTH_BANNER => {
                let text = String::from_utf8_lossy(r.string()?).into_owned();
                self.events.push_back(Event::Banner(text));
                Ok(())
            }
            msg::USERAUTH_SUCCESS if self.client_auth.in_flight.is_some() => {
                self.client_auth.state = State::Done;
                self.client_auth.in_flight = None;
                self.client_auth.pending_key = None;
                self.client_auth.pending_external = None;
                self.client_auth.awaiting_signature = None;
                self.start_delayed_compression();
                self.events.push_back(Event::AuthSuccess);
                Ok(())
            }
            msg::USERAUTH_FAILURE if self.client_auth.in_flight.is_some() => {
                let methods = r
                    .name_list()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                let partial = r.bool()?;
                self.client_auth.in_flight = None;
                self.client_auth.pending_key = None;
                self.client_auth.pending_external = None;
                self.client_auth.awaiting_signature = None;
                self.events.push_back(Event::AuthFailure { methods, partial });
                Ok(())
            }
            60 => match self.client_auth.in_flight {
                Some("publickey") if self.client_auth.pending_external.is_some() => self.ask_signature(),
                Some("publickey") => self.sign_pending_key(),
                Some("keyboard-interactive") => {
                    let name = r.utf8()?.to_string();
                    let instruction = r.utf8()?.to_string();
                    r.string()?; // language tag
                    let n = r.u32()?;
                    if n > super::MAX_PROMPTS {
                        return Err(Error::protocol(format!("{n} keyboard-interactive prompts")));
                    }
                    let mut prompts = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        prompts.push((r.utf8()?.to_string(), r.bool()?));
                    }
                    self.events.push_back(Event::AuthInfoRequest {
                        name,
                        instruction,
                        prompts,
                    });
                    Ok(())
                }
                Some("password") => {
                    // PASSWD_CHANGEREQ: changing an expired password is not supported; report a failure.
                    self.client_auth.in_flight = None;
                    self.events.push_back(Event::AuthFailure {
                        methods: vec![],
                        partial: false,
                    });
                    Ok(())
                }
                _ => Err(Error::protocol("unexpected message 60")),
            },
            kind => Err(Error::protocol(format!("unexpected authentication message {kind}"))),
        }
    }

    /// PK_OK for a key whose private half is elsewhere: ask the application to sign.
    fn ask_signature(&mut self) -> Result<()> {
        let Some((user, key, alg)) = self.client_auth.pending_external.take() else {
            return Err(Error::protocol("PK_OK without a key query"));
        };
        let sid = self
            .session_id()
            .ok_or_else(|| Error::protocol("no session id"))?
            .to_vec();
        let data = super::publickey_signed_data(&sid, &user, &alg, key.blob());
        self.events.push_back(Event::AuthSignatureRequest {
            key: key.clone(),
            algorithm: alg.clone(),
            data,
        });
        self.client_auth.awaiting_signature = Some((user, key, alg));
        Ok(())
    }

    fn sign_pending_key(&mut self) -> Result<()> {
        let (user, key, alg) = self
            .client_auth
            .pending_key
            .take()
            .ok_or_else(|| Error::protocol("PK_OK without a key query"))?;
        let sid = self
            .session_id()
            .ok_or_else(|| Error::protocol("no session id"))?
            .to_vec();
        let blob = key.public_key().blob().to_vec();
        let data = super::publickey_signed_data(&sid, &user, &alg, &blob);
        let sig = key.sign(&alg, &data)?;
        let mut p = Self::auth_request_header(&user, "publickey");
        Writer::new(&mut p).bool(true).string(&alg).string(&blob).string(&sig);
        self.send(&p)
    }
}
