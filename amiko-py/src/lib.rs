//! The native half of the `amiko` Python package. It holds the connections, channels, SFTP sessions and keys,
//! and runs every network wait with the GIL released; the Python half (`python/amiko`) gives them Paramiko's
//! names, signatures and exceptions.

mod agent;
mod bigbuf;
mod channel;
mod errors;
mod fanout;
mod keys;
mod session;
mod sftp;

use pyo3::prelude::*;

/// The `amiko._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::Session>()?;
    m.add_class::<channel::Channel>()?;
    m.add_class::<sftp::Sftp>()?;
    m.add_class::<sftp::File>()?;
    m.add_class::<keys::PrivateKey>()?;
    m.add_class::<keys::PublicKey>()?;
    m.add_class::<fanout::HostResult>()?;
    m.add_function(wrap_pyfunction!(fanout::run, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_identities, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_sign, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
