//! diffie-hellman-group-exchange-sha256 and -sha1 (RFC 4419, with RFC 8270's 2048-bit minimum): the server
//! chooses the group. This file holds the rules around the group; the arithmetic is `super::dh`'s and the message
//! flow is in `transport::handshake`.
//!
//! Client: asks for min 2048, a preferred size from the strength of the negotiated cipher and MAC (as OpenSSH's
//! `dh_estimate` does), max 8192, and checks what comes back: a size within what it asked for, p odd, g in
//! [2, p-2]. Server: picks from groups read from a moduli file in OpenSSH's format (`moduli(5)`) as sshd does (the
//! smallest size at or above the preferred one, else the largest below it, at random among groups of that size),
//! falling back to the RFC 3526 groups 14, 16 and 18.

use num_bigint::BigUint;

use super::dh::DhGroup;
use crate::error::{Error, Result};

/// RFC 8270 §3: the smallest modulus requested or accepted.
pub const GEX_MIN_BITS: u32 = 2048;
/// The largest modulus requested or accepted (OpenSSH's DH_GRP_MAX).
pub const GEX_MAX_BITS: u32 = 8192;
/// A moduli file is read up to this many bytes (Debian's is about 550 KB).
pub const MODULI_MAX_BYTES: usize = 4 << 20;
/// At most this many groups are kept from a moduli file.
pub const MODULI_MAX_GROUPS: usize = 10_000;

/// The group request of the client: `min || n || max` (SSH_MSG_KEX_DH_GEX_REQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GexRequest {
    /// Smallest acceptable size in bits.
    pub min: u32,
    /// Preferred size in bits.
    pub n: u32,
    /// Largest acceptable size in bits.
    pub max: u32,
}

impl GexRequest {
    /// What the client asks for, given the bytes of key material the strongest negotiated cipher or MAC needs:
    /// OpenSSH's `dh_estimate` maps the security level in bits to a modulus size (NIST SP 800-57 part 1 table 2).
    pub fn for_need(need_bytes: usize) -> Self {
        let bits = need_bytes.saturating_mul(8);
        let n = if bits <= 112 {
            2048
        } else if bits <= 128 {
            3072
        } else if bits <= 192 {
            7680
        } else {
            8192
        };
        GexRequest {
            min: GEX_MIN_BITS,
            n,
            max: GEX_MAX_BITS,
        }
    }
}

/// Server: checks a client's request as sshd does (`min <= n <= max`, `max` at least 2048) and chooses a group
/// from `groups` (the moduli file; empty means none was read) or the built-in ones.
pub fn choose_group(groups: &[DhGroup], req: GexRequest) -> Result<DhGroup> {
    if req.max < req.min || req.n < req.min || req.max < req.n || req.max < GEX_MIN_BITS {
        return Err(Error::Kex(format!(
            "bad group exchange request min {} n {} max {}",
            req.min, req.n, req.max
        )));
    }
    let min = u64::from(req.min.max(GEX_MIN_BITS));
    let max = u64::from(req.max.min(GEX_MAX_BITS));
    let want = u64::from(req.n.clamp(GEX_MIN_BITS, GEX_MAX_BITS));
    if let Some(g) = pick(groups, min, want, max) {
        return Ok(g);
    }
    let builtin: Vec<DhGroup> = [14, 16, 18].into_iter().filter_map(DhGroup::modp).collect();
    pick(&builtin, min, want, max).ok_or_else(|| Error::Kex(format!("no DH group between {min} and {max} bits")))
}

/// sshd's `choose_dh`: the best size is the smallest above `want`, or failing that the largest below it; one
/// group of that size at random.
fn pick(groups: &[DhGroup], min: u64, want: u64, max: u64) -> Option<DhGroup> {
    let mut best = 0u64;
    for g in groups {
        let size = g.bits();
        if size < min || size > max {
            continue;
        }
        if (size > want && (size < best || best < want)) || (size > best && best < want) || size == want {
            best = size;
        }
    }
    let fitting: Vec<&DhGroup> = groups.iter().filter(|g| best != 0 && g.bits() == best).collect();
    if fitting.is_empty() {
        return None;
    }
    let mut r = [0u8; 4];
    crate::rng::fill(&mut r);
    let i = u32::from_be_bytes(r) as usize % fitting.len();
    Some(fitting[i].clone())
}

