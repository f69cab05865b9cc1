//! ssh's command-line flags and `-o` options, merged with ssh_config, into a client configuration.

use std::path::PathBuf;
use std::time::Duration;

use amiko::{ClientConfig, HostKeyPolicy};
use amiko_proto::config::AlgorithmKind;

use crate::ssh_config;

/// Flags shared by `exec` and `shell`, as in ssh(1).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SshArgs {
    /// Port to connect to.
    #[arg(short = 'p')]
    pub port: Option<u16>,
    /// User to log in as.
    #[arg(short = 'l')]
    pub login: Option<String>,
    /// Identity (private key) file; repeatable.
    #[arg(short = 'i')]
    pub identity: Vec<PathBuf>,
    /// ssh_config file (default ~/.ssh/config).
    #[arg(short = 'F')]
    pub config_file: Option<PathBuf>,
    /// Option in ssh_config syntax, e.g. -o StrictHostKeyChecking=accept-new; repeatable.
    #[arg(short = 'o')]
    pub options: Vec<String>,
    /// Ciphers, comma-separated (ssh_config syntax, +/-/^ allowed).
    #[arg(short = 'c')]
    pub ciphers: Option<String>,
    /// MACs, comma-separated.
    #[arg(short = 'm')]
    pub macs: Option<String>,
    /// Compress the connection (zlib@openssh.com after authentication, zlib before it if the server only has
    /// that), as ssh -C; the same as -o Compression=yes.
    #[arg(short = 'C')]
    pub compression: bool,
    /// Force a pseudo-terminal.
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub tty: u8,
    /// Never allocate a pseudo-terminal.
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// Verbose (repeat for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Quiet: no warnings.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Take the password from this environment variable (never from the command line).
    #[arg(long = "password-env", value_name = "NAME")]
    pub password_env: Option<String>,
    /// Local forwarding `[bind_address:]port:host:hostport`, `[bind_address:]port:remote_socket`,
    /// `local_socket:host:hostport` or `local_socket:remote_socket`, repeatable (as ssh's -L).
    #[arg(short = 'L', value_name = "SPEC")]
    pub local_forward: Vec<String>,
    /// Remote forwarding `[bind_address:]port:host:hostport`, `[bind_address:]port:local_socket`,
    /// `remote_socket:host:hostport` or `remote_socket:local_socket`: the server listens and each connection comes
    /// back to the local target; port 0 lets the server pick (printed). Repeatable (as ssh's -R).
    #[arg(short = 'R', value_name = "SPEC")]
    pub remote_forward: Vec<String>,
    /// Dynamic forwarding `[bind_address:]port`: a SOCKS4/5 proxy through the server, repeatable (as ssh's -D).
    #[arg(short = 'D', value_name = "SPEC")]
    pub dynamic_forward: Vec<String>,
    /// Jump hosts, comma-separated `[user@]host[:port]`, reached in order (as ssh's -J / ProxyJump).
    #[arg(short = 'J', value_name = "JUMPS")]
    pub proxy_jump: Option<String>,
    /// Forward the ssh-agent (as ssh's -A / ForwardAgent yes).
    #[arg(short = 'A', conflicts_with = "no_forward_agent")]
    pub forward_agent: bool,
    /// Do not forward the ssh-agent, whatever ssh_config says (as ssh's -a).
    #[arg(short = 'a')]
    pub no_forward_agent: bool,
}

/// Everything needed to connect.
pub struct Resolved {
    pub host: String,
    pub port: u16,
    pub config: ClientConfig,
    pub batch_mode: bool,
    pub identity_files: Vec<PathBuf>,
    pub password_env: Option<String>,
    /// Jump hosts to go through, in order (empty: connect directly).
    pub jumps: Vec<String>,
    /// A command whose stdin/stdout carry the connection (ProxyCommand), tokens expanded.
    pub proxy_command: Option<String>,
    /// The agent socket to forward to the session (-A / ForwardAgent), if any.
    pub forward_agent: Option<PathBuf>,
    /// LocalForward, RemoteForward and DynamicForward from ssh_config, as -L/-R/-D specifications (every value
    /// applies, not only the first).
    pub local_forwards: Vec<String>,
    /// See `local_forwards`.
    pub remote_forwards: Vec<String>,
    /// See `local_forwards`.
    pub dynamic_forwards: Vec<String>,
}

