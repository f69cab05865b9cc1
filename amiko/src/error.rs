//! The library's error type: protocol errors from the engine plus I/O and configuration errors.

use amiko_proto::DisconnectReason;

/// Anything that can go wrong in amiko.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The SSH protocol failed (the engine's error).
    #[error(transparent)]
    Proto(#[from] amiko_proto::Error),
    /// A socket or file operation failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error text.
        message: String,
        /// The error kind.
        kind: std::io::ErrorKind,
    },
    /// The connection attempt timed out.
    #[error("connection to {0} timed out")]
    ConnectTimeout(String),
    /// The handshake (version exchange, key exchange, authentication) did not finish in time.
    #[error("login to {0} timed out after {1:?} (version exchange, key exchange and authentication)")]
    LoginTimeout(String, std::time::Duration),
    /// Authentication failed with every method we could try.
    #[error("authentication failed for {user}: tried {tried}; the server allows: {allowed}")]
    Auth {
        /// The user name.
        user: String,
        /// Methods tried.
        tried: String,
        /// Methods the server said may continue.
        allowed: String,
    },
    /// The server's host key was refused by the host-key policy.
    #[error("{0}")]
    HostKey(String),
    /// A channel could not be opened or a request was refused.
    #[error("{0}")]
    Channel(String),
    /// Bad local configuration (key file, option).
    #[error("{0}")]
    Config(String),
    /// The ssh-agent failed, refused, or sent a bad message.
    #[error("agent: {0}")]
    Agent(String),
    /// The SFTP server answered with an error status.
    #[error(transparent)]
    Sftp(#[from] crate::sftp::SftpError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, e: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            message: e.to_string(),
            kind: e.kind(),
        }
    }

    /// The disconnect reason when the peer ended the connection with one.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Error::Proto(amiko_proto::Error::Disconnected { reason, .. }) => Some(*reason),
            _ => None,
        }
    }

    /// Whether this is "Channel is not open", the error Paramiko gives when a closed channel is reused.
    pub fn is_channel_closed(&self) -> bool {
        matches!(self, Error::Proto(amiko_proto::Error::ChannelClosed))
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io { kind, .. } => *kind,
            Error::Proto(amiko_proto::Error::ChannelClosed) => std::io::ErrorKind::NotConnected,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// Result with amiko's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
