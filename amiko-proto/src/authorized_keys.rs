//! OpenSSH authorized_keys lines (sshd(8), "AUTHORIZED_KEYS FILE FORMAT"): the options in front of a key, and the
//! restrictions a login gets from them or from a user certificate. Parsing and matching only; files are read and
//! clocks are looked at by the caller.
//!
//! A line is `[options] keytype base64 [comment]`. The options are comma-separated, their keywords
//! case-insensitive; a value is written `name="value"`, in double quotes, with `\"` for a quote inside it; no space
//! may appear outside quotes. An option this module does not know, a malformed value, a repeated `command`, `from`
//! or `principals`, or a line longer than [`MAX_LINE_LEN`] is an error: the caller must then skip the line, as sshd
//! does, so a typo never turns a restricted key into an unrestricted one.
//!
//! ```
//! use amiko_proto::authorized_keys::{parse_line, parse_options};
//! let line = "restrict,pty,command=\"echo \\\"hi\\\"\" ssh-ed25519 \
//!             AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice";
//! let entry = parse_line(line).unwrap().unwrap();
//! let r = &entry.options.restrictions;
//! assert_eq!(r.force_command.as_deref(), Some("echo \"hi\""));
//! assert!(r.permit_pty && !r.permit_port_forwarding && !r.permit_agent_forwarding);
//! assert!(parse_options("no-such-option").is_err());
//! assert!(parse_line("# a comment").unwrap().is_none());
//! ```

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// The longest authorized_keys line accepted, in bytes (sshd's 8 KiB: enough for a 16384-bit RSA key with
/// options). Longer lines are errors.
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// A `permitopen` or `permitlisten` entry: a host (or pattern) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPermission {
    /// The host, without the brackets an IPv6 address is written in. `*` stands for any host; in `permitlisten`
    /// the host is a pattern (`*` and `?` wildcards).
    pub host: String,
    /// The port; None for `*`, any port.
    pub port: Option<u16>,
}

impl ForwardPermission {
    /// Parses `host:port` (`[v6addr]:port` for an IPv6 address; the port a number or `*`). With `bare_port`, a
    /// lone port is accepted too and means any host (`permitlisten="8080"`).
    pub fn parse(s: &str, bare_port: bool) -> Result<Self> {
        let bad = || Error::Key(format!("bad host:port \"{}\"", s.escape_debug()));
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = after.strip_prefix(':').ok_or_else(bad)?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad());
            }
            (h.to_string(), port)
        } else {
            match s.split_once(':') {
                // A bare IPv6 address cannot be told from its port: it must be in brackets.
                Some((_, p)) if p.contains(':') => return Err(bad()),
                Some((h, p)) => (h.to_string(), p),
                None if bare_port => ("*".to_string(), s),
                None => return Err(bad()),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let port = match port {
            "*" => None,
            p if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        Ok(ForwardPermission { host, port })
    }

    fn port_ok(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }
}

/// What one login may do, as authorized_keys options or a user certificate's critical options and extensions say
/// (sshd's `sshauthopt`). An unrestricted login is [`LoginRestrictions::unrestricted`]; [`LoginRestrictions::merge`]
/// combines two sources, keeping whatever is most restrictive in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRestrictions {
    /// Run this command whatever the client asks to run (a shell, a command or a subsystem), with what it asked
    /// in SSH_ORIGINAL_COMMAND (authorized_keys `command=`, a certificate's `force-command`).
    pub force_command: Option<String>,
    /// A pty may be allocated (`pty` / `no-pty`; a certificate's `permit-pty`).
    pub permit_pty: bool,
    /// TCP and Unix socket forwarding both ways (`port-forwarding` / `no-port-forwarding`; a certificate's
    /// `permit-port-forwarding`).
    pub permit_port_forwarding: bool,
    /// Agent forwarding (`agent-forwarding` / `no-agent-forwarding`; `permit-agent-forwarding`).
    pub permit_agent_forwarding: bool,
    /// X11 forwarding (`X11-forwarding` / `no-X11-forwarding`; `permit-X11-forwarding`). amiko's server never
    /// forwards X11, so this only records what was said.
    pub permit_x11_forwarding: bool,
    /// Running `~/.ssh/rc` (`user-rc` / `no-user-rc`; `permit-user-rc`). amiko's server never runs it, so this
    /// only records what was said.
    pub permit_user_rc: bool,
    /// If set, direct-tcpip (ssh -L, -D, -J) may only reach these host:port pairs (`permitopen=`); host names
    /// are compared literally, without lookup or patterns, `*` standing for any host or port.
    pub permit_open: Option<Vec<ForwardPermission>>,
    /// If set, remote forwards (ssh -R) may only listen on these (`permitlisten=`); hosts are patterns matched
    /// against the address the client asked for.
    pub permit_listen: Option<Vec<ForwardPermission>>,
}

