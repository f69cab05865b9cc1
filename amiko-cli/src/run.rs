//! `amiko run`: one command on many hosts at once, with prefixed, grouped, JSON or per-file output.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64ct::Encoding;

use amiko::fanout::{expand_hosts, fold_hosts, run_command, FanoutOptions, HostResult, Target};

use crate::opts::{resolve, SshArgs};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Hosts, comma-separated; ranges like web[01-20]; repeatable.
    #[arg(short = 'H', value_name = "HOSTS")]
    pub hosts: Vec<String>,
    /// Read hosts from a file (one per line, # comments), or "-" for stdin.
    #[arg(long = "hosts", value_name = "FILE")]
    pub hosts_file: Option<String>,
    /// Hosts worked on at once.
    #[arg(long, default_value_t = 64)]
    pub parallel: usize,
    /// Give up on a host's command after this many seconds.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Connect timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Give up on a host whose login (key exchange and authentication) takes longer than this many seconds.
    #[arg(long, default_value_t = 60)]
    pub login_timeout: u64,
    /// Connection retries per host.
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Feed our stdin to the command on every host.
    #[arg(long)]
    pub stdin: bool,
    /// Show hosts with identical output once, under a folded host list.
    #[arg(long, conflicts_with = "json")]
    pub group: bool,
    /// One JSON object per host per line: host, exit_status, stdout, stderr, duration_ms, error. Output that is
    /// not UTF-8 is also given exactly, base64-encoded, as stdout_base64 / stderr_base64.
    #[arg(long)]
    pub json: bool,
    /// Also write each host's stdout and stderr to DIR/HOST.out and DIR/HOST.err.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

fn host_list(args: &RunArgs) -> Result<Vec<String>, String> {
    let mut specs: Vec<String> = args.hosts.iter().flat_map(|h| split_top_level(h)).collect();
    if let Some(f) = &args.hosts_file {
        let text = if f == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading hosts from stdin: {e}"))?;
            s
        } else {
            std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?
        };
        specs.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty()),
        );
    }
    let hosts: Vec<String> = specs.iter().flat_map(|s| expand_hosts(s)).collect();
    if hosts.is_empty() {
        return Err("no hosts: give -H or --hosts".into());
    }
    Ok(hosts)
}

/// Splits on commas that are not inside brackets (`web[1,2],db` → `web[1,2]`, `db`).
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn json_line(r: &HostResult) -> String {
    let mut v = serde_json::json!({
        "host": r.target.label,
        "exit_status": r.exit_status,
        "stdout": String::from_utf8_lossy(&r.stdout),
        "stderr": String::from_utf8_lossy(&r.stderr),
        "duration_ms": r.duration.as_millis() as u64,
        "error": r.error,
    });
    // A JSON string holds text only: bytes that are not UTF-8 would be replaced in "stdout", so the exact bytes
    // come alongside.
    for (name, data) in [("stdout_base64", &r.stdout), ("stderr_base64", &r.stderr)] {
        if std::str::from_utf8(data).is_err() {
            v[name] = base64ct::Base64::encode_string(data).into();
        }
    }
    v.to_string()
}