/// Client: checks the group the server sent against what was asked for. `p` and `g` are mpint magnitudes.
pub fn check_group(req: GexRequest, p: &[u8], g: &[u8]) -> Result<DhGroup> {
    // Bounded before any arithmetic: a modulus longer than max bits is refused from its length alone.
    let max_bytes = (req.max as usize).div_ceil(8);
    if p.len() > max_bytes || g.len() > max_bytes {
        return Err(Error::Kex(format!(
            "DH group of {} bytes, more than the {} bits asked for",
            p.len(),
            req.max
        )));
    }
    let group = DhGroup::from_be_bytes(p, g);
    let bits = group.bits();
    if bits < u64::from(req.min) || bits > u64::from(req.max) {
        return Err(Error::Kex(format!(
            "DH group of {bits} bits, outside {}..={}",
            req.min, req.max
        )));
    }
    if !group.p.bit(0) {
        return Err(Error::Kex("DH group modulus is even".into()));
    }
    if group.g < BigUint::from(2u32) || group.g > &group.p - 2u32 {
        return Err(Error::Kex("DH group generator out of range".into()));
    }
    Ok(group)
}

/// Parses a moduli file (OpenSSH's `moduli(5)`: `timestamp type tests trials size generator modulus`, `#`
/// comments), keeping what sshd keeps: safe primes (type 2) that passed a test other than the composite sieve,
/// with at least one trial, whose listed size (bits - 1) matches the modulus, between 2048 and 8192 bits. Lines
/// that do not qualify are skipped, as sshd skips them. Reads at most [`MODULI_MAX_BYTES`] and keeps at most
/// [`MODULI_MAX_GROUPS`].
pub fn parse_moduli(text: &str) -> Vec<DhGroup> {
    let text = match text.char_indices().nth(MODULI_MAX_BYTES) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    text.lines()
        .filter_map(parse_moduli_line)
        .take(MODULI_MAX_GROUPS)
        .collect()
}

