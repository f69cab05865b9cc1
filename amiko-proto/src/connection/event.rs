//! What the engine tells its driver.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{DisconnectReason, Error};
use crate::keys::PublicKey;

use super::forward::{ForwardRequest, GlobalRequestId};

/// Identifies a channel on this side of the connection.
pub type ChannelId = u32;

/// A pseudo-terminal request (RFC 4254 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtyRequest {
    /// TERM value, e.g. `xterm-256color`.
    pub term: String,
    /// Width in characters.
    pub cols: u32,
    /// Height in rows.
    pub rows: u32,
    /// Width in pixels (0 if unknown).
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
    /// Encoded terminal modes (RFC 4254 §8), passed through unparsed.
    pub modes: Vec<u8>,
}

impl Default for PtyRequest {
    fn default() -> Self {
        PtyRequest {
            term: "vt100".into(),
            cols: 80,
            rows: 24,
            width_px: 0,
            height_px: 0,
            modes: vec![0],
        }
    }
}

/// A channel request (RFC 4254 §6), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRequest {
    /// pty-req.
    Pty(PtyRequest),
    /// shell.
    Shell,
    /// exec with its command.
    Exec(String),
    /// subsystem, e.g. `sftp`.
    Subsystem(String),
    /// env NAME=VALUE.
    Env {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
    },
    /// window-change.
    WindowChange {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Pixel width.
        width_px: u32,
        /// Pixel height.
        height_px: u32,
    },
    /// signal, named without the SIG prefix.
    Signal(String),
    /// exit-status.
    ExitStatus(u32),
    /// exit-signal.
    ExitSignal {
        /// Signal name without SIG.
        signal: String,
        /// Whether a core was dumped.
        core_dumped: bool,
        /// Error message.
        message: String,
    },
    /// auth-agent-req@openssh.com: the client asks the server to forward its ssh-agent (OpenSSH PROTOCOL).
    AuthAgent,
    /// Any other request (e.g. keepalive@openssh.com); answered with failure if no one handles it.
    Other(String),
}

/// How a user tries to authenticate (server side). Its `Debug` output never shows a password or an answer, so
/// logging an event cannot leak one.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// "none", usually to learn the methods.
    None,
    /// A password.
    Password(String),
    /// A public key without signature: would this key be accepted? Answer with `auth_pk_ok` or `auth_reject`.
    PublicKeyQuery(PublicKey),
    /// A public key whose signature has been verified: accept if the key is authorized.
    PublicKey(PublicKey),
    /// keyboard-interactive: `None` when it starts (answer with `auth_info_request`), then the responses.
    KeyboardInteractive(Option<Vec<String>>),
}

/// Wipes the password (left empty) or the keyboard-interactive responses (left `None`); the other methods carry no
/// secret.
impl Zeroize for AuthMethod {
    fn zeroize(&mut self) {
        match self {
            AuthMethod::Password(p) => p.zeroize(),
            AuthMethod::KeyboardInteractive(answers) => answers.zeroize(),
            AuthMethod::None | AuthMethod::PublicKeyQuery(_) | AuthMethod::PublicKey(_) => {}
        }
    }
}