impl Resolved {
    /// `key value` lines as `ssh -G` prints them, for the settings amiko acts on.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "hostname {}\nuser {}\nport {}\n",
            self.host, self.config.user, self.port
        );
        for f in &self.identity_files {
            out.push_str(&format!("identityfile {}\n", f.display()));
        }
        let files: Vec<String> = self
            .config
            .host_keys
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        out.push_str(&format!("userknownhostsfile {}\n", files.join(" ")));
        if !self.jumps.is_empty() {
            out.push_str(&format!("proxyjump {}\n", self.jumps.join(",")));
        }
        if let Some(p) = &self.proxy_command {
            out.push_str(&format!("proxycommand {p}\n"));
        }
        let policy = match self.config.host_keys.policy {
            HostKeyPolicy::Reject => "true",
            HostKeyPolicy::AcceptNew => "accept-new",
            _ => "false",
        };
        out.push_str(&format!("stricthostkeychecking {policy}\n"));
        out.push_str(&format!("batchmode {}\n", if self.batch_mode { "yes" } else { "no" }));
        let agent = self.config.agent.as_ref().map(|p| p.display().to_string());
        out.push_str(&format!("identityagent {}\n", agent.as_deref().unwrap_or("none")));
        let forward = self.forward_agent.as_ref().map(|p| p.display().to_string());
        out.push_str(&format!("forwardagent {}\n", forward.as_deref().unwrap_or("no")));
        let compression = if self.config.proto.compression() { "yes" } else { "no" };
        out.push_str(&format!("compression {compression}\n"));
        // As ssh -G prints it (seconds 0: no time limit), with amiko's own defaults (1 GiB, an hour) filled in.
        let secs = match self.config.proto.rekey_time {
            Duration::MAX => 0,
            t => t.as_secs(),
        };
        out.push_str(&format!("rekeylimit {} {secs}\n", self.config.proto.rekey_bytes));
        out
    }
}

/// ssh_config keywords of OpenSSH's client that amiko accepts without acting on them.
const IGNORED_KEYWORDS: &[&str] = &[
    "addressfamily",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "checkhostip",
    "clearallforwardings",
    "connectionattempts",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "hashknownhosts",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostkeyalias",
    "ignoreunknown",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "logverbose",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "preferredauthentications",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "remotecommand",
    "remoteforward",
    "requiredrsasize",
    "revokedhostkeys",
    "securitykeyprovider",
    "sendenv",
    "sessiontype",
    "setenv",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "tcpkeepalive",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "user",
    "usekeychain",
    "userknownhostsfile2",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
];

/// Splits `[user@]host`, `ssh://[user@]host[:port]`.
pub fn split_destination(dest: &str) -> (Option<String>, String, Option<u16>) {
    let (rest, url) = match dest.strip_prefix("ssh://") {
        Some(r) => (r, true),
        None => (dest, false),
    };
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, rest),
    };
    if url {
        if let Some(h) = hostport.strip_prefix('[') {
            if let Some((h, p)) = h.split_once(']') {
                return (user, h.to_string(), p.strip_prefix(':').and_then(|p| p.parse().ok()));
            }
        }
        if let Some((h, p)) = hostport.rsplit_once(':') {
            if let Ok(p) = p.parse() {
                return (user, h.to_string(), Some(p));
            }
        }
    }
    (
        user,
        hostport.trim_start_matches('[').trim_end_matches(']').to_string(),
        None,
    )
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key}: expected yes or no, got '{v}'")),
    }
}