impl LoginRestrictions {
    /// Nothing restricted: a key without options.
    pub fn unrestricted() -> Self {
        LoginRestrictions {
            force_command: None,
            permit_pty: true,
            permit_port_forwarding: true,
            permit_agent_forwarding: true,
            permit_x11_forwarding: true,
            permit_user_rc: true,
            permit_open: None,
            permit_listen: None,
        }
    }

    /// Everything restricted, as the `restrict` option: no pty, no forwarding of any kind, no `~/.ssh/rc`. A user
    /// certificate starts here and each extension it has lifts one restriction.
    pub fn restricted() -> Self {
        LoginRestrictions {
            force_command: None,
            permit_pty: false,
            permit_port_forwarding: false,
            permit_agent_forwarding: false,
            permit_x11_forwarding: false,
            permit_user_rc: false,
            permit_open: None,
            permit_listen: None,
        }
    }

    /// Whether nothing is restricted.
    pub fn is_unrestricted(&self) -> bool {
        *self == Self::unrestricted()
    }

    /// Both sets of restrictions at once, as sshd combines a certificate's with its CA line's options: a thing is
    /// permitted only if both permit it, and `permitopen` / `permitlisten` lists are intersected. Two different
    /// forced commands cannot both run: that is an error, and sshd refuses such a login.
    pub fn merge(&self, other: &Self) -> Result<Self> {
        let force_command = match (&self.force_command, &other.force_command) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::Key(
                    "the certificate's force-command and the key's command= differ".into(),
                ))
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let both = |a: &Option<Vec<ForwardPermission>>, b: &Option<Vec<ForwardPermission>>| match (a, b) {
            (Some(a), Some(b)) => Some(a.iter().filter(|p| b.contains(p)).cloned().collect()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Ok(LoginRestrictions {
            force_command,
            permit_pty: self.permit_pty && other.permit_pty,
            permit_port_forwarding: self.permit_port_forwarding && other.permit_port_forwarding,
            permit_agent_forwarding: self.permit_agent_forwarding && other.permit_agent_forwarding,
            permit_x11_forwarding: self.permit_x11_forwarding && other.permit_x11_forwarding,
            permit_user_rc: self.permit_user_rc && other.permit_user_rc,
            permit_open: both(&self.permit_open, &other.permit_open),
            permit_listen: both(&self.permit_listen, &other.permit_listen),
        })
    }

    /// Whether a direct-tcpip channel to `host:port` may be opened: port forwarding permitted and, with
    /// `permitopen`, the target listed (literally, as sshd compares).
    pub fn allows_open(&self, host: &str, port: u16) -> bool {
        self.permit_port_forwarding
            && self
                .permit_open
                .as_ref()
                .is_none_or(|l| l.iter().any(|p| (p.host == "*" || p.host == host) && p.port_ok(port)))
    }

    /// Whether a remote forward may listen on `address:port` as the client asked (`address` as sent, `localhost`
    /// when ssh's -R names no address): port forwarding permitted and, with `permitlisten`, a listed pattern
    /// matching.
    pub fn allows_listen(&self, address: &str, port: u16) -> bool {
        self.permit_port_forwarding
            && self.permit_listen.as_ref().is_none_or(|l| {
                l.iter()
                    .any(|p| crate::known_hosts::glob_match(&p.host, address) && p.port_ok(port))
            })
    }

    /// Whether Unix socket forwarding (either way) is permitted: sshd ties it to port forwarding.
    pub fn allows_streamlocal(&self) -> bool {
        self.permit_port_forwarding
    }
}

/// An `expiry-time` value: a civil date and time, in UTC or in the server's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryTime {
    /// Year (four digits).
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
    /// Hour, 0 to 23 (0 for a date alone).
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
    /// Written with a trailing `Z`: UTC. Otherwise the server's local time zone, as sshd reads it.
    pub utc: bool,
}

