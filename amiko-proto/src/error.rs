//! Errors of the protocol engine.
//!
//! Every error a peer can cause is a value here, never a panic. Where RFC 4253 §11.1 has a disconnect reason for
//! the failure, [`Error::disconnect_reason`] gives it, so the engine can tell the peer why it is leaving.

use std::fmt;

/// Why a piece of wire data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The data ended before the field did.
    #[error("message too short: needed {needed} more byte(s)")]
    TooShort {
        /// How many bytes were missing.
        needed: usize,
    },
    /// A length field is larger than the data or a protocol bound.
    #[error("length {len} exceeds the bound of {max}")]
    TooLong {
        /// The length that was read.
        len: usize,
        /// The largest length allowed here.
        max: usize,
    },
    /// A field that must be UTF-8 or ASCII is not.
    #[error("{0} is not valid text")]
    BadText(&'static str),
    /// A field has a value the protocol forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Why a compressed packet could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The payload inflates to more than the bound: a decompression bomb. Found while inflating, before the
    /// output grows past the bound.
    #[error("packet inflates beyond {max} bytes")]
    TooLarge {
        /// The largest decompressed payload allowed.
        max: usize,
    },
    /// The compressed data is not a valid continuation of the zlib stream.
    #[error("corrupt compressed data: {0}")]
    Corrupt(String),
}

/// Disconnect reason codes (RFC 4253 §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum DisconnectReason {
    HostNotAllowedToConnect = 1,
    ProtocolError = 2,
    KeyExchangeFailed = 3,
    Reserved = 4,
    MacError = 5,
    CompressionError = 6,
    ServiceNotAvailable = 7,
    ProtocolVersionNotSupported = 8,
    HostKeyNotVerifiable = 9,
    ConnectionLost = 10,
    ByApplication = 11,
    TooManyConnections = 12,
    AuthCancelledByUser = 13,
    NoMoreAuthMethodsAvailable = 14,
    IllegalUserName = 15,
}

impl DisconnectReason {
    /// The reason for a wire code; unknown codes map to `ProtocolError`'s neighbour `Reserved`.
    pub fn from_code(code: u32) -> Self {
        use DisconnectReason::*;
        match code {
            1 => HostNotAllowedToConnect,
            2 => ProtocolError,
            3 => KeyExchangeFailed,
            5 => MacError,
            6 => CompressionError,
            7 => ServiceNotAvailable,
            8 => ProtocolVersionNotSupported,
            9 => HostKeyNotVerifiable,
            10 => ConnectionLost,
            11 => ByApplication,
            12 => TooManyConnections,
            13 => AuthCancelledByUser,
            14 => NoMoreAuthMethodsAvailable,
            15 => IllegalUserName,
            _ => Reserved,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} ({})", *self as u32)
    }
}

/// Everything that can end or refuse an SSH operation in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Wire data could not be decoded.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// The peer broke the protocol (a message in the wrong state, a bound exceeded).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The version exchange failed.
    #[error("version exchange failed: {0}")]
    Version(String),
    /// No algorithm in common for one negotiated slot.
    #[error("no common {kind} algorithm (we offer {ours}; the peer offers {theirs})")]
    NoCommonAlgorithm {
        /// Which slot: kex, host key, cipher, MAC, compression.
        kind: &'static str,
        /// Our list.
        ours: String,
        /// The peer's list.
        theirs: String,
    },
    /// Key exchange failed (bad public value, signature that does not verify).
    #[error("key exchange failed: {0}")]
    Kex(String),
    /// A packet failed its MAC or AEAD tag check.
    #[error("message authentication failed (corrupted or forged packet)")]
    Mac,
    /// The server's host key was not accepted.
    #[error("host key rejected: {0}")]
    HostKey(String),
    /// Authentication failed; the methods the server still allows are given.
    #[error("authentication failed (server allows: {})", .allowed.join(","))]
    Auth {
        /// The methods named in the last USERAUTH_FAILURE.
        allowed: Vec<String>,
    },
    /// A key file or key blob could not be used.
    #[error("key error: {0}")]
    Key(String),
    /// The peer closed the connection with a DISCONNECT message.
    #[error("disconnected by peer: {reason}: {description}")]
    Disconnected {
        /// The reason code the peer gave.
        reason: DisconnectReason,
        /// The peer's description.
        description: String,
    },
    /// The connection is closed: nothing more can be sent or received.
    #[error("connection closed")]
    Closed,
    /// A channel operation on a channel that is not open.
    #[error("Channel is not open")]
    ChannelClosed,
    /// The local side asked for something the state does not allow.
    #[error("{0}")]
    Usage(String),
    /// Compressed data from the peer was corrupt or inflated beyond the packet bound (RFC 4253 §6.2).
    #[error("compression error: {0}")]
    Compression(#[from] CompressionError),
    /// A timer ran out (login grace, kex, keepalive).
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

impl Error {
    /// A protocol error with a message.
    pub fn protocol(msg: impl Into<String>) -> Self {
        Error::Protocol(msg.into())
    }

    /// The reason code to send in a DISCONNECT for this error, if we should send one.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        Some(match self {
            Error::Decode(_) | Error::Protocol(_) => DisconnectReason::ProtocolError,
            // RFC 4253 §11.1 has a code for a failed version exchange (an SSH-1 peer, a line that is no version).
            Error::Version(_) => DisconnectReason::ProtocolVersionNotSupported,
            Error::NoCommonAlgorithm { .. } | Error::Kex(_) => DisconnectReason::KeyExchangeFailed,
            Error::Mac => DisconnectReason::MacError,
            Error::Compression(_) => DisconnectReason::CompressionError,
            Error::HostKey(_) => DisconnectReason::HostKeyNotVerifiable,
            Error::Auth { .. } => DisconnectReason::NoMoreAuthMethodsAvailable,
            Error::Timeout(_) => DisconnectReason::ConnectionLost,
            _ => return None,
        })
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