/// Splits `Key=Value` or `Key Value`.
fn split_option(o: &str) -> Result<(String, String), String> {
    let o = o.trim();
    let i = o
        .find(|c: char| c == '=' || c.is_whitespace())
        .ok_or_else(|| format!("bad option '{o}'"))?;
    let (k, v) = o.split_at(i);
    let v = v
        .trim_start_matches(|c: char| c == '=' || c.is_whitespace())
        .trim_matches('"');
    Ok((k.to_ascii_lowercase(), v.to_string()))
}

/// Resolves flags, `-o` options and ssh_config for `destination`: command line first, then the config file (the
/// first value found wins, as ssh_config(5) says), then defaults.
pub fn resolve(args: &SshArgs, destination: &str) -> Result<Resolved, String> {
    let (dest_user, dest_host, dest_port) = split_destination(destination);
    let mut settings: Vec<(String, String)> = Vec::new();
    for o in &args.options {
        settings.push(split_option(o)?);
    }
    if let Some(c) = &args.ciphers {
        settings.insert(0, ("ciphers".into(), c.clone()));
    }
    if let Some(m) = &args.macs {
        settings.insert(0, ("macs".into(), m.clone()));
    }
    if args.compression {
        settings.insert(0, ("compression".into(), "yes".into()));
    }
    if let Some(j) = &args.proxy_jump {
        settings.insert(0, ("proxyjump".into(), j.clone()));
    }
    // As ssh: -F names the only file; otherwise ~/.ssh/config, then /etc/ssh/ssh_config. Relative Include paths
    // start from ~/.ssh for the user's file and /etc/ssh for the system one.
    let cmdline_user = args.login.clone().or(dest_user.clone());
    let target = ssh_config::Target::new(&dest_host, cmdline_user);
    let user_dir = target.home.join(".ssh");
    let files: Vec<(PathBuf, PathBuf)> = match &args.config_file {
        Some(f) => vec![(f.clone(), user_dir.clone())],
        None => vec![
            (user_dir.join("config"), user_dir.clone()),
            (PathBuf::from("/etc/ssh/ssh_config"), PathBuf::from("/etc/ssh")),
        ],
    };
    for (path, base) in &files {
        match std::fs::read_to_string(path) {
            Ok(text) => settings
                .extend(ssh_config::lookup(&text, base, &target).map_err(|e| format!("{}: {e}", path.display()))?),
            Err(e) if args.config_file.is_some() && path.as_os_str() != "/dev/null" => {
                return Err(format!("{}: {e}", path.display()))
            }
            Err(_) => {}
        }
    }
    let first = |key: &str| settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let host = first("hostname")
        .map(|h| ssh_config::expand_tokens(h, &dest_host, &dest_host, "22", "", &target))
        .unwrap_or(dest_host.clone());
    let user = args
        .login
        .clone()
        .or(dest_user)
        .or_else(|| first("user").map(str::to_string))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let port = match (args.port.or(dest_port), first("port")) {
        (Some(p), _) => p,
        (None, Some(p)) => p.parse().map_err(|_| format!("bad port '{p}'"))?,
        (None, None) => 22,
    };
    let expand = |v: &str| {
        PathBuf::from(ssh_config::expand_tokens(
            v,
            &host,
            &dest_host,
            &port.to_string(),
            &user,
            &target,
        ))
    };
    let mut cfg = ClientConfig::new(user.clone());
    let mut identity_files = args.identity.clone();
    let mut known_hosts: Option<Vec<PathBuf>> = None;
    let mut seen = std::collections::HashSet::new();
    let mut batch_mode = false;
    let mut proxy_command: Option<String> = None;
    let (mut local_forwards, mut remote_forwards, mut dynamic_forwards) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in &settings {
        if k == "identityfile" {
            identity_files.push(expand(v));
            continue;
        }
        // Forwards accumulate (ssh_config(5)); the config writes "listen target" where -L/-R write "listen:target".
        let spec = || v.split_whitespace().collect::<Vec<_>>().join(":");
        match k.as_str() {
            "localforward" => local_forwards.push(spec()),
            "remoteforward" => remote_forwards.push(spec()),
            "dynamicforward" => dynamic_forwards.push(spec()),
            _ => {}
        }
        if !seen.insert(k.clone()) {
            continue; // first value wins
        }
        let alg = |kind| -> Result<(), String> {
            let mut a = cfg.proto.algorithms.clone();
            a.apply(kind, v).map_err(|e| e.to_string())?;
            Ok(())
        };
        match k.as_str() {
            "hostname"
            | "user"
            | "port"
            | "loglevel"
            | "requesttty"
            | "passwordauthentication"
            | "pubkeyauthentication"
            | "serveralivecountmax"
            | "addkeystoagent"
            | "forwardagent"
            | "identityagent"
            | "identitiesonly" => {}
            "stricthostkeychecking" => {
                cfg.host_keys.policy = match v.to_ascii_lowercase().as_str() {
                    "yes" | "ask" => HostKeyPolicy::Reject,
                    "accept-new" => HostKeyPolicy::AcceptNew,
                    "no" | "off" => HostKeyPolicy::DangerouslyAcceptAny,
                    _ => {
                        return Err(format!(
                            "StrictHostKeyChecking: expected yes|no|accept-new|ask, got '{v}'"
                        ))
                    }
                }
            }
            "userknownhostsfile" => known_hosts = Some(v.split_whitespace().map(expand).collect()),
            "proxycommand" => {
                proxy_command = (!v.eq_ignore_ascii_case("none")).then(|| expand(v).display().to_string())
            }
            "ciphers" | "macs" | "kexalgorithms" | "hostkeyalgorithms" => {
                let kind = match k.as_str() {
                    "ciphers" => AlgorithmKind::Cipher,
                    "macs" => AlgorithmKind::Mac,
                    "kexalgorithms" => AlgorithmKind::Kex,
                    _ => AlgorithmKind::HostKey,
                };
                alg(kind)?;
                cfg.proto.algorithms.apply(kind, v).map_err(|e| e.to_string())?;
            }
            "connecttimeout" => {
                cfg.connect_timeout = Some(Duration::from_secs(
                    v.parse().map_err(|_| format!("bad ConnectTimeout '{v}'"))?,
                ))
            }
            "serveraliveinterval" => {
                let s: u64 = v.parse().map_err(|_| format!("bad ServerAliveInterval '{v}'"))?;
                cfg.proto.keepalive_interval = (s > 0).then(|| Duration::from_secs(s));
            }
            "rekeylimit" => {
                let (bytes, time) = parse_rekey_limit(v)?;
                if let Some(b) = bytes {
                    cfg.proto.rekey_bytes = b;
                }
                if let Some(t) = time {
                    cfg.proto.rekey_time = t;
                }
            }
            "batchmode" => batch_mode = parse_bool("BatchMode", v)?,
            "compression" => cfg.proto.set_compression(parse_bool("Compression", v)?),
            "proxyjump" => {}
            // OpenSSH keywords amiko reads but does not act on (yet), so real configs work unchanged.
            k if IGNORED_KEYWORDS.contains(&k) => {}
            _ => return Err(format!("Bad configuration option: {k}")),
        }
    }
    // The agent (ssh's IdentityAgent, default $SSH_AUTH_SOCK): its keys are tried after the identity files; with
    // IdentitiesOnly only those whose public key is an identity file's (filled in when the files are read).
    let agent_socket = match first("identityagent") {
        None => amiko::agent::env_socket(),
        Some(v) => agent_path(v, &expand),
    };
    let identities_only = match first("identitiesonly") {
        Some(v) => parse_bool("IdentitiesOnly", v)?,
        None => false,
    };
    cfg.agent = agent_socket.clone();
    cfg.agent_filter = identities_only.then(Vec::new);
    // ForwardAgent yes forwards IdentityAgent's socket; a path or $VAR names another; -A / -a override.
    let forward_setting = if args.forward_agent {
        Some("yes")
    } else if args.no_forward_agent {
        Some("no")
    } else {
        first("forwardagent")
    };
    let forward_agent = match forward_setting {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("no") => None,
        Some(v) if v.eq_ignore_ascii_case("yes") => agent_socket,
        Some(v) => agent_path(v, &expand),
    };
    if let Some(c) = first("serveralivecountmax") {
        cfg.proto.keepalive_count_max = c.parse().map_err(|_| format!("bad ServerAliveCountMax '{c}'"))?;
    }
    if let Some(files) = known_hosts {
        cfg.host_keys.files = files;
    }
    if identity_files.is_empty() {
        if let Some(h) = amiko::home_dir() {
            identity_files = ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|n| h.join(".ssh").join(n))
                .filter(|p| p.exists())
                .collect();
        }
    }
    let jumps = match first("proxyjump") {
        None => Vec::new(),
        Some(v) if v.eq_ignore_ascii_case("none") => Vec::new(),
        Some(v) => v
            .split(',')
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect(),
    };
    Ok(Resolved {
        host,
        port,
        config: cfg,
        batch_mode,
        identity_files,
        password_env: args.password_env.clone(),
        jumps,
        proxy_command,
        forward_agent,
        local_forwards,
        remote_forwards,
        dynamic_forwards,
    })
}

