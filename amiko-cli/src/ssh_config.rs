//! ssh_config(5): `Host` and `Match` blocks, `Include`, first value wins; the settings that apply to one host, as
//! ssh reads them (`ssh -G` is the reference the tests compare with).
//!
//! Supported `Match` criteria: all, canonical, final, host, originalhost, user, localuser, exec (each may be
//! negated with `!`). `canonical` is false (amiko does not canonicalize host names); `final` is true: this
//! resolver makes one pass with everything known, which is what ssh's final pass sees.

use std::path::{Path, PathBuf};

use amiko_proto::known_hosts::glob_match;

/// Include depth, as ssh's READCONF_MAX_DEPTH.
const MAX_INCLUDE_DEPTH: usize = 16;

/// What the criteria of `Match` and the tokens are evaluated against.
#[derive(Debug, Clone)]
pub struct Target {
    /// The host as given on the command line.
    pub original_host: String,
    /// The user given on the command line (-l or user@), if any.
    pub user: Option<String>,
    /// The local user.
    pub local_user: String,
    /// Home directory, for `~` and relative `Include` paths.
    pub home: PathBuf,
}

impl Target {
    /// For `host`, with the local user and home from the environment.
    pub fn new(original_host: &str, user: Option<String>) -> Self {
        Target {
            original_host: original_host.to_string(),
            user,
            local_user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
            home: amiko::home_dir().unwrap_or_else(|| PathBuf::from("/")),
        }
    }
}

fn patterns_match(patterns: &str, value: &str) -> bool {
    let mut matched = false;
    for p in patterns.split([',', ' ']).filter(|p| !p.is_empty()) {
        match p.strip_prefix('!') {
            Some(neg) if glob_match(neg, value) => return false,
            Some(_) => {}
            None if glob_match(p, value) => matched = true,
            None => {}
        }
    }
    matched
}

/// Splits a line into words, keeping double-quoted strings together (quotes removed).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

struct Reader<'a> {
    target: &'a Target,
    /// Directory relative includes start from (~/.ssh for the user's file, /etc/ssh for the system one).
    base: PathBuf,
    out: Vec<(String, String)>,
    /// Set by [`fuzz`]: `Match exec` is false without running anything and `Include` reads no files.
    sandboxed: bool,
}

impl Reader<'_> {
    fn first(&self, key: &str) -> Option<&str> {
        self.out.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Expands the tokens of `Match exec` and friends with what is known so far.
    fn expand(&self, s: &str) -> String {
        let host = self.first("hostname").unwrap_or(&self.target.original_host).to_string();
        let user = self
            .target
            .user
            .clone()
            .or_else(|| self.first("user").map(str::to_string))
            .unwrap_or_else(|| self.target.local_user.clone());
        let port = self.first("port").unwrap_or("22").to_string();
        expand_tokens(s, &host, &self.target.original_host, &port, &user, self.target)
    }

    fn match_criteria(&self, args: &[String]) -> Result<bool, String> {
        let mut i = 0;
        let mut all = true;
        while i < args.len() {
            let (negate, name) = match args[i].strip_prefix('!') {
                Some(n) => (true, n.to_ascii_lowercase()),
                None => (false, args[i].to_ascii_lowercase()),
            };
            i += 1;
            let result = match name.as_str() {
                "all" => true,
                "canonical" => false,
                "final" => true,
                _ => {
                    let arg = args.get(i).ok_or_else(|| format!("Match {name}: missing argument"))?;
                    i += 1;
                    match name.as_str() {
                        "host" => patterns_match(arg, self.first("hostname").unwrap_or(&self.target.original_host)),
                        "originalhost" => patterns_match(arg, &self.target.original_host),
                        "user" => {
                            let user = self
                                .target
                                .user
                                .as_deref()
                                .or(self.first("user"))
                                .unwrap_or(&self.target.local_user);
                            patterns_match(arg, user)
                        }
                        "localuser" => patterns_match(arg, &self.target.local_user),
                        "exec" if self.sandboxed => {
                            let _ = self.expand(arg);
                            false
                        }
                        "exec" => std::process::Command::new("/bin/sh")
                            .arg("-c")
                            .arg(self.expand(arg))
                            .stdin(std::process::Stdio::null())
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success()),
                        other => return Err(format!("Match: unsupported criterion '{other}'")),
                    }
                }
            };
            all &= result != negate;
        }
        Ok(all)
    }

    fn read(&mut self, text: &str, depth: usize) -> Result<(), String> {
        let mut active = true;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(i) = line.find(|c: char| c == '=' || c.is_whitespace()) else {
                continue;
            };
            let (k, v) = line.split_at(i);
            let v = v.trim_start_matches(|c: char| c == '=' || c.is_whitespace()).trim();
            let k = k.to_ascii_lowercase();
            match k.as_str() {
                "host" => active = patterns_match(&words(v).join(" "), &self.target.original_host),
                "match" => active = self.match_criteria(&words(v))?,
                "include" if active && self.sandboxed => {}
                "include" if active => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err("Include nested too deeply".into());
                    }
                    for pattern in words(v) {
                        for path in self.include_paths(&pattern) {
                            // A missing or unreadable file is skipped, as ssh does for globs that match nothing.
                            if let Ok(t) = std::fs::read_to_string(&path) {
                                self.read(&t, depth + 1)?;
                            }
                        }
                    }
                }
                "include" => {}
                _ if active => self.out.push((k, v.trim_matches('"').to_string())),
                _ => {}
            }
        }
        Ok(())
    }

    /// The files of an `Include` argument: `~` expanded, relative paths from the base directory, globs sorted.
    fn include_paths(&self, pattern: &str) -> Vec<PathBuf> {
        let p = if let Some(rest) = pattern.strip_prefix("~/") {
            self.target.home.join(rest)
        } else if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.base.join(pattern)
        };
        let (dir, name) = match (p.parent(), p.file_name().and_then(|n| n.to_str())) {
            (Some(d), Some(n)) => (d.to_path_buf(), n.to_string()),
            _ => return vec![p],
        };
        if !name.contains(['*', '?']) {
            return vec![p];
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(&name, n)))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    }
}

