//! amiko-proto: a sans-IO SSHv2 engine.
//!
//! Bytes go in with `handle_input`, bytes to send come out of `poll_transmit`, and what happened comes out of
//! `poll_event`. No sockets, no clocks read here: time is passed in. This keeps every state machine testable
//! without a network and reusable by the tokio driver, the blocking facade and the Python module.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod wire;

pub use error::{CompressionError, DecodeError, DisconnectReason, Error, Result};
pub mod auth;
pub mod authorized_keys;
pub mod cert;
pub mod config;
pub mod connection;
pub mod kex;
pub mod keys;
pub mod known_hosts;
pub mod rng;
pub mod sftp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_agent;
#[cfg(test)]
mod tests_algs;
#[cfg(test)]
mod tests_bad_input;
#[cfg(test)]
mod tests_certs;
#[cfg(test)]
mod tests_compression;
pub mod transport;
