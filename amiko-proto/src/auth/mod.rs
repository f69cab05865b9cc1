//! User authentication (RFC 4252, RFC 4256): the client's and the server's state machines.

mod client;
mod server;

pub(crate) use client::ClientAuth;
pub(crate) use server::ServerAuth;

use crate::wire::{msg, Writer};

/// The data a publickey signature covers (RFC 4252 §7).
pub(crate) fn publickey_signed_data(session_id: &[u8], user: &str, algorithm: &str, blob: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(session_id.len() + user.len() + blob.len() + 96);
    Writer::new(&mut d)
        .string(session_id)
        .u8(msg::USERAUTH_REQUEST)
        .string(user)
        .string("ssh-connection")
        .string("publickey")
        .bool(true)
        .string(algorithm)
        .string(blob);
    d
}

/// Most prompts or responses accepted in one keyboard-interactive round.
pub(crate) const MAX_PROMPTS: u32 = 64;