/// The (lower-case key, value) pairs that apply to `target`, in the order ssh reads them (first value wins),
/// from `text`; `base` is the directory relative `Include` paths start from.
pub fn lookup(text: &str, base: &Path, target: &Target) -> Result<Vec<(String, String)>, String> {
    let mut r = Reader {
        target,
        base: base.to_path_buf(),
        out: Vec::new(),
        sandboxed: false,
    };
    r.read(text, 0)?;
    Ok(r.out)
}

/// Entry point of the `ssh_config` fuzz target in `fuzz/` and of its corpus replay test: `data` is read as a
/// config file for a few hosts (the first line's first word among them, so `Host` patterns can match), with
/// `Match exec` false and `Include` ignored so that fuzz input runs no commands and reads no files; every value
/// then goes through token expansion.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let first = text.split_whitespace().nth(1).unwrap_or("example.com").to_string();
    for host in [first.as_str(), "example.com", "10.0.0.1"] {
        let target = Target {
            original_host: host.into(),
            user: None,
            local_user: "me".into(),
            home: PathBuf::from("/home/me"),
        };
        let mut r = Reader {
            target: &target,
            base: PathBuf::from("/nonexistent"),
            out: Vec::new(),
            sandboxed: true,
        };
        if r.read(&text, 0).is_err() {
            continue;
        }
        for (_, v) in &r.out {
            let _ = expand_tokens(v, host, host, "22", "u", &target);
        }
    }
}

/// Expands ssh_config tokens: %h (host name to connect to), %n (host as given), %p, %r (remote user), %u (local
/// user), %d (home), %l (local host name), %% and a leading `~`.
pub fn expand_tokens(s: &str, host: &str, original: &str, port: &str, user: &str, t: &Target) -> String {
    let mut out = String::new();
    let s = match s.strip_prefix("~/") {
        Some(rest) => {
            out.push_str(&t.home.display().to_string());
            out.push('/');
            rest
        }
        None => s,
    };
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(original),
            Some('p') => out.push_str(port),
            Some('r') => out.push_str(user),
            Some('u') => out.push_str(&t.local_user),
            Some('d') => out.push_str(&t.home.display().to_string()),
            Some('l') => out.push_str(
                &nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_default(),
            ),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> Target {
        Target {
            original_host: host.into(),
            user: None,
            local_user: "me".into(),
            home: PathBuf::from("/home/me"),
        }
    }

    #[test]
    fn host_blocks_and_negation_select_settings() {
        let text = "User top\nHost *.corp !bad.corp\n  Port=2200\nHost *\n  Port 22\nMatch exec false\n  User nobody\n";
        let a = lookup(text, Path::new("/"), &target("a.corp")).unwrap();
        assert_eq!(
            a,
            [
                ("user".into(), "top".into()),
                ("port".into(), "2200".into()),
                ("port".into(), "22".into())
            ]
        );
        let b = lookup(text, Path::new("/"), &target("bad.corp")).unwrap();
        assert_eq!(b, [("user".into(), "top".into()), ("port".into(), "22".into())]);
    }

    #[test]
    fn match_criteria_and_negation() {
        let text = "Host web\n  HostName web.internal\nMatch host *.internal user me\n  Port 2222\n\
                    Match !localuser me\n  Port 1\nMatch originalhost web exec true\n  User deploy\n";
        let r = lookup(text, Path::new("/"), &target("web")).unwrap();
        assert_eq!(
            r,
            [
                ("hostname".into(), "web.internal".into()),
                ("port".into(), "2222".into()),
                ("user".into(), "deploy".into())
            ]
        );
        assert!(lookup("Match host\n", Path::new("/"), &target("x")).is_err());
        assert!(lookup("Match nonsense x\n", Path::new("/"), &target("x")).is_err());
    }

    #[test]
    fn tokens_expand() {
        let t = target("web");
        assert_eq!(
            expand_tokens("~/.ssh/%r@%h:%p-%n-%u-%%", "web.internal", "web", "22", "deploy", &t),
            "/home/me/.ssh/deploy@web.internal:22-web-me-%"
        );
    }

    #[test]
    fn includes_are_relative_globbed_sorted_and_bounded() {
        let dir = std::env::temp_dir().join(format!("amiko-ssh-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "Port 2\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "Port 1\nUser a\n").unwrap();
        std::fs::write(dir.join("loop"), "Include loop\n").unwrap();
        let r = lookup("Host x\n  Include conf.d/*.conf\n", &dir, &target("x")).unwrap();
        assert_eq!(r[0], ("port".into(), "1".into()));
        assert_eq!(r[2], ("port".into(), "2".into()));
        assert!(lookup("Host y\n  Include conf.d/*.conf\n", &dir, &target("x"))
            .unwrap()
            .is_empty());
        assert!(lookup("Include loop\n", &dir, &target("x")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
