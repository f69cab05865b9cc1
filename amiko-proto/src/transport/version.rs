//! Protocol version exchange (RFC 4253 §4.2).
//!
//! A server may send other lines before its version line; we accept a bounded number of bounded lines, so a peer
//! that sends an endless banner cannot make us buffer without limit.

use crate::error::{Error, Result};

/// Longest identification line, CR LF included (RFC 4253 §4.2).
pub const MAX_LINE: usize = 255;
/// Most lines accepted before the version line (OpenSSH allows 1024).
pub const MAX_PRE_LINES: usize = 1024;

/// Reads the peer's identification string from the start of the input.
#[derive(Debug, Default)]
pub struct VersionReader {
    lines_seen: usize,
    /// Bytes at the start of the input already read as lines before the version: the next call resumes there, so
    /// a banner that arrives in pieces is neither counted nor kept twice.
    scanned: usize,
    /// Lines before the version, kept for the caller (some servers show a banner here).
    pub pre_lines: Vec<String>,
}

impl VersionReader {
    /// Looks for the version line in `buf`. Returns `Ok(None)` when more input is needed, otherwise the version line
    /// without CR LF and the number of bytes consumed. `allow_pre_lines` is true on the client: only servers may send
    /// lines before the version. `buf` is all input since the start of the connection: the bytes of earlier calls
    /// again, plus what arrived since.
    pub fn read(&mut self, buf: &[u8], allow_pre_lines: bool) -> Result<Option<(String, usize)>> {
        let mut pos = self.scanned.min(buf.len());
        loop {
            let rest = &buf[pos..];
            let Some(nl) = rest.iter().take(MAX_LINE).position(|&b| b == b'\n') else {
                if rest.len() >= MAX_LINE {
                    return Err(Error::Version(format!(
                        "identification line longer than {MAX_LINE} bytes"
                    )));
                }
                return Ok(None);
            };
            let line = &rest[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pos += nl + 1;
            if line.starts_with(b"SSH-") {
                let text = std::str::from_utf8(line).map_err(|_| Error::Version("version line is not UTF-8".into()))?;
                if text.bytes().any(|b| b == 0 || b.is_ascii_control()) {
                    return Err(Error::Version("control character in version line".into()));
                }
                // SSH-protoversion-softwareversion SP comments (RFC 4253 §4.2): the software version must be
                // there. OpenSSH refuses "SSH-2.0-" and "SSH-2.0" ("Bad remote protocol version identification"),
                // and so does amiko; like OpenSSH it takes anything non-empty after the dash ("SSH-2.0- x").
                let (proto, software) = text[4..].split_once('-').unwrap_or((&text[4..], ""));
                if proto != "2.0" && proto != "1.99" {
                    return Err(Error::Version(format!(
                        "unsupported protocol version {proto} (only SSH 2.0)"
                    )));
                }
                if software.is_empty() {
                    return Err(Error::Version(format!(
                        "no software version in the identification line '{text}'"
                    )));
                }
                return Ok(Some((text.to_string(), pos)));
            }
            if !allow_pre_lines {
                return Err(Error::Version(
                    "peer did not start with an SSH-2.0 identification".into(),
                ));
            }
            self.lines_seen += 1;
            if self.lines_seen > MAX_PRE_LINES {
                return Err(Error::Version(format!(
                    "more than {MAX_PRE_LINES} lines before the version line"
                )));
            }
            if line.contains(&0) {
                return Err(Error::Version("NUL byte before the version line".into()));
            }
            self.pre_lines.push(String::from_utf8_lossy(line).into_owned());
            self.scanned = pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_version_line_is_read() {
        let (v, n) = VersionReader::default()
            .read(b"SSH-2.0-OpenSSH_9.2\r\nrest", true)
            .unwrap()
            .unwrap();
        assert_eq!((v.as_str(), n), ("SSH-2.0-OpenSSH_9.2", 21));
    }

    #[test]
    fn server_may_send_lines_before_version_but_client_may_not() {
        let mut r = VersionReader::default();
        let (v, _) = r.read(b"hello\r\nworld\nSSH-2.0-x\r\n", true).unwrap().unwrap();
        assert_eq!(v, "SSH-2.0-x");
        assert_eq!(r.pre_lines, ["hello", "world"]);
        assert!(VersionReader::default().read(b"hello\r\nSSH-2.0-x\r\n", false).is_err());
    }

    #[test]
    fn partial_line_needs_more() {
        assert!(VersionReader::default().read(b"SSH-2.0-Open", true).unwrap().is_none());
    }

    #[test]
    fn overlong_line_is_refused_even_without_newline() {
        assert!(VersionReader::default().read(&[b'a'; 300], true).is_err());
    }

    #[test]
    fn endless_pre_version_lines_are_bounded() {
        let many = "x\r\n".repeat(MAX_PRE_LINES + 1);
        assert!(VersionReader::default().read(many.as_bytes(), true).is_err());
    }

    #[test]
    fn banner_arriving_line_by_line_is_counted_once() {
        let mut r = VersionReader::default();
        let mut input = Vec::new();
        for i in 0..100 {
            input.extend_from_slice(format!("line {i}\r\n").as_bytes());
            assert!(r.read(&input, true).unwrap().is_none());
        }
        input.extend_from_slice(b"SSH-2.0-x\r\n");
        let (v, used) = r.read(&input, true).unwrap().unwrap();
        assert_eq!((v.as_str(), used), ("SSH-2.0-x", input.len()));
        assert_eq!(r.pre_lines.len(), 100);
    }

    #[test]
    fn ssh1_is_refused() {
        assert!(VersionReader::default().read(b"SSH-1.5-old\r\n", true).is_err());
    }
}