/// `RekeyLimit SIZE [TIME]` as ssh reads it: SIZE is `default` (amiko's 1 GiB) or bytes with an optional K, M, G,
/// T, P or E suffix (powers of 1024, a fraction allowed: `1.5G`), at least 16; TIME is `none` (no time limit, as
/// `0`) or sshd_config's TIME FORMAT (`3600`, `1h`, `1h30m`: s, m, h, d and w units). None leaves the default.
pub fn parse_rekey_limit(v: &str) -> Result<(Option<u64>, Option<Duration>), String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let (size, time) = match words.as_slice() {
        [size] => (*size, None),
        [size, time] => (*size, Some(*time)),
        [] => return Err("RekeyLimit: missing argument".into()),
        _ => return Err(format!("RekeyLimit: garbage at end of line in '{v}'")),
    };
    let bytes = if size.eq_ignore_ascii_case("default") {
        None
    } else {
        let b = parse_scaled(size).ok_or_else(|| {
            format!("RekeyLimit: bad size '{size}' (a number with an optional K, M or G suffix, or default)")
        })?;
        match b {
            0 => None, // ssh: 0 is the default
            1..16 => return Err(format!("RekeyLimit: {size} is too small (at least 16 bytes)")),
            b => Some(b),
        }
    };
    let time = match time {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("none") => Some(Duration::MAX),
        Some(t) => match parse_time(t) {
            // 0 turns the time limit off, as in ssh.
            Some(0) => Some(Duration::MAX),
            Some(secs) => Some(Duration::from_secs(secs)),
            None => {
                return Err(format!(
                    "RekeyLimit: bad time '{t}' (seconds, or a number with s, m, h, d or w units such as 1h30m, \
                     or none)"
                ))
            }
        },
    };
    Ok((bytes, time))
}

