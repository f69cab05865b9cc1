//! One server connection: the driver plus a task that answers the engine's questions through the handler.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use amiko_proto::authorized_keys::LoginRestrictions;
use amiko_proto::cert::CertType;
use amiko_proto::connection::{AuthMethod, ChannelId, ChannelRequest, Connection, Event};
use amiko_proto::DisconnectReason;
use tokio::net::TcpStream;

use super::handler::{unix_now, AuthDecision, Handler, SessionInfo};
use super::session::{Control, Origin, Session};
use super::ServerConfig;
use crate::driver::{self, Owner, Shared};

/// What a handler hook learns about the connection: the user (empty before authentication), the peer and the
/// algorithms in use.
fn session_info(user: &Option<String>, peer: SocketAddr, conn: &Connection) -> SessionInfo {
    SessionInfo {
        user: user.clone().unwrap_or_default(),
        peer,
        negotiated: conn.negotiated().cloned(),
    }
}

/// Decrements the unauthenticated count once, whether the connection authenticates or ends.
struct StartupSlot(Option<Arc<AtomicUsize>>);

impl StartupSlot {
    fn release(&mut self) {
        if let Some(c) = self.0.take() {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for StartupSlot {
    fn drop(&mut self) {
        self.release();
    }
}

pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    cfg: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
    unauth: Arc<AtomicUsize>,
) {
    unauth.fetch_add(1, Ordering::Relaxed);
    let mut slot = StartupSlot(Some(unauth));
    // The server's end of this connection, for SSH_CONNECTION; the listener's address if the socket cannot say.
    let origin = Origin {
        peer,
        local: stream.local_addr().unwrap_or(peer),
        set_env: &cfg.set_env,
    };
    let shared = Shared::new(Connection::new(cfg.proto.clone(), cfg.host_keys.clone()));
    driver::spawn(stream, shared.clone());
    let owner = Arc::new(Owner { shared: shared.clone() });
    let deadline = tokio::time::Instant::now() + cfg.login_grace_time;
    let mut user: Option<String> = None;
    let mut sessions: HashMap<ChannelId, Session> = HashMap::new();
    let mut banner_sent = false;
    let mut listeners = super::forward::Listeners::default();
    // What the login may do: the merged restrictions of the accepted public keys (authorized_keys options) and user
    // certificates; unrestricted after a password, or before anything was accepted.
    let mut restrictions = LoginRestrictions::unrestricted();
    loop {
        let next = shared.wait(|g| g.events.pop_front().map(Ok));
        let ev = if user.is_none() {
            match tokio::time::timeout_at(deadline, next).await {
                Ok(ev) => ev,
                Err(_) => {
                    tracing::info!(%peer, "login grace time over");
                    shared
                        .lock()
                        .conn
                        .disconnect(DisconnectReason::ByApplication, "login grace time exceeded");
                    shared.kick();
                    break;
                }
            }
        } else {
            next.await
        };
        let Ok(ev) = ev else { break };
        if let Event::ForwardRequest { request, want_reply } = ev {
            // Binding a listener awaits: handled outside the lock (forward.rs).
            let info = session_info(&user, peer, &shared.lock().conn);
            let r = super::forward::request(
                &owner,
                &handler,
                &info,
                &cfg,
                &restrictions,
                &mut listeners,
                request,
                want_reply,
            )
            .await;
            if r.is_err() {
                break;
            }
            continue;
        }
        let mut g = shared.lock();
        let c = &mut g.conn;
        let r = match ev {
            Event::AuthRequest { user: u, method } => {
                if !banner_sent {
                    banner_sent = true;
                    if let Some(b) = handler.banner() {
                        let _ = c.auth_banner(&b);
                    }
                }
                let decision = match &method {
                    AuthMethod::None => handler.auth_none(&u),
                    AuthMethod::Password(p) => handler.auth_password(&u, p),
                    AuthMethod::PublicKeyQuery(k) | AuthMethod::PublicKey(k) => {
                        let info = SessionInfo {
                            user: u.clone(),
                            ..session_info(&user, peer, c)
                        };
                        let (decision, rules) = decide_public_key(&cfg, handler.as_ref(), &info, k);
                        // The real attempt's restrictions bind the login (the query's are only looked at).
                        if decision == AuthDecision::Reject || matches!(method, AuthMethod::PublicKeyQuery(_)) {
                            decision
                        } else {
                            match restrictions.merge(&rules) {
                                Ok(merged) => {
                                    if !rules.is_unrestricted() {
                                        tracing::info!(%peer, user = %u, "key accepted with restrictions: {rules:?}");
                                    }
                                    restrictions = merged;
                                    decision
                                }
                                Err(e) => {
                                    tracing::info!(%peer, user = %u, "public key refused: {e}");
                                    AuthDecision::Reject
                                }
                            }
                        }
                    }
                    AuthMethod::KeyboardInteractive(None) => {
                        let r = c.auth_info_request("", "", &[("Password: ", false)]);
                        drop(g);
                        shared.kick();
                        if r.is_err() {
                            break;
                        }
                        continue;
                    }
                    AuthMethod::KeyboardInteractive(Some(answers)) => handler.auth_keyboard_interactive(&u, answers),
                };
                match (decision, &method) {
                    (AuthDecision::Accept, AuthMethod::PublicKeyQuery(_)) => c.auth_pk_ok(),
                    (AuthDecision::Accept, _) => c.auth_accept(),
                    (AuthDecision::Partial, _) => c.auth_reject(true),
                    (AuthDecision::Reject, _) => c.auth_reject(false),
                }
            }
            Event::Authenticated { user: u } => {
                tracing::info!(%peer, user = %u, "authenticated");
                user = Some(u);
                slot.release();
                Ok(())
            }
            Event::ChannelOpenRequest { id, kind: _ } => {
                let info = session_info(&user, peer, c);
                if !handler.session_open(&info) {
                    c.channel_reject(id, 1, "refused by the server")
                } else if sessions.len() >= cfg.max_sessions {
                    c.channel_reject(id, 4, "too many sessions (MaxSessions)")
                } else {
                    sessions.insert(id, Session::default());
                    c.channel_accept(id)
                }
            }
            Event::ChannelRequest {
                id,
                request,
                want_reply,
            } => {
                let info = session_info(&user, peer, c);
                drop(g);
                let ok = handle_request(
                    &owner,
                    &handler,
                    &info,
                    &mut sessions,
                    id,
                    request,
                    cfg.sftp_root.as_ref(),
                    &restrictions,
                    &origin,
                );
                let mut g = shared.lock();
                let r = if want_reply {
                    g.conn.channel_reply(id, ok)
                } else {
                    Ok(())
                };
                drop(g);
                shared.kick();
                if r.is_err() {
                    break;
                }
                continue;
            }
            Event::DirectTcpipRequest { id, host, port, .. } => {
                let info = session_info(&user, peer, c);
                let allowed = restrictions.allows_open(&host, port);
                if !allowed {
                    tracing::info!(%peer, "direct-tcpip to {host}:{port} refused by the login's restrictions");
                }
                if allowed && handler.direct_tcpip(&info, &host, port) {
                    tracing::info!(%peer, "direct-tcpip to {host}:{port}");
                    tokio::spawn(forward_tcp(owner.clone(), id, host, port));
                    Ok(())
                } else {
                    c.channel_reject(id, 1, "administratively prohibited")
                }
            }
            Event::DirectStreamlocalRequest { id, path } => {
                let info = session_info(&user, peer, c);
                if restrictions.allows_streamlocal() && handler.direct_streamlocal(&info, &path) {
                    tracing::info!(%peer, "direct-streamlocal to {path}");
                    tokio::spawn(super::forward::direct_streamlocal(owner.clone(), id, path));
                    Ok(())
                } else {
                    c.channel_reject(id, 1, "administratively prohibited")
                }
            }
            Event::ChannelEof(id) => {
                if sessions.contains_key(&id) {
                    handler.channel_eof(&session_info(&user, peer, c));
                }
                Ok(())
            }
            Event::ChannelClosed(id) => {
                if sessions.contains_key(&id) {
                    handler.channel_close(&session_info(&user, peer, c));
                }
                sessions.remove(&id);
                let _ = c.channel_release(id);
                Ok(())
            }
            Event::GlobalRequest { name, want_reply } => {
                let ok = handler.global_request(&session_info(&user, peer, c), &name);
                if want_reply {
                    c.global_reply(ok)
                } else {
                    Ok(())
                }
            }
            Event::Closed(e) => {
                tracing::info!(%peer, "connection ended: {e}");
                break;
            }
            _ => Ok(()),
        };
        drop(g);
        shared.kick();
        if r.is_err() {
            break;
        }
    }
    // Remote forward listeners stop with the connection.
    drop(listeners);
    // Running sessions end with their processes; the connection ends when they are gone.
    for (_, s) in sessions.drain() {
        s.finish().await;
    }
    drop(owner);
}

/// Decides a public-key attempt (query or signed) for `info.user`, and what the key imposes on the login. A user
/// certificate signed by a CA in `trusted_user_ca_keys` is checked here (validity, principal, source address);
/// any other key or certificate goes to [`Handler::auth_publickey_restricted`].
fn decide_public_key(
    cfg: &ServerConfig,
    handler: &dyn Handler,
    info: &SessionInfo,
    key: &amiko_proto::keys::PublicKey,
) -> (AuthDecision, LoginRestrictions) {
    let (peer, user) = (info.peer, info.user.as_str());
    match key.certificate() {
        Some(cert) if cfg.trusted_user_ca_keys.contains(&cert.signature_key) => {
            match cert.check(CertType::User, user, unix_now().max(0) as u64, Some(peer.ip())) {
                Ok(rules) => (AuthDecision::Accept, rules),
                Err(why) => {
                    tracing::info!(%peer, user, "user certificate refused: {why}");
                    (AuthDecision::Reject, LoginRestrictions::restricted())
                }
            }
        }
        cert => {
            let (decision, rules) = handler.auth_publickey_restricted(info, key);
            if let (Some(cert), AuthDecision::Reject) = (cert, decision) {
                tracing::info!(
                    %peer,
                    user,
                    "user certificate refused: signed by {} {}, not a CA trusted for it",
                    cert.signature_key.key_type(),
                    cert.signature_key.fingerprint()
                );
            }
            (decision, rules)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_request(
    owner: &Arc<Owner>,
    handler: &Arc<dyn Handler>,
    info: &SessionInfo,
    sessions: &mut HashMap<ChannelId, Session>,
    id: ChannelId,
    request: ChannelRequest,
    sftp_root: Option<&std::path::PathBuf>,
    restrictions: &LoginRestrictions,
    origin: &Origin<'_>,
) -> bool {
    let Some(s) = sessions.get_mut(&id) else { return false };
    // A forced command (a certificate's force-command, an authorized key's command=) runs instead of whatever the
    // client asks (exec, shell or subsystem), through the built-in runner, with the request in
    // SSH_ORIGINAL_COMMAND as sshd sets it.
    if let Some(forced) = restrictions.force_command.clone() {
        let original = match &request {
            ChannelRequest::Exec(cmd) => Some(Some(cmd.clone())),
            ChannelRequest::Shell => Some(None),
            ChannelRequest::Subsystem(name) => Some(Some(name.clone())),
            _ => None,
        };
        if let Some(original) = original {
            if s.started() {
                return false;
            }
            s.original_command = original;
            return s.start(crate::Channel::from_id(owner.clone(), id), Some(forced), origin);
        }
    }
    match request {
        ChannelRequest::Pty(_) if !restrictions.permit_pty => {
            tracing::info!(peer = %info.peer, "pty refused by the login's restrictions");
            false
        }
        ChannelRequest::Pty(p) if !s.started() => {
            let ok = handler.pty_request(info, &p);
            if ok {
                s.pty = Some(p);
            }
            ok
        }
        ChannelRequest::Env { name, value } if !s.started() => {
            // A name with `=` or NUL, or a value with NUL, cannot be put in an environment as sent.
            let well_formed = !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0');
            let ok = well_formed && s.env.len() < super::MAX_SESSION_ENV && handler.env(info, &name, &value);
            if ok {
                s.env.push((name, value));
            } else {
                tracing::debug!(name = %name.escape_debug(), "env request refused");
            }
            ok
        }
        ChannelRequest::Exec(cmd) if !s.started() => {
            let mut ch = Some(crate::Channel::from_id(owner.clone(), id));
            if handler.exec(info, &cmd, &mut ch) {
                s.mark_external();
                return true;
            }
            match ch {
                Some(ch) => s.start(ch, Some(cmd), origin),
                None => false,
            }
        }
        ChannelRequest::Shell if !s.started() => {
            let mut ch = Some(crate::Channel::from_id(owner.clone(), id));
            if handler.shell(info, &mut ch) {
                s.mark_external();
                return true;
            }
            match ch {
                Some(ch) => s.start(ch, None, origin),
                None => false,
            }
        }
        ChannelRequest::Subsystem(name) if !s.started() => {
            let ch = crate::Channel::from_id(owner.clone(), id);
            let ok = match sftp_root {
                Some(root) if name == "sftp" => {
                    tokio::spawn(super::sftp::serve_sftp(ch, root.clone()));
                    true
                }
                _ => handler.subsystem(info, &name, ch),
            };
            if ok {
                s.mark_external();
            }
            ok
        }
        ChannelRequest::AuthAgent if !s.started() => {
            if s.agent.is_some() {
                return true;
            }
            if !restrictions.permit_agent_forwarding {
                tracing::info!(peer = %info.peer, "agent forwarding refused by the login's restrictions");
                return false;
            }
            if !handler.agent_forwarding(info) {
                return false;
            }
            match crate::agent_forward::AgentListener::start(Arc::downgrade(owner)) {
                Ok(l) => {
                    tracing::info!(peer = %info.peer, "agent forwarding at {}", l.path().display());
                    s.agent = Some(l);
                    true
                }
                Err(e) => {
                    tracing::warn!("agent forwarding: {e}");
                    false
                }
            }
        }
        ChannelRequest::WindowChange { cols, rows, .. } => {
            handler.window_change(info, cols, rows);
            s.control(Control::Resize(cols, rows))
        }
        ChannelRequest::Signal(name) => {
            handler.signal(info, &name);
            s.control(Control::Signal(name))
        }
        _ => false,
    }
}

/// How long the server tries to reach a direct-tcpip destination.
const FORWARD_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to `host:port` for a direct-tcpip channel, then accepts the channel and copies both ways (or refuses
/// it with "connect failed" and the reason).
async fn forward_tcp(owner: Arc<Owner>, id: amiko_proto::connection::ChannelId, host: String, port: u16) {
    let connect = tokio::time::timeout(FORWARD_CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await;
    let shared = owner.shared.clone();
    let mut tcp = match connect {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            let _ = shared
                .lock()
                .conn
                .channel_reject(id, 2, &format!("connect failed: {e}"));
            shared.kick();
            return;
        }
        Err(_) => {
            let _ = shared.lock().conn.channel_reject(id, 2, "connect timed out");
            shared.kick();
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    if shared.lock().conn.channel_accept(id).is_err() {
        return;
    }
    shared.kick();
    let mut ch = crate::Channel::from_id(owner, id);
    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut ch).await;
}
