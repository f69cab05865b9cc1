//! ssh_config(5): `Host` blocks with patterns and negation, `Match all`; the settings that apply to one host.
//! `Include` and other `Match` criteria are not supported (blocks under them are skipped).

use amiko_proto::known_hosts::glob_match;

fn host_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for p in patterns.split_whitespace() {
        match p.strip_prefix('!') {
            Some(neg) if glob_match(neg, host) => return false,
            Some(_) => {}
            None if glob_match(p, host) => matched = true,
            None => {}
        }
    }
    matched
}

/// The (lower-case key, value) pairs that apply to `host`, in file order.
pub fn lookup(text: &str, host: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
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
        let v = v
            .trim_start_matches(|c: char| c == '=' || c.is_whitespace())
            .trim()
            .trim_matches('"');
        let k = k.to_ascii_lowercase();
        match k.as_str() {
            "host" => active = host_matches(v, host),
            "match" => active = v.eq_ignore_ascii_case("all"),
            "include" => {}
            _ if active => out.push((k, v.to_string())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_blocks_and_negation_select_settings() {
        let text = "User top\nHost *.corp !bad.corp\n  Port=2200\nHost *\n  Port 22\nMatch exec foo\n  User nobody\n";
        let a = lookup(text, "a.corp");
        assert_eq!(
            a,
            [
                ("user".into(), "top".into()),
                ("port".into(), "2200".into()),
                ("port".into(), "22".into())
            ]
        );
        let b = lookup(text, "bad.corp");
        assert_eq!(b, [("user".into(), "top".into()), ("port".into(), "22".into())]);
    }
}