pub fn run(args: RunArgs) -> i32 {
    let hosts = match host_list(&args) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("amiko: {e}");
            return 255;
        }
    };
    let stdin_data = if args.stdin {
        let mut v = Vec::new();
        if std::io::stdin().read_to_end(&mut v).is_err() {
            eprintln!("amiko: could not read stdin");
            return 255;
        }
        Some(Arc::new(v))
    } else {
        None
    };
    // Resolve every host as ssh would (flags, -o, ssh_config); keys are loaded once per file.
    let mut keys: HashMap<PathBuf, amiko::PrivateKey> = HashMap::new();
    let mut configs: HashMap<String, amiko::ClientConfig> = HashMap::new();
    let mut targets = Vec::new();
    for h in &hosts {
        // `host:port` is accepted here (ssh itself wants -p): the port overrides the flags and ssh_config.
        let t = Target::parse(h);
        let mut ssh = args.ssh.clone();
        if t.port != 22 || h.ends_with(":22") {
            ssh.port = Some(t.port);
        }
        let dest = match &t.user {
            Some(u) => format!("{u}@{}", t.host),
            None => t.host.clone(),
        };
        let r = match resolve(&ssh, &dest) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("amiko: {h}: {e}");
                return 255;
            }
        };
        let mut cfg = r.config;
        for f in &r.identity_files {
            if !keys.contains_key(f) {
                match amiko::load_key_file(f, None) {
                    Ok(k) => drop(keys.insert(f.clone(), k)),
                    Err(e) if args.ssh.identity.contains(f) => {
                        eprintln!("amiko: {e}");
                        return 255;
                    }
                    Err(_) => continue,
                }
            }
            cfg.keys.extend(keys.get(f).cloned());
        }
        if let Some(name) = &r.password_env {
            cfg.password = std::env::var(name).ok();
        }
        targets.push(Target {
            label: h.clone(),
            host: r.host,
            port: r.port,
            user: Some(cfg.user.clone()),
        });
        configs.insert(h.clone(), cfg);
    }
    raise_open_files(args.parallel.max(1).min(targets.len()));
    let opts = FanoutOptions {
        parallel: args.parallel.max(1),
        connect_timeout: Duration::from_secs(args.connect_timeout),
        login_timeout: Duration::from_secs(args.login_timeout.max(1)),
        command_timeout: args.timeout.map(Duration::from_secs),
        retries: args.retries,
    };
    let tty = std::io::stdout().is_terminal();
    let command = args.command.join(" ");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiko: {e}");
            return 255;
        }
    };
    let configs = Arc::new(configs);
    let results: Vec<HostResult> = rt.block_on(async {
        let cfgs = configs.clone();
        let mut rx = run_command(targets, command, stdin_data, opts, move |t| cfgs[&t.label].clone());
        let mut all = Vec::new();
        let mut out = std::io::stdout().lock();
        while let Some(mut r) = rx.recv().await {
            if let Some(dir) = &args.out_dir {
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::write(dir.join(format!("{}.out", r.target.label)), &r.stdout);
                let _ = std::fs::write(dir.join(format!("{}.err", r.target.label)), &r.stderr);
            }
            if args.json {
                let _ = writeln!(out, "{}", json_line(&r));
            } else if !args.group {
                print_prefixed(&mut out, &r, tty);
            }
            if !args.group {
                // Printed (or written) already: only --group needs the output again, so a run over many hosts
                // holds the output of those in flight, not of every host so far.
                r.stdout = Vec::new();
                r.stderr = Vec::new();
            }
            all.push(r);
        }
        all
    });
    if args.group {
        print_grouped(&mut std::io::stdout().lock(), &results);
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.success())
        .map(|r| r.target.label.clone())
        .collect();
    eprintln!(
        "amiko run: {} host(s), {} ok, {} failed{}",
        results.len(),
        results.len() - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {}", fold_hosts(&failed))
        }
    );
    i32::from(!failed.is_empty())
}

/// Every host worked on at once holds a socket (and reads known_hosts and keys): with the usual soft limit of 1024
/// open files, `--parallel 1000` and more would fail hosts with "Too many open files". Raise the soft limit towards
/// the hard one when `parallel` needs it, as far as the hard limit allows.
fn raise_open_files(parallel: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = parallel as u64 * 2 + 64;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < want {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard);
        }
    }
}

/// The lines of a host's output as they came, without their `\n`. Bytes are kept as they are (no UTF-8
/// conversion): a command's output may be binary or in another encoding, and the prefix must not change it.
fn raw_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let lines = if data.is_empty() { 0 } else { usize::MAX };
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&b| b == b'\n').take(lines)
}