impl ExpiryTime {
    /// Parses `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::Key(format!("bad expiry-time \"{}\"", s.escape_debug()));
        let (digits, utc) = match s.strip_suffix(['Z', 'z']) {
            Some(d) => (d, true),
            None => (s, false),
        };
        if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n =
            |from: usize, len: usize| -> u16 { digits.get(from..from + len).and_then(|d| d.parse().ok()).unwrap_or(0) };
        let t = ExpiryTime {
            year: n(0, 4),
            month: n(4, 2) as u8,
            day: n(6, 2) as u8,
            hour: n(8, 2) as u8,
            minute: n(10, 2) as u8,
            second: n(12, 2) as u8,
            utc,
        };
        // `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
        #[allow(clippy::manual_is_multiple_of)]
        let leap = t.year % 4 == 0 && (t.year % 100 != 0 || t.year % 400 == 0);
        let days_in_month = match t.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if t.year < 1970 || t.day == 0 || t.day > days_in_month || t.hour > 23 || t.minute > 59 || t.second > 59 {
            return Err(bad());
        }
        Ok(t)
    }

    /// The Unix time of this date and time read as UTC (the caller adjusts for a local time zone when `utc` is
    /// false).
    pub fn unix_utc(&self) -> i64 {
        // Days since 1970-01-01 of a proleptic Gregorian date (years counted from March, so the leap day is last).
        let (y, m) = if self.month <= 2 {
            (self.year as i64 - 1, self.month as i64 + 9)
        } else {
            (self.year as i64, self.month as i64 - 3)
        };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let day_of_year = (153 * m + 2) / 5 + self.day as i64 - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64
    }
}

/// The options of one authorized_keys line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOptions {
    /// What a login with this key may do (`command`, `restrict`, `no-pty`, `permitopen`, ...).
    pub restrictions: LoginRestrictions,
    /// `from="pattern-list"`: the client's address must match (see [`from_matches`]).
    pub from: Option<String>,
    /// `expiry-time`: the key is refused after this time (the earliest, if given more than once).
    pub expiry_time: Option<ExpiryTime>,
    /// `environment="NAME=value"` entries, in order. sshd sets them only with PermitUserEnvironment, which is off by
    /// default; amiko's server never sets them.
    pub environment: Vec<String>,
    /// `cert-authority`: the key is a CA trusted to sign user certificates, not a key to log in with itself.
    pub cert_authority: bool,
    /// `principals="..."` on a cert-authority line: a certificate must name one of these instead of the user.
    pub principals: Option<Vec<String>>,
    /// `no-touch-required` (security keys). Recorded only: amiko's server requires user presence anyway.
    pub no_touch_required: bool,
    /// `tunnel="n"`. Recorded only: amiko's server refuses tun/tap forwarding.
    pub tunnel: Option<String>,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            restrictions: LoginRestrictions::unrestricted(),
            from: None,
            expiry_time: None,
            environment: Vec::new(),
            cert_authority: false,
            principals: None,
            no_touch_required: false,
            tunnel: None,
        }
    }
}

impl KeyOptions {
    /// Whether these are the options of a line that has none.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One authorized key: the key and the options in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// The options (the defaults, unrestricted, when the line has none).
    pub options: KeyOptions,
    /// The key (or, for a `cert-authority` line, the CA's key).
    pub key: PublicKey,
}

impl From<PublicKey> for AuthorizedKey {
    /// A key without options.
    fn from(key: PublicKey) -> Self {
        AuthorizedKey {
            options: KeyOptions::default(),
            key,
        }
    }
}

impl AuthorizedKey {
    /// Parses one line that must hold a key (see [`parse_line`]; a blank or comment line is an error here).
    pub fn parse(line: &str) -> Result<Self> {
        parse_line(line)?.ok_or_else(|| Error::Key("no key on the line".into()))
    }
}

impl std::str::FromStr for AuthorizedKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Parses one authorized_keys line. Ok(None) for a blank line or a `#` comment; an error for anything that would
/// not authorize its key as written: a line over [`MAX_LINE_LEN`], a bad option, a key that does not parse, or a
/// certificate (authorized_keys lists keys, and CAs with `cert-authority`).
pub fn parse_line(line: &str) -> Result<Option<AuthorizedKey>> {
    if line.len() > MAX_LINE_LEN {
        return Err(Error::Key(format!(
            "line of {} bytes, longer than {MAX_LINE_LEN}",
            line.len()
        )));
    }
    let line = line.trim_start_matches([' ', '\t']).trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // As sshd: the line is first read as a key; if it is not one, what comes first is options.
    let (options, key) = match PublicKey::from_openssh(line) {
        Ok(key) => (KeyOptions::default(), key),
        Err(_) => {
            let end = options_end(line)?;
            let options = parse_options(&line[..end])?;
            let rest = line[end..].trim_start_matches([' ', '\t']);
            let key = PublicKey::from_openssh(rest).map_err(|e| Error::Key(format!("after the options: {e}")))?;
            (options, key)
        }
    };
    if key.certificate().is_some() {
        return Err(Error::Key(
            "a certificate is not an authorized key (list its CA with cert-authority)".into(),
        ));
    }
    Ok(Some(AuthorizedKey { options, key }))
}