fn parse_moduli_line(line: &str) -> Option<DhGroup> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    let [_time, kind, tests, trials, size, gen, modulus] = f.as_slice() else {
        return None;
    };
    // moduli(5): type 2 is a safe prime; tests is a bit field where 0x01 means "composite" and 0x02.. are tests
    // done; trials counts the primality rounds.
    if kind.parse::<u8>().ok()? != 2 {
        return None;
    }
    let tests = tests.parse::<u32>().ok()?;
    if tests & 1 != 0 || tests & !1 == 0 || trials.parse::<u32>().ok()? == 0 {
        return None;
    }
    let size = size.parse::<u64>().ok()?.checked_add(1)?;
    if !(u64::from(GEX_MIN_BITS)..=u64::from(GEX_MAX_BITS)).contains(&size) || modulus.len() > 2 * 1024 + 2 {
        return None;
    }
    let g = BigUint::parse_bytes(gen.as_bytes(), 16)?;
    let p = BigUint::parse_bytes(modulus.as_bytes(), 16)?;
    let group = DhGroup { p, g };
    if group.bits() != size || !group.p.bit(0) || group.g < BigUint::from(2u32) || group.g >= group.p {
        return None;
    }
    Some(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(min: u32, n: u32, max: u32) -> GexRequest {
        GexRequest { min, n, max }
    }

    fn line(g: &DhGroup, kind: u8, tests: u32, trials: u32, size_delta: i64) -> String {
        let size = g.bits() as i64 - 1 + size_delta;
        format!(
            "20240101000000 {kind} {tests} {trials} {size} {} {}",
            g.g,
            g.p.to_str_radix(16).to_uppercase()
        )
    }

    #[test]
    fn request_follows_dh_estimate() {
        assert_eq!(GexRequest::for_need(16), req(2048, 3072, 8192)); // aes128-gcm
        assert_eq!(GexRequest::for_need(20), req(2048, 7680, 8192)); // aes128-cbc + hmac-sha1
        assert_eq!(GexRequest::for_need(32), req(2048, 8192, 8192)); // hmac-sha2-256, aes256
        assert_eq!(GexRequest::for_need(64), req(2048, 8192, 8192)); // chacha20-poly1305
        assert_eq!(GexRequest::for_need(8), req(2048, 2048, 8192));
    }

    #[test]
    fn moduli_lines_are_filtered_like_sshd() {
        let g14 = DhGroup::modp(14).unwrap();
        let g16 = DhGroup::modp(16).unwrap();
        let g1 = DhGroup::modp(1).unwrap();
        let text = [
            "# comment".to_string(),
            String::new(),
            line(&g14, 2, 6, 100, 0),
            line(&g16, 2, 6, 100, 0),
            line(&g14, 4, 6, 100, 0),                    // not a safe prime
            line(&g14, 2, 1, 100, 0),                    // composite
            line(&g14, 2, 7, 100, 0),                    // composite bit set
            line(&g14, 2, 0, 100, 0),                    // no test
            line(&g14, 2, 6, 0, 0),                      // no trial
            line(&g14, 2, 6, 100, 1),                    // wrong size
            line(&g1, 2, 6, 100, 0),                     // 1024 bits: too small
            "20240101000000 2 6 100 2047 2".to_string(), // truncated
            "garbage".to_string(),
        ]
        .join("\n");
        let groups = parse_moduli(&text);
        assert_eq!(groups, vec![g14, g16]);
    }

    #[test]
    fn server_picks_like_sshd_and_falls_back() {
        let g14 = DhGroup::modp(14).unwrap();
        let g16 = DhGroup::modp(16).unwrap();
        let g18 = DhGroup::modp(18).unwrap();
        let file = vec![g14.clone(), g16.clone()];
        // The smallest at or above n; else the largest below.
        assert_eq!(choose_group(&file, req(2048, 3072, 8192)).unwrap(), g16);
        assert_eq!(choose_group(&file, req(2048, 2048, 8192)).unwrap(), g14);
        assert_eq!(choose_group(&file, req(2048, 8192, 8192)).unwrap(), g16);
        assert_eq!(choose_group(&file, req(2048, 2048, 3000)).unwrap(), g14);
        // Nothing in the file fits: the built-in groups.
        assert_eq!(choose_group(&file, req(6000, 8192, 8192)).unwrap(), g18);
        assert_eq!(choose_group(&[], req(2048, 3072, 8192)).unwrap(), g16);
        assert_eq!(choose_group(&[], req(2048, 8192, 8192)).unwrap(), g18);
        // A client asking for less than 2048 gets at least 2048 (RFC 8270).
        assert_eq!(choose_group(&[], req(1024, 1024, 2048)).unwrap(), g14);
        // Bad requests.
        for bad in [
            req(4096, 3072, 8192),
            req(2048, 8192, 4096),
            req(1024, 1024, 1024),
            req(3000, 2048, 1000),
        ] {
            assert!(matches!(choose_group(&file, bad), Err(Error::Kex(_))), "{bad:?}");
        }
        assert!(choose_group(&[], req(2048, 2048, 2047)).is_err());
        assert!(choose_group(&[], req(9000, 9000, 9000)).is_err());
    }

    #[test]
    fn client_checks_the_group() {
        let r = req(2048, 3072, 8192);
        let g14 = DhGroup::modp(14).unwrap();
        let p = g14.p_bytes();
        assert_eq!(check_group(r, &p, &[2]).unwrap(), g14);
        // Too small, too large (by length, before parsing), even, generator out of range.
        let g1 = DhGroup::modp(1).unwrap();
        assert!(matches!(check_group(r, &g1.p_bytes(), &[2]), Err(Error::Kex(_))));
        assert!(check_group(r, &vec![0xff; 1025], &[2]).is_err());
        let mut big = vec![0x01];
        big.extend(vec![0xff; 1024]);
        assert!(check_group(r, &big, &[2]).is_err());
        assert!(check_group(req(2048, 3072, 4096), &DhGroup::modp(18).unwrap().p_bytes(), &[2]).is_err());
        let mut even = p.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert!(check_group(r, &even, &[2]).is_err());
        for g in [vec![], vec![0], vec![1], (&g14.p - 1u32).to_bytes_be(), p.clone()] {
            assert!(check_group(r, &p, &g).is_err(), "{g:02x?}");
        }
        assert!(check_group(r, &p, &(&g14.p - 2u32).to_bytes_be()).is_ok());
    }
}
