//! Many hosts at once: one runtime, a task per host, bounded concurrency, results streamed as they finish.
//!
//! ```no_run
//! # async fn f() {
//! use amiko::fanout::{run_command, FanoutOptions, Target};
//! let targets: Vec<Target> = ["web1", "web2"].iter().map(|h| Target::parse(h)).collect();
//! let mut results = run_command(targets, "uptime".into(), None, FanoutOptions::default(), |t| {
//!     let mut c = amiko::ClientConfig::new(t.user.clone().unwrap_or_else(|| "me".into()));
//!     c.password = Some("pw".into());
//!     c
//! });
//! while let Some(r) = results.recv().await {
//!     println!("{}: {:?}", r.target.label, r.exit_status);
//! }
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use crate::{Client, ClientConfig};

/// One host to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As the user wrote it (used in output).
    pub label: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User, if given as `user@host`.
    pub user: Option<String>,
}

impl Target {
    /// Parses `[user@]host[:port]` (IPv6 as `[addr]:port`).
    pub fn parse(s: &str) -> Target {
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, s),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, p)) => (h.to_string(), p.strip_prefix(':').and_then(|p| p.parse().ok())),
                None => (rest.to_string(), None),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() && !h.contains(':') => (h.to_string(), p.parse().ok()),
                _ => (rest.to_string(), None),
            }
        };
        Target {
            label: s.to_string(),
            host,
            port: port.unwrap_or(22),
            user,
        }
    }
}

/// Expands ClusterShell-style ranges: `web[01-03,7]` → web01, web02, web03, web7; text outside brackets is kept.
pub fn expand_hosts(spec: &str) -> Vec<String> {
    let Some(open) = spec.find('[') else {
        return vec![spec.to_string()];
    };
    let Some(close) = spec[open..].find(']').map(|i| open + i) else {
        return vec![spec.to_string()];
    };
    let (prefix, body, suffix) = (&spec[..open], &spec[open + 1..close], &spec[close + 1..]);
    // `[::1]:22` is an IPv6 address, not a range.
    if body.contains(':') {
        return vec![spec.to_string()];
    }
    let mut out = Vec::new();
    for part in body.split(',') {
        let items: Vec<String> = match part.split_once('-') {
            Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(x), Ok(y)) if x <= y && y - x < 100_000 => {
                    (x..=y).map(|n| format!("{n:0width$}", width = a.len())).collect()
                }
                _ => vec![part.to_string()],
            },
            None => vec![part.to_string()],
        };
        for item in items {
            out.extend(expand_hosts(&format!("{prefix}{item}{suffix}")));
        }
    }
    out
}

/// Folds host names back into ranges for display: web01, web02, web03 → `web[01-03]`.
pub fn fold_hosts(hosts: &[String]) -> String {
    // (prefix, [(number, digits)]): numbers with the same prefix fold into one bracket.
    let mut groups: Vec<(String, Vec<(u64, usize)>)> = Vec::new();
    let mut plain = Vec::new();
    for h in hosts {
        let digits_at = h.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
        let (prefix, num) = h.split_at(digits_at);
        match num.parse::<u64>() {
            Ok(n) if !num.is_empty() => match groups.iter_mut().find(|g| g.0 == prefix) {
                Some(g) => g.1.push((n, num.len())),
                None => groups.push((prefix.to_string(), vec![(n, num.len())])),
            },
            _ => plain.push(h.clone()),
        }
    }
    let mut parts = plain;
    for (prefix, mut nums) in groups {
        nums.sort();
        if nums.len() == 1 {
            parts.push(format!("{prefix}{:0w$}", nums[0].0, w = nums[0].1));
            continue;
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < nums.len() {
            let mut j = i;
            while j + 1 < nums.len() && nums[j + 1].0 == nums[j].0 + 1 && nums[j + 1].1 == nums[i].1 {
                j += 1;
            }
            let w = nums[i].1;
            ranges.push(if i == j {
                format!("{:0w$}", nums[i].0)
            } else {
                format!("{:0w$}-{:0w$}", nums[i].0, nums[j].0)
            });
            i = j + 1;
        }
        parts.push(format!("{prefix}[{}]", ranges.join(",")));
    }
    parts.join(",")
}

/// How a fan-out runs.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// Hosts worked on at once.
    pub parallel: usize,
    /// Give up connecting to a host after this long.
    pub connect_timeout: Duration,
    /// Give up on a host whose handshake (version exchange, key exchange, authentication) is not over after this
    /// long: a host that accepts and then stalls costs this, not forever.
    pub login_timeout: Duration,
    /// Give up on a command after this long (None: wait).
    pub command_timeout: Option<Duration>,
    /// Connection attempts beyond the first (a refused or timed-out connect is retried after a short pause).
    pub retries: u32,
}

impl Default for FanoutOptions {
    fn default() -> Self {
        FanoutOptions {
            parallel: 64,
            connect_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(60),
            command_timeout: None,
            retries: 0,
        }
    }
}