/// Where the options field ends: at the first space or tab outside double quotes.
fn options_end(line: &str) -> Result<usize> {
    let b = line.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted && b.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    Err(Error::Key(if quoted {
        "unterminated quoted option value".into()
    } else {
        "no key after the options".into()
    }))
}

/// Parses an options field: comma-separated options, keywords case-insensitive, values as `name="value"` with
/// `\"` for a quote inside. Unknown or unsupported options (`verify-required`, which amiko cannot enforce) and
/// malformed values are errors.
pub fn parse_options(field: &str) -> Result<KeyOptions> {
    if field.len() > MAX_LINE_LEN {
        return Err(Error::Key("options longer than a line may be".into()));
    }
    let mut out = KeyOptions::default();
    let mut rest = field;
    loop {
        let name_len = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = &rest[..name_len];
        let shown = name.escape_debug().to_string();
        let bad = |why: &str| Err(Error::Key(format!("option \"{shown}\": {why}")));
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return bad("not an option name");
        }
        rest = &rest[name_len..];
        let value = match rest.strip_prefix('=') {
            Some(v) => {
                let (value, after) = quoted_value(v).map_err(|e| Error::Key(format!("option \"{shown}\": {e}")))?;
                rest = after;
                Some(value)
            }
            None => None,
        };
        let key = name.to_ascii_lowercase();
        let r = &mut out.restrictions;
        match (key.as_str(), value) {
            ("restrict", None) => {
                // Everything off, the forced command and the permitted targets kept.
                let restricted = LoginRestrictions::restricted();
                r.permit_pty = restricted.permit_pty;
                r.permit_port_forwarding = restricted.permit_port_forwarding;
                r.permit_agent_forwarding = restricted.permit_agent_forwarding;
                r.permit_x11_forwarding = restricted.permit_x11_forwarding;
                r.permit_user_rc = restricted.permit_user_rc;
            }
            ("pty", None) => r.permit_pty = true,
            ("no-pty", None) => r.permit_pty = false,
            ("port-forwarding", None) => r.permit_port_forwarding = true,
            ("no-port-forwarding", None) => r.permit_port_forwarding = false,
            ("agent-forwarding", None) => r.permit_agent_forwarding = true,
            ("no-agent-forwarding", None) => r.permit_agent_forwarding = false,
            ("x11-forwarding", None) => r.permit_x11_forwarding = true,
            ("no-x11-forwarding", None) => r.permit_x11_forwarding = false,
            ("user-rc", None) => r.permit_user_rc = true,
            ("no-user-rc", None) => r.permit_user_rc = false,
            ("cert-authority", None) => out.cert_authority = true,
            ("no-touch-required", None) => out.no_touch_required = true,
            ("verify-required", None) => {
                return bad("not supported: amiko's server does not check security-key user verification")
            }
            ("command", Some(v)) => {
                if r.force_command.is_some() {
                    return bad("given twice");
                }
                r.force_command = Some(v);
            }
            ("from", Some(v)) => {
                if out.from.is_some() {
                    return bad("given twice");
                }
                check_pattern_list(&v)?;
                out.from = Some(v);
            }
            ("principals", Some(v)) => {
                if out.principals.is_some() {
                    return bad("given twice");
                }
                let list: Vec<String> = v.split(',').map(str::to_string).collect();
                if list.iter().any(|p| p.is_empty()) {
                    return bad("empty principal");
                }
                out.principals = Some(list);
            }
            ("environment", Some(v)) => {
                let name_ok = v
                    .split_once('=')
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                if !name_ok {
                    return bad("expected NAME=value");
                }
                out.environment.push(v);
            }
            ("expiry-time", Some(v)) => {
                let t = ExpiryTime::parse(&v)?;
                // Given twice, the earlier time wins (both must be UTC, or both local, to be compared here).
                out.expiry_time = Some(match out.expiry_time {
                    Some(prev) if prev.utc != t.utc => return bad("given twice, once in UTC and once not"),
                    Some(prev) if prev.unix_utc() <= t.unix_utc() => prev,
                    _ => t,
                });
            }
            ("permitopen", Some(v)) => r
                .permit_open
                .get_or_insert_with(Vec::new)
                .push(ForwardPermission::parse(&v, false)?),
            ("permitlisten", Some(v)) => r
                .permit_listen
                .get_or_insert_with(Vec::new)
                .push(ForwardPermission::parse(&v, true)?),
            ("tunnel", Some(v)) => {
                let number = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                if v != "any" && !number {
                    return bad("expected a device number");
                }
                out.tunnel = Some(v);
            }
            (
                "restrict"
                | "pty"
                | "no-pty"
                | "port-forwarding"
                | "no-port-forwarding"
                | "agent-forwarding"
                | "no-agent-forwarding"
                | "x11-forwarding"
                | "no-x11-forwarding"
                | "user-rc"
                | "no-user-rc"
                | "cert-authority"
                | "no-touch-required",
                Some(_),
            ) => return bad("takes no value"),
            (
                "command" | "from" | "principals" | "environment" | "expiry-time" | "permitopen" | "permitlisten"
                | "tunnel",
                None,
            ) => return bad("needs a value in double quotes"),
            _ => return bad("unknown option"),
        }
        if rest.is_empty() {
            break;
        }
        rest = match rest.strip_prefix(',') {
            Some(r) => r,
            None => return Err(Error::Key(format!("option \"{shown}\": junk after it"))),
        };
    }
    Ok(out)
}