/// Writes each line of each host's output behind its label (`host: line`, `host [stderr]: line`), then the error
/// or a non-zero exit status.
fn print_prefixed(out: &mut impl Write, r: &HostResult, tty: bool) {
    let (on, off) = match (tty, r.success()) {
        (true, true) => ("\x1b[32m", "\x1b[0m"),
        (true, false) => ("\x1b[31m", "\x1b[0m"),
        _ => ("", ""),
    };
    let label = &r.target.label;
    for (stream, tag) in [(&r.stdout, ""), (&r.stderr, " [stderr]")] {
        for line in raw_lines(stream) {
            let _ = write!(out, "{on}{label}{off}{tag}: ");
            let _ = out.write_all(line);
            let _ = out.write_all(b"\n");
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "{on}{label}{off} [error]: {e}");
    } else if r.exit_status != Some(0) {
        let _ = writeln!(out, "{on}{label}{off} [exit {}]", r.exit_status.unwrap_or(255));
    }
}

/// Writes hosts with the same output (bytes, stderr after stdout, and outcome) once, under their folded names.
fn print_grouped(out: &mut impl Write, results: &[HostResult]) {
    let mut groups: Vec<(Vec<u8>, Vec<String>)> = Vec::new();
    for r in results {
        let mut body = r.stdout.clone();
        body.extend_from_slice(&r.stderr);
        if let Some(e) = &r.error {
            body.extend_from_slice(format!("[error] {e}\n").as_bytes());
        } else if r.exit_status != Some(0) {
            body.extend_from_slice(format!("[exit {}]\n", r.exit_status.unwrap_or(255)).as_bytes());
        }
        match groups.iter_mut().find(|g| g.0 == body) {
            Some(g) => g.1.push(r.target.label.clone()),
            None => groups.push((body, vec![r.target.label.clone()])),
        }
    }
    for (body, hosts) in groups {
        let label = fold_hosts(&hosts);
        let _ = write!(out, "---------------\n{label} ({})\n---------------\n", hosts.len());
        let _ = out.write_all(&body);
        let _ = out.write_all(b"\n");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn commas_inside_brackets_stay() {
        assert_eq!(super::split_top_level("web[1,2],db"), ["web[1,2]", "db"]);
    }

    fn result(label: &str, stdout: &[u8], stderr: &[u8], exit: u32) -> super::HostResult {
        super::HostResult {
            target: amiko::fanout::Target::parse(label),
            exit_status: Some(exit),
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            duration: std::time::Duration::ZERO,
            error: None,
        }
    }

    #[test]
    fn prefixed_output_keeps_the_bytes_as_they_came() {
        // Not UTF-8 (Latin-1 and raw binary), a carriage return, an empty line, no final newline.
        let r = result("h1", b"caf\xe9\r\n\n\x00\xff\xfebin", b"warn\n", 3);
        let mut out = Vec::new();
        super::print_prefixed(&mut out, &r, false);
        assert_eq!(
            out,
            b"h1: caf\xe9\r\nh1: \nh1: \x00\xff\xfebin\nh1 [stderr]: warn\nh1 [exit 3]\n".to_vec()
        );
        let mut none = Vec::new();
        super::print_prefixed(&mut none, &result("h2", b"", b"", 0), false);
        assert!(none.is_empty());
    }

    #[test]
    fn json_gives_output_that_is_not_utf8_exactly_in_base64() {
        let v: serde_json::Value =
            serde_json::from_str(&super::json_line(&result("h", b"caf\xe9\n", b"ok\n", 0))).unwrap();
        assert_eq!(v["stdout"], "caf\u{fffd}\n");
        assert_eq!(v["stdout_base64"], "Y2Fm6Qo=");
        assert_eq!(v["stderr"], "ok\n");
        assert!(v.get("stderr_base64").is_none());
    }

    #[test]
    fn grouped_output_compares_and_prints_bytes() {
        let rs = [
            result("a1", b"\xff\n", b"", 0),
            result("a2", b"\xfe\n", b"", 0),
            result("a3", b"\xff\n", b"", 0),
        ];
        let mut out = Vec::new();
        super::print_grouped(&mut out, &rs);
        let text = out.clone();
        // \xff and \xfe both read as U+FFFD through a lossy conversion: they must stay two groups.
        assert_eq!(text.windows(2).filter(|w| w == b"\xff\n").count(), 1);
        assert_eq!(text.windows(2).filter(|w| w == b"\xfe\n").count(), 1);
        assert!(out.windows(b"(2)".len()).any(|w| w == b"(2)"));
    }
}
