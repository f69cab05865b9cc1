//! SFTP client (async): every v3 operation, OpenSSH's extensions, and pipelined, resumable, atomic transfers.

mod client;
mod transfer;

pub use client::{Sftp, SftpError};
pub use transfer::{Progress, TransferOptions};
