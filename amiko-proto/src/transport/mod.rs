//! The transport layer (RFC 4253): version exchange, packets, ciphers, negotiation and key exchange.

pub mod cipher;
pub mod compress;
pub(crate) mod handshake;
pub mod negotiate;
pub mod packet;
pub mod version;