/// The credentials are wiped when the value is dropped, clones included. So they cannot be moved out of it: match on
/// a reference (or with `ref`) to read them.
impl Drop for AuthMethod {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for AuthMethod {}

impl std::fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMethod::None => f.write_str("None"),
            AuthMethod::Password(_) => f.write_str("Password(<redacted>)"),
            AuthMethod::PublicKeyQuery(k) => f.debug_tuple("PublicKeyQuery").field(k).finish(),
            AuthMethod::PublicKey(k) => f.debug_tuple("PublicKey").field(k).finish(),
            AuthMethod::KeyboardInteractive(None) => f.write_str("KeyboardInteractive(None)"),
            AuthMethod::KeyboardInteractive(Some(a)) => {
                write!(f, "KeyboardInteractive(<{} redacted answers>)", a.len())
            }
        }
    }
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Client: the server proved this host key; call `accept_host_key` or `reject_host_key` to go on.
    HostKey(PublicKey),
    /// A key exchange finished (the first one or a rekey).
    KexDone,
    /// Client: the server accepted the ssh-userauth service; authentication may start.
    AuthReady,
    /// Client: a banner from the server (RFC 4252 §5.4).
    Banner(String),
    /// Client: authentication succeeded.
    AuthSuccess,
    /// Client: the last attempt failed; these methods may continue. `partial` means the attempt was accepted but
    /// more methods are required.
    AuthFailure {
        /// Methods that can continue.
        methods: Vec<String>,
        /// Partial success.
        partial: bool,
    },
    /// Client: the server accepts the public key offered with `auth_publickey_offer`; sign `data` with the key's
    /// private half (an ssh-agent, say) using `algorithm` and pass the signature blob to `auth_publickey_signature`.
    AuthSignatureRequest {
        /// The key offered.
        key: PublicKey,
        /// The signature algorithm to use (rsa-sha2-512/256 for RSA keys).
        algorithm: String,
        /// The bytes to sign (RFC 4252 §7).
        data: Vec<u8>,
    },
    /// Client: keyboard-interactive prompts; answer with `auth_info_response`.
    AuthInfoRequest {
        /// Name.
        name: String,
        /// Instruction.
        instruction: String,
        /// Prompts, each with whether to echo.
        prompts: Vec<(String, bool)>,
    },
    /// Server: a user tries to authenticate.
    AuthRequest {
        /// User name.
        user: String,
        /// The method and its credential.
        method: AuthMethod,
    },
    /// Server: the client is authenticated.
    Authenticated {
        /// As whom.
        user: String,
    },
    /// The peer asks to open a channel; answer with `channel_accept` or `channel_reject`.
    ChannelOpenRequest {
        /// Our id for it.
        id: ChannelId,
        /// Channel type, e.g. "session".
        kind: String,
    },
    /// Server: the peer asks for a "direct-tcpip" channel to `host:port` (ssh -L, -J, -D). Accept with
    /// `channel_accept` once the TCP connection is made, or refuse with `channel_reject` (reason 1: prohibited,
    /// 2: connect failed).
    DirectTcpipRequest {
        /// Our id for it.
        id: ChannelId,
        /// Where the peer wants to go.
        host: String,
        /// Port there.
        port: u16,
        /// The address the connection came from on the peer's side.
        originator_host: String,
        /// Its port.
        originator_port: u16,
    },
    /// Server: the peer asks for a "direct-streamlocal@openssh.com" channel to the Unix socket `path` (ssh -L
    /// port:/path). Accept with `channel_accept` once connected, or refuse with `channel_reject`.
    DirectStreamlocalRequest {
        /// Our id for it.
        id: ChannelId,
        /// The socket path on this side.
        path: String,
    },
    /// Client: the server opened a channel for one of our remote forwards ("forwarded-tcpip" or
    /// "forwarded-streamlocal@openssh.com"); channels for forwards we did not ask for are refused by the engine
    /// and never appear. Accept with `channel_accept` or refuse with `channel_reject`.
    ForwardedChannel {
        /// Our id for it.
        id: ChannelId,
        /// The forward: the id returned by `request_tcpip_forward` / `request_streamlocal_forward`.
        forward: GlobalRequestId,
        /// Where the connection came from on the server's side ("" for a Unix socket).
        originator_host: String,
        /// Its port (0 for a Unix socket).
        originator_port: u16,
    },
    /// Client: the answer to one of our forwarding requests (or a cancellation).
    GlobalReply {
        /// The id the request returned.
        request: GlobalRequestId,
        /// Whether the server agreed.
        success: bool,
        /// For a successful tcpip-forward: the port the server bound.
        bound_port: Option<u16>,
    },
    /// Server: the client asks for a remote forward or to cancel one. If `want_reply`, answer with `global_reply`
    /// (or `global_reply_bound_port` for a tcpip-forward of port 0).
    ForwardRequest {
        /// What is asked.
        request: ForwardRequest,
        /// Whether the client waits for an answer.
        want_reply: bool,
    },
    /// A channel we asked for is open.
    ChannelOpened(ChannelId),
    /// A channel we asked for was refused.
    ChannelOpenFailed {
        /// Our id.
        id: ChannelId,
        /// Reason code (RFC 4254 §5.1).
        reason: u32,
        /// Text.
        description: String,
    },
    /// A request arrived on a channel. If `want_reply`, answer with `channel_reply`.
    ChannelRequest {
        /// Channel.
        id: ChannelId,
        /// What is asked.
        request: ChannelRequest,
        /// Whether the peer waits for success/failure.
        want_reply: bool,
    },
    /// The peer answered one of our channel requests.
    ChannelReply {
        /// Channel.
        id: ChannelId,
        /// Success or failure.
        success: bool,
    },
    /// The peer will send no more data on this channel.
    ChannelEof(ChannelId),
    /// The channel is closed both ways.
    ChannelClosed(ChannelId),
    /// Server: a global request (the engine has already answered keepalives).
    GlobalRequest {
        /// Request name.
        name: String,
        /// Whether the peer waits for an answer (give it with `global_reply`).
        want_reply: bool,
    },
    /// The connection ended; `error` says why (a peer DISCONNECT is `Error::Disconnected`).
    Closed(Error),
}

/// Why the peer disconnected, as reported in `Event::Closed`.
pub fn disconnected(reason: DisconnectReason, description: String) -> Error {
    Error::Disconnected { reason, description }
}