/// Reads `"value"` at the start of `s` (which follows `name=`): the value with `\"` unescaped, and what follows
/// the closing quote. A backslash before anything else is kept as is.
fn quoted_value(s: &str) -> std::result::Result<(String, &str), &'static str> {
    let body = s.strip_prefix('"').ok_or("the value must be in double quotes")?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            '\0' => return Err("NUL in the value"),
            c => value.push(c),
        }
    }
    Err("unterminated quoted value")
}

/// Checks a `from=` pattern list without matching it: every entry non-empty, and entries that are addresses or
/// CIDR ranges well formed.
fn check_pattern_list(list: &str) -> Result<()> {
    from_matches(list, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))?;
    from_matches(list, IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))?;
    Ok(())
}

/// Whether a client at `ip` may use a key whose line says `from="list"`. The list is sshd's pattern-list: entries
/// separated by commas, each an address pattern with `*` and `?` wildcards, an address, or a CIDR range
/// (`10.0.0.0/8`), and any of them negated with a leading `!`. A negated entry that matches refuses whatever else
/// matches; otherwise one plain entry must match. Host name patterns are matched against the address's text only,
/// as sshd does with its default `UseDNS no`: no name is looked up. An IPv4-mapped IPv6 address is matched as the
/// IPv4 address. A malformed address or range (`10.0.0.1/8`, `10.0.0.0/33`) is an error, never a match.
pub fn from_matches(list: &str, ip: IpAddr) -> Result<bool> {
    let ip = ip.to_canonical();
    let text = ip.to_string();
    let (mut matched, mut refused) = (false, false);
    // Every entry is looked at, so a malformed one is an error wherever it is.
    for entry in list.split(',') {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if pattern.is_empty() || pattern.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Error::Key(format!("bad from= entry \"{}\"", entry.escape_debug())));
        }
        let hit = if pattern.contains('/') || pattern.parse::<IpAddr>().is_ok() {
            crate::cert::source_address_match(pattern, ip)?
        } else {
            crate::known_hosts::glob_match(pattern, &text)
        };
        if negated {
            refused |= hit;
        } else {
            matched |= hit;
        }
    }
    Ok(matched && !refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn opts(s: &str) -> KeyOptions {
        parse_options(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_lines_comments_and_blank_lines() {
        let k = parse_line(&format!("{KEY} alice@example")).unwrap().unwrap();
        assert!(k.options.is_empty() && k.options.restrictions.is_unrestricted());
        assert_eq!(k.key, PublicKey::from_openssh(KEY).unwrap());
        assert_eq!(parse_line(&format!("  \t{KEY}\r")).unwrap().unwrap().key, k.key);
        for blank in ["", "   ", "\t", "# comment", "   # indented comment"] {
            assert!(parse_line(blank).unwrap().is_none(), "{blank:?}");
        }
        assert_eq!(AuthorizedKey::from(k.key.clone()), k);
        assert!(AuthorizedKey::parse("# nothing").is_err());
        assert_eq!(KEY.parse::<AuthorizedKey>().unwrap(), k);
    }

    #[test]
    fn options_in_front_of_the_key() {
        let k = parse_line(&format!("restrict,command=\"echo a, b\" {KEY} c"))
            .unwrap()
            .unwrap();
        assert_eq!(k.options.restrictions.force_command.as_deref(), Some("echo a, b"));
        assert!(!k.options.restrictions.permit_pty);
        // Spaces inside quotes do not end the options; a tab may separate them from the key.
        let k = parse_line(&format!("from=\"127.0.0.1\",command=\"a  b\\\" c\"\t{KEY}"))
            .unwrap()
            .unwrap();
        assert_eq!(k.options.restrictions.force_command.as_deref(), Some("a  b\" c"));
        assert_eq!(k.options.from.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(
            opts(r#"command="echo \"quoted\" done""#)
                .restrictions
                .force_command
                .as_deref(),
            Some("echo \"quoted\" done")
        );
        // A backslash before anything but a quote stays.
        assert_eq!(
            opts(r#"command="printf 'a\n' \\x""#)
                .restrictions
                .force_command
                .as_deref(),
            Some(r"printf 'a\n' \\x")
        );
        // Commas inside quotes belong to the value.
        let o = opts(r#"command="a,b,c",no-pty"#);
        assert_eq!(o.restrictions.force_command.as_deref(), Some("a,b,c"));
        assert!(!o.restrictions.permit_pty);
        assert_eq!(opts(r#"command="""#).restrictions.force_command.as_deref(), Some(""));
        // Keywords are case-insensitive.
        assert!(!opts("No-Pty,NO-X11-FORWARDING").restrictions.permit_x11_forwarding);
        assert!(!opts("RESTRICT").restrictions.permit_agent_forwarding);
    }

    #[test]
    fn bad_options_are_errors() {
        for bad in [
            "",
            ",",
            "no-pty,",
            ",no-pty",
            "no-pty,,restrict",
            "bogus",
            "no-pty,frobnicate",
            "command=echo",
            "command=\"unterminated",
            "command=\"a\"junk",
            "command=\"a\" ",
            "command",
            "from",
            "no-pty=\"x\"",
            "restrict=\"\"",
            "command=\"a\",command=\"b\"",
            "from=\"a\",from=\"b\"",
            "from=\"10.0.0.1/8\"",
            "from=\"10.0.0.0/33\"",
            "from=\"a,,b\"",
            "from=\"\"",
            "environment=\"novalue\"",
            "environment=\"=x\"",
            "environment=\"BAD-NAME=x\"",
            "expiry-time=\"2020\"",
            "expiry-time=\"20201301\"",
            "expiry-time=\"20200230\"",
            "expiry-time=\"202001011260\"",
            "expiry-time=\"20200101x\"",
            "permitopen=\"host\"",
            "permitopen=\"host:\"",
            "permitopen=\"host:99999\"",
            "permitopen=\"host:0\"",
            "permitopen=\":22\"",
            "permitopen=\"::1:22\"",
            "permitopen=\"[nonsense]:22\"",
            "permitlisten=\"[::1]\"",
            "principals=\"a,,b\"",
            "tunnel=\"x\"",
            "verify-required",
            "no pty",
            "command=\"a\0b\"",
        ] {
            assert!(parse_options(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            format!("bogus-option {KEY}"),
            format!("no-pty,bogus {KEY}"),
            format!("command=\"unterminated {KEY}"),
            "ssh-ed25519 notbase64".to_string(),
            "restrict".to_string(),
            "restrict ssh-ed25519".to_string(),
            format!("restrict {}", &KEY[..40]),
        ] {
            assert!(parse_line(&bad).is_err(), "{bad:?} accepted");
        }
        // Overlong lines are refused, whatever they hold.
        let long = format!("command=\"{}\" {KEY}", "x".repeat(MAX_LINE_LEN));
        assert!(parse_line(&long).is_err());
        let padded = format!("{KEY} {}", "c".repeat(MAX_LINE_LEN));
        assert!(parse_line(&padded).is_err());
        let fits = format!("{KEY} {}", "c".repeat(MAX_LINE_LEN - KEY.len() - 1));
        assert!(parse_line(&fits).unwrap().is_some());
    }

    #[test]
    fn restrict_and_its_exceptions_apply_in_order() {
        let r = opts("restrict").restrictions;
        assert_eq!(r, LoginRestrictions::restricted());
        let r = opts("restrict,pty").restrictions;
        assert!(r.permit_pty && !r.permit_port_forwarding && !r.permit_agent_forwarding);
        let r = opts("pty,restrict").restrictions;
        assert!(!r.permit_pty);
        let r = opts("restrict,port-forwarding,agent-forwarding,X11-forwarding,user-rc").restrictions;
        assert!(r.permit_port_forwarding && r.permit_agent_forwarding && r.permit_x11_forwarding && r.permit_user_rc);
        assert!(!r.permit_pty);
        let r = opts("no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc").restrictions;
        assert!(r.permit_pty && !r.permit_port_forwarding && !r.permit_agent_forwarding);
        assert!(!r.permit_x11_forwarding && !r.permit_user_rc);
        let r = opts("command=\"x\",restrict").restrictions;
        assert_eq!(r.force_command.as_deref(), Some("x"));
    }

    #[test]
    fn permitopen_and_permitlisten() {
        let r = opts(r#"permitopen="192.0.2.1:80",permitopen="[::1]:22",permitopen="db:*""#).restrictions;
        assert!(r.allows_open("192.0.2.1", 80));
        assert!(!r.allows_open("192.0.2.1", 81));
        assert!(r.allows_open("::1", 22));
        assert!(r.allows_open("db", 5432));
        assert!(!r.allows_open("192.0.2.2", 80));
        // No pattern matching for permitopen.
        let r = opts(r#"permitopen="192.0.2.*:80""#).restrictions;
        assert!(!r.allows_open("192.0.2.1", 80));
        let r = opts(r#"permitopen="*:443""#).restrictions;
        assert!(r.allows_open("anything", 443) && !r.allows_open("anything", 80));
        // Forwarding off wins over a list.
        let r = opts(r#"restrict,permitopen="192.0.2.1:80""#).restrictions;
        assert!(!r.allows_open("192.0.2.1", 80));

        let r = opts(r#"permitlisten="localhost:8080",permitlisten="[::1]:22000",permitlisten="9000""#).restrictions;
        assert!(r.allows_listen("localhost", 8080));
        assert!(!r.allows_listen("127.0.0.1", 8080));
        assert!(r.allows_listen("::1", 22000));
        assert!(r.allows_listen("", 9000) && r.allows_listen("0.0.0.0", 9000));
        assert!(!r.allows_listen("localhost", 8081));
        let r = opts(r#"permitlisten="*.example:*""#).restrictions;
        assert!(r.allows_listen("a.example", 1) && !r.allows_listen("a.other", 1));
        // Without a list everything forwarding allows.
        let r = opts("no-pty").restrictions;
        assert!(r.allows_open("x", 1) && r.allows_listen("x", 1) && r.allows_streamlocal());
        assert!(!opts("no-port-forwarding").restrictions.allows_streamlocal());
    }

    #[test]
    fn from_patterns() {
        let m = |list: &str, addr: &str| from_matches(list, ip(addr)).unwrap();
        assert!(m("127.0.0.1", "127.0.0.1"));
        assert!(!m("10.9.9.9", "127.0.0.1"));
        assert!(m("127.0.0.*", "127.0.0.1"));
        assert!(m("127.0.0.?", "127.0.0.1"));
        assert!(!m("127.0.0.?", "127.0.0.10"));
        assert!(m("10.0.0.0/8,127.0.0.0/8", "127.1.2.3"));
        assert!(!m("10.0.0.0/8", "127.0.0.1"));
        assert!(m("*", "192.0.2.1"));
        // Negation: a negated match refuses; negations alone never allow.
        assert!(!m("!127.0.0.1,*", "127.0.0.1"));
        assert!(m("!127.0.0.2,*", "127.0.0.1"));
        assert!(!m("!10.0.0.1,!10.0.0.2", "127.0.0.1"));
        assert!(!m("127.0.0.0/8,!127.0.0.0/24", "127.0.0.5"));
        // IPv6, and IPv4-mapped addresses as IPv4.
        assert!(m("::1", "::1"));
        assert!(m("2001:db8::/32", "2001:db8::5"));
        assert!(m("127.0.0.1", "::ffff:127.0.0.1"));
        assert!(m("127.0.0.*", "::ffff:127.0.0.1"));
        // Names are not looked up: they match only the address's text.
        assert!(!m("localhost", "127.0.0.1"));
        assert!(!m("*.example.com", "127.0.0.1"));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "", "a,,b", "!", "x/8"] {
            assert!(from_matches(bad, ip("127.0.0.1")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expiry_times() {
        let t = ExpiryTime::parse("19700101Z").unwrap();
        assert_eq!((t.unix_utc(), t.utc), (0, true));
        assert_eq!(ExpiryTime::parse("20000301Z").unwrap().unix_utc(), 951_868_800);
        assert_eq!(ExpiryTime::parse("202402291230Z").unwrap().unix_utc(), 1_709_209_800);
        assert_eq!(ExpiryTime::parse("20240229123045").unwrap().unix_utc(), 1_709_209_845);
        assert!(!ExpiryTime::parse("20240229123045").unwrap().utc);
        assert!(ExpiryTime::parse("20230229").is_err());
        assert!(ExpiryTime::parse("2024022912304").is_err());
        assert!(ExpiryTime::parse("19691231").is_err());
        // The earlier of two wins.
        let o = opts(r#"expiry-time="20300101",expiry-time="20250101""#);
        assert_eq!(o.expiry_time.unwrap().year, 2025);
        let o = opts(r#"expiry-time="20250101",expiry-time="20300101""#);
        assert_eq!(o.expiry_time.unwrap().year, 2025);
    }

    #[test]
    fn cert_authority_principals_environment() {
        let o = opts(r#"cert-authority,principals="alice,ops",environment="A=1",environment="B=x y""#);
        assert!(o.cert_authority);
        assert_eq!(o.principals, Some(vec!["alice".to_string(), "ops".to_string()]));
        assert_eq!(o.environment, ["A=1", "B=x y"]);
        assert!(!o.is_empty());
        let o = opts(r#"no-touch-required,tunnel="0""#);
        assert!(o.no_touch_required && o.tunnel.as_deref() == Some("0"));
    }

    #[test]
    fn merging_keeps_the_most_restrictive() {
        let key = opts(r#"no-pty,command="backup",permitopen="a:1",permitopen="b:2""#).restrictions;
        let mut cert = LoginRestrictions::restricted();
        cert.permit_pty = true;
        cert.permit_port_forwarding = true;
        let m = key.merge(&cert).unwrap();
        assert!(!m.permit_pty && m.permit_port_forwarding && !m.permit_agent_forwarding);
        assert_eq!(m.force_command.as_deref(), Some("backup"));
        assert_eq!(m.permit_open.as_ref().map(Vec::len), Some(2));
        cert.force_command = Some("backup".into());
        assert!(key.merge(&cert).is_ok());
        cert.force_command = Some("other".into());
        assert!(key.merge(&cert).is_err());
        let other = opts(r#"permitopen="b:2",permitopen="c:3""#).restrictions;
        let m = key.merge(&other).unwrap();
        assert!(m.allows_open("b", 2) && !m.allows_open("a", 1) && !m.allows_open("c", 3));
        let u = LoginRestrictions::unrestricted();
        assert_eq!(u.merge(&key).unwrap(), key);
        assert_eq!(key.merge(&u).unwrap(), key);
    }

    /// Every prefix of lines full of quotes, escapes, brackets and multibyte characters, and random mixes of the
    /// characters the parser treats specially, give a line or an error, never a panic.
    #[test]
    fn truncated_and_scrambled_lines_never_panic() {
        let lines = [
            format!("command=\"echo \\\"hi\\\" ü\",from=\"!10.0.0.0/8,127.0.0.*\",permitopen=\"[::1]:22\" {KEY} c"),
            format!("restrict,pty,expiry-time=\"20240229123045Z\",permitlisten=\"localhost:*\" {KEY}"),
            format!("cert-authority,principals=\"a,b\",environment=\"A=1\" {KEY}"),
        ];
        for line in &lines {
            for (end, _) in line.char_indices() {
                let _ = parse_line(&line[..end]);
            }
        }
        let alphabet: Vec<char> = "\"\\=,: \t[]!*?/.-0123456789aZéz".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut line = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = parse_options(&line);
            let _ = parse_line(&format!("{line} {KEY}"));
            let _ = from_matches(&line, ip("127.0.0.1"));
            let _ = ExpiryTime::parse(&line);
        }
    }
}
