//! Many hosts at once from Python: amiko's fan-out (`amiko run`) with a Python signature.

use std::sync::Arc;
use std::time::Duration;

use amiko::fanout::{expand_hosts, run_command, FanoutOptions, Target};
use amiko::{ClientConfig, HostKeyPolicy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;
use crate::keys::PrivateKey;

/// What happened on one host.
#[pyclass(frozen, get_all, module = "amiko._native")]
pub struct HostResult {
    /// The host as given (`user@host:port` forms kept).
    host: String,
    /// Exit status (None if the command did not finish or was killed by a signal).
    exit_status: Option<u32>,
    /// Standard output.
    stdout: Py<PyBytes>,
    /// Standard error.
    stderr: Py<PyBytes>,
    /// Why the host failed (connect, auth, timeout), or None.
    error: Option<String>,
    /// Seconds from the first connect attempt to the end.
    duration: f64,
}

#[pymethods]
impl HostResult {
    /// Whether the command ran and exited 0.
    #[getter]
    fn ok(&self) -> bool {
        self.error.is_none() && self.exit_status == Some(0)
    }

    fn __repr__(&self) -> String {
        format!(
            "HostResult(host={:?}, exit_status={:?}, error={:?})",
            self.host, self.exit_status, self.error
        )
    }
}

fn policy(name: &str) -> PyResult<HostKeyPolicy> {
    Ok(match name {
        "reject" => HostKeyPolicy::Reject,
        "auto-add" => HostKeyPolicy::AutoAdd,
        "accept-new" => HostKeyPolicy::AcceptNew,
        "warning" => HostKeyPolicy::Warning,
        other => return Err(PyValueError::new_err(format!("unknown host key policy {other:?}"))),
    })
}

/// Runs `command` on every host (a list, or a range like `web[01-20]`), `parallel` at a time; returns one result
/// per host, in the order given. The GIL is released for the whole run.
#[pyfunction]
#[pyo3(signature = (hosts, command, username, password=None, keys=Vec::new(), known_hosts=None,
                    host_key_policy="reject", parallel=64, connect_timeout=10.0, timeout=None, retries=0,
                    stdin=None))]
#[allow(clippy::too_many_arguments)]
pub fn run(
    py: Python<'_>,
    hosts: Vec<String>,
    command: String,
    username: String,
    password: Option<String>,
    keys: Vec<PyRef<'_, PrivateKey>>,
    known_hosts: Option<Vec<String>>,
    host_key_policy: &str,
    parallel: usize,
    connect_timeout: f64,
    timeout: Option<f64>,
    retries: u32,
    stdin: Option<Vec<u8>>,
) -> PyResult<Vec<HostResult>> {
    let targets: Vec<Target> = hosts
        .iter()
        .flat_map(|h| expand_hosts(h))
        .map(|h| Target::parse(&h))
        .collect();
    let mut base = ClientConfig::new(username);
    base.password = password;
    base.keys = keys.iter().map(|k| k.inner.clone()).collect();
    base.host_keys.policy = policy(host_key_policy)?;
    if let Some(files) = known_hosts {
        base.host_keys.files = files.into_iter().map(Into::into).collect();
    }
    let opts = FanoutOptions {
        parallel: parallel.max(1),
        connect_timeout: Duration::from_secs_f64(connect_timeout.max(0.001)),
        command_timeout: timeout.map(|t| Duration::from_secs_f64(t.max(0.001))),
        retries,
        ..Default::default()
    };
    let order: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
    let results = py.detach(|| {
        amiko::blocking::block_on(async move {
            let mut rx = run_command(targets, command, stdin.map(Arc::new), opts, move |t| {
                let mut c = base.clone();
                if let Some(u) = &t.user {
                    c.user = u.clone();
                }
                c
            });
            let mut out = Vec::new();
            while let Some(r) = rx.recv().await {
                out.push(r);
            }
            Ok::<_, amiko::Error>(out)
        })
    });
    let mut results = results.map_err(to_py)?;
    results.sort_by_key(|r| order.iter().position(|l| *l == r.target.label).unwrap_or(usize::MAX));
    Ok(results
        .into_iter()
        .map(|r| HostResult {
            host: r.target.label,
            exit_status: r.exit_status,
            stdout: PyBytes::new(py, &r.stdout).unbind(),
            stderr: PyBytes::new(py, &r.stderr).unbind(),
            error: r.error,
            duration: r.duration.as_secs_f64(),
        })
        .collect())
}