/// What happened on one host.
#[derive(Debug, Clone)]
pub struct HostResult {
    /// The host.
    pub target: Target,
    /// Exit status, if the command ran to its end.
    pub exit_status: Option<u32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Time from the start of this host's turn to its result.
    pub duration: Duration,
    /// Why the host failed (connect, auth, timeout), if it did.
    pub error: Option<String>,
}

impl HostResult {
    /// Whether the command ran and exited 0.
    pub fn success(&self) -> bool {
        self.error.is_none() && self.exit_status == Some(0)
    }
}

async fn one_host(
    target: Target,
    command: Arc<String>,
    stdin: Option<Arc<Vec<u8>>>,
    opts: FanoutOptions,
    cfg: ClientConfig,
) -> HostResult {
    let start = Instant::now();
    let mut result = HostResult {
        target: target.clone(),
        exit_status: None,
        stdout: vec![],
        stderr: vec![],
        duration: Duration::ZERO,
        error: None,
    };
    let mut cfg = cfg;
    cfg.connect_timeout = Some(opts.connect_timeout);
    cfg.login_timeout = Some(opts.login_timeout);
    let mut attempt = 0;
    let client = loop {
        match Client::connect(&target.host, target.port, cfg.clone()).await {
            Ok(c) => break Some(c),
            Err(e) => {
                // Refused, timed out, or dropped before authentication (a server at its MaxStartups does that).
                let transient = matches!(
                    e,
                    crate::Error::Io { .. }
                        | crate::Error::ConnectTimeout(_)
                        | crate::Error::Proto(amiko_proto::Error::Closed)
                );
                let retry = transient && attempt < opts.retries;
                if !retry {
                    result.error = Some(e.to_string());
                    break None;
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
        }
    };
    if let Some(client) = client {
        let run = async {
            let mut ch = client.open_session().await?;
            ch.exec(&command).await?;
            if let Some(data) = &stdin {
                ch.write_all_data(data).await?;
            }
            ch.eof().await?;
            ch.read_to_end_both(&mut result.stdout, &mut result.stderr).await?;
            ch.wait_exit().await
        };
        let outcome = match opts.command_timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .unwrap_or_else(|_| Err(crate::Error::Channel(format!("command timed out after {t:?}")))),
            None => run.await,
        };
        match outcome {
            Ok((status, signal)) => {
                result.exit_status = status;
                if status.is_none() {
                    result.error = Some(signal.map_or("no exit status".into(), |s| format!("killed by signal {s}")));
                }
            }
            Err(e) => result.error = Some(e.to_string()),
        }
        client.disconnect();
    }
    result.duration = start.elapsed();
    result
}

/// Runs `command` on every target, at most `opts.parallel` at once, feeding `stdin` (if any) to each. Results
/// arrive on the returned channel as hosts finish; it closes after the last one. `config` gives each host's
/// client configuration (user, keys, host-key policy).
pub fn run_command(
    targets: Vec<Target>,
    command: String,
    stdin: Option<Arc<Vec<u8>>>,
    opts: FanoutOptions,
    config: impl Fn(&Target) -> ClientConfig + Send + Sync + 'static,
) -> mpsc::Receiver<HostResult> {
    let (tx, rx) = mpsc::channel(opts.parallel.max(1) * 2);
    let sem = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let command = Arc::new(command);
    let config = Arc::new(config);
    tokio::spawn(async move {
        for target in targets {
            // Waiting for a permit here keeps at most `parallel` host tasks alive at once.
            let Ok(permit) = sem.clone().acquire_owned().await else {
                return;
            };
            let (tx, command, stdin, opts, config) =
                (tx.clone(), command.clone(), stdin.clone(), opts.clone(), config.clone());
            tokio::spawn(async move {
                let cfg = config(&target);
                let r = one_host(target, command, stdin, opts, cfg).await;
                drop(permit);
                let _ = tx.send(r).await;
            });
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_and_fold() {
        assert_eq!(expand_hosts("web[01-03,7]"), ["web01", "web02", "web03", "web7"]);
        assert_eq!(expand_hosts("db[1-2]-[a,b]"), ["db1-a", "db1-b", "db2-a", "db2-b"]);
        assert_eq!(expand_hosts("[::1]:2222"), ["[::1]:2222"]);
        let hosts: Vec<String> = ["web01", "web02", "web03", "web05", "db"].map(String::from).to_vec();
        assert_eq!(fold_hosts(&hosts), "db,web[01-03,05]");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("bob@h:2200"),
            Target {
                label: "bob@h:2200".into(),
                host: "h".into(),
                port: 2200,
                user: Some("bob".into())
            }
        );
        assert_eq!(Target::parse("[::1]:22").host, "::1");
        assert_eq!(Target::parse("h").port, 22);
    }
}