/// A byte count as OpenBSD's scan_scaled(3) reads it: digits, an optional fraction, an optional unit of B, K, M,
/// G, T, P or E (either case, powers of 1024). None if malformed or beyond 2^63 - 1.
fn parse_scaled(s: &str) -> Option<u64> {
    let (num, shift) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return None,
            };
            (&s[..i], shift)
        }
        _ => (s, 0),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 1u128 << shift;
    // A fraction of the unit, rounded down (digits past 10^-18 do not matter: 2^60 * 10^18 fits in a u128).
    let frac = &frac[..frac.len().min(18)];
    let fraction = match frac {
        "" => 0,
        f => f.parse::<u128>().ok()? * scale / 10u128.pow(f.len() as u32),
    };
    let total = whole.parse::<u128>().ok()?.checked_mul(scale)?.checked_add(fraction)?;
    u64::try_from(total).ok().filter(|&t| t <= i64::MAX as u64)
}
/// Seconds in sshd_config(5)'s TIME FORMAT, as OpenSSH's convtime reads it: numbers each followed by a unit (s,
/// m, h, d or w, either case; none means seconds), added up (`1h30m`). None if malformed or beyond 2^31 - 1.
fn parse_time(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let mut chars = rest.chars();
        let unit = match chars.next().map(|c| c.to_ascii_lowercase()) {
            None => 1,
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86400,
            Some('w') => 7 * 86400,
            Some(_) => return None,
        };
        rest = chars.as_str();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (total <= i32::MAX as u64).then_some(total)
}

