//! amiko's errors as the exceptions Paramiko raises, so `except paramiko.SSHException` keeps working.

use std::future::Future;
use std::time::Duration;

use amiko::Error;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

/// Converts an amiko error into the matching exception of `amiko.ssh_exception` (or the OS error Python code
/// expects: `socket.timeout`, `FileNotFoundError` for a missing remote file, ...).
pub(crate) fn to_py(e: Error) -> PyErr {
    Python::attach(|py| build(py, &e).unwrap_or_else(|fallback| fallback))
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let ssh = py.import("amiko.ssh_exception")?;
    let make = |class: &str, args: Bound<'_, pyo3::types::PyTuple>| -> PyResult<PyErr> {
        Ok(PyErr::from_value(ssh.getattr(class)?.call1(args)?))
    };
    let text = e.to_string();
    use pyo3::types::PyTuple;
    match e {
        Error::Auth { .. } => make("AuthenticationException", PyTuple::new(py, [text])?),
        Error::Proto(amiko_proto::Error::ChannelClosed) => {
            make("SSHException", PyTuple::new(py, ["Channel is not open"])?)
        }
        Error::Channel(m) if m.starts_with("channel open refused") => {
            // Paramiko's ChannelException(code, text); the reason code is in the message.
            let code: u32 = m
                .split(['(', ')'])
                .nth(1)
                .and_then(|r| r.split_whitespace().find_map(|w| w.parse().ok()))
                .unwrap_or(2);
            make("ChannelException", (code, m.clone()).into_pyobject(py)?)
        }
        Error::ConnectTimeout(_)
        | Error::Io {
            kind: std::io::ErrorKind::TimedOut,
            ..
        } => Ok(PyErr::from_value(
            py.import("socket")?.getattr("timeout")?.call1((text,))?,
        )),
        Error::Io { kind, .. } => {
            let errno = match kind {
                std::io::ErrorKind::ConnectionRefused => Some(111),
                std::io::ErrorKind::ConnectionReset => Some(104),
                std::io::ErrorKind::BrokenPipe => Some(32),
                std::io::ErrorKind::NotFound => Some(2),
                std::io::ErrorKind::PermissionDenied => Some(13),
                _ => None,
            };
            Ok(match errno {
                Some(n) => PyOSError::new_err((n, text)),
                None => PyOSError::new_err(text),
            })
        }
        Error::Sftp(s) => {
            // Paramiko: IOError(errno.ENOENT / EACCES, text), else IOError(text).
            let errno = match s.code {
                2 => Some(2),
                3 => Some(13),
                _ => None,
            };
            let msg = s.path.clone().unwrap_or_else(|| s.message.clone());
            Ok(match errno {
                Some(n) => PyOSError::new_err((n, s.message.clone(), msg)),
                None => PyOSError::new_err(text),
            })
        }
        Error::HostKey(_) | Error::Config(_) | Error::Proto(_) | Error::Agent(_) => {
            make("SSHException", PyTuple::new(py, [text])?)
        }
        #[allow(unreachable_patterns)]
        _ => Err(PyRuntimeError::new_err(text)),
    }
}

/// Runs `f` on amiko's runtime with the GIL released, giving up after `timeout` seconds (None: wait forever).
pub(crate) fn wait<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    f: impl Future<Output = amiko::Result<T>> + Send,
) -> PyResult<T> {
    py.detach(|| {
        amiko::blocking::block_on(async {
            match timeout {
                Some(t) if t >= 0.0 => tokio::time::timeout(Duration::from_secs_f64(t), f)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::Io {
                            context: "timed out".into(),
                            message: format!("no answer within {t} s"),
                            kind: std::io::ErrorKind::TimedOut,
                        })
                    }),
                _ => f.await,
            }
        })
    })
    .map_err(to_py)
}