/// An IdentityAgent / ForwardAgent value as ssh reads it: `none`, `SSH_AUTH_SOCK`, `$VAR`, or a path (tokens and
/// `~` expanded by `expand`).
fn agent_path(v: &str, expand: &dyn Fn(&str) -> PathBuf) -> Option<PathBuf> {
    if v.eq_ignore_ascii_case("none") {
        return None;
    }
    if v == "SSH_AUTH_SOCK" {
        return amiko::agent::env_socket();
    }
    if let Some(var) = v.strip_prefix('$') {
        return std::env::var_os(var).filter(|s| !s.is_empty()).map(PathBuf::from);
    }
    Some(expand(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(split_destination("bob@h"), (Some("bob".into()), "h".into(), None));
        assert_eq!(split_destination("h"), (None, "h".into(), None));
        assert_eq!(
            split_destination("ssh://bob@h:2200"),
            (Some("bob".into()), "h".into(), Some(2200))
        );
        assert_eq!(split_destination("ssh://[::1]:2200"), (None, "::1".into(), Some(2200)));
    }

    #[test]
    fn command_line_beats_config_and_first_config_value_wins() {
        let dir = std::env::temp_dir().join(format!("amiko-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config");
        std::fs::write(
            &f,
            "Host web\n  HostName 10.0.0.5\n  Port 2222\n  User alice\nHost *\n  Port 22\n  User bob\n",
        )
        .unwrap();
        let args = SshArgs {
            config_file: Some(f.clone()),
            ..Default::default()
        };
        let r = resolve(&args, "web").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.config.user.as_str()),
            ("10.0.0.5", 2222, "alice")
        );
        let args = SshArgs {
            config_file: Some(f),
            port: Some(7),
            options: vec!["User=carol".into()],
            ..Default::default()
        };
        let r = resolve(&args, "web").unwrap();
        assert_eq!((r.port, r.config.user.as_str()), (7, "carol"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn options_parse_and_bad_ones_are_named() {
        let args = SshArgs {
            options: vec![
                "StrictHostKeyChecking accept-new".into(),
                "Ciphers=aes256-gcm@openssh.com".into(),
                "ServerAliveInterval=5".into(),
            ],
            config_file: Some("/nonexistent-amiko".into()),
            ..Default::default()
        };
        assert!(resolve(&args, "h").is_err(), "missing -F file is an error");
        let args = SshArgs {
            config_file: None,
            ..args
        };
        let r = resolve(&args, "h").unwrap();
        assert_eq!(r.config.host_keys.policy, HostKeyPolicy::AcceptNew);
        assert_eq!(r.config.proto.algorithms.cipher, ["aes256-gcm@openssh.com"]);
        assert_eq!(r.config.proto.keepalive_interval, Some(Duration::from_secs(5)));
        let bad = SshArgs {
            options: vec!["Frobnicate=yes".into()],
            ..Default::default()
        };
        assert!(resolve(&bad, "h").err().unwrap().contains("frobnicate"));
        let bad = SshArgs {
            ciphers: Some("rot13".into()),
            ..Default::default()
        };
        assert!(resolve(&bad, "h").err().unwrap().contains("rot13"));
    }

    #[test]
    fn rekey_limit_sizes_times_and_bad_values() {
        let r = |v: &str| parse_rekey_limit(v);
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(r("1G 1h"), Ok((Some(1 << 30), h(1))));
        assert_eq!(r("500M"), Ok((Some(500 << 20), None)));
        assert_eq!(r("64K"), Ok((Some(64 << 10), None)));
        assert_eq!(r("64k 90"), Ok((Some(64 << 10), Some(Duration::from_secs(90)))));
        assert_eq!(r("1.5G 1h30m"), Ok((Some(3 << 29), Some(Duration::from_secs(5400)))));
        assert_eq!(r("4096 2d1w"), Ok((Some(4096), Some(Duration::from_secs(9 * 86400)))));
        assert_eq!(r("default none"), Ok((None, Some(Duration::MAX))));
        assert_eq!(r("default"), Ok((None, None)));
        assert_eq!(r("0 0"), Ok((None, Some(Duration::MAX))));
        assert_eq!(r("1E"), Ok((Some(1 << 60), None)));
        for (bad, says) in [
            ("", "missing"),
            ("lots", "bad size 'lots'"),
            ("1Q", "bad size '1Q'"),
            ("-1", "bad size '-1'"),
            ("8E", "bad size '8E'"),
            ("15", "too small"),
            ("1G soon", "bad time 'soon'"),
            ("1G 1y", "bad time '1y'"),
            ("1G 99999999999", "bad time"),
            ("1G 1h extra", "garbage"),
        ] {
            let e = r(bad).expect_err(bad);
            assert!(e.starts_with("RekeyLimit: ") && e.contains(says), "{bad}: {e}");
        }
        // Through -o, into the engine's settings.
        let args = SshArgs {
            options: vec!["RekeyLimit=64K 10m".into()],
            config_file: Some("/dev/null".into()),
            ..Default::default()
        };
        let c = resolve(&args, "h").unwrap().config.proto.clone();
        assert_eq!((c.rekey_bytes, c.rekey_time), (65536, Duration::from_secs(600)));
        let bad = SshArgs {
            options: vec!["RekeyLimit=huge".into()],
            config_file: Some("/dev/null".into()),
            ..Default::default()
        };
        assert!(resolve(&bad, "h")
            .err()
            .unwrap()
            .contains("RekeyLimit: bad size 'huge'"));
    }

    #[test]
    fn compression_from_flag_option_and_config() {
        let dir = std::env::temp_dir().join(format!("amiko-opts-comp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config");
        std::fs::write(&f, "Host packed\n  Compression yes\nHost *\n  Compression no\n").unwrap();
        let with = |compression: bool, options: &[&str], dest: &str| {
            let args = SshArgs {
                config_file: Some(f.clone()),
                compression,
                options: options.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            let r = resolve(&args, dest).unwrap();
            assert!(r.describe().contains(&format!(
                "compression {}",
                if r.config.proto.compression() { "yes" } else { "no" }
            )));
            r.config.proto.algorithms.compression.clone()
        };
        assert_eq!(with(false, &[], "plain"), ["none"]);
        assert_eq!(with(false, &[], "packed"), ["zlib@openssh.com", "zlib", "none"]);
        assert_eq!(with(true, &[], "plain"), ["zlib@openssh.com", "zlib", "none"]);
        assert_eq!(with(false, &["Compression=yes"], "plain")[0], "zlib@openssh.com");
        assert_eq!(with(false, &["Compression=no"], "packed"), ["none"]);
        let bad = SshArgs {
            options: vec!["Compression=maybe".into()],
            config_file: Some(f.clone()),
            ..Default::default()
        };
        assert!(resolve(&bad, "h").err().unwrap().contains("Compression"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
