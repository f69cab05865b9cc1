//! diffie-hellman-group14-sha256, -group16-sha512 and -group18-sha512 (RFC 8268) over the 2048-, 4096- and
//! 8192-bit MODP groups of RFC 3526 (§3, §5, §7; checked against OpenSSL's named groups modp_2048/4096/8192), the
//! opt-in SHA-1 methods diffie-hellman-group14-sha1 and -group1-sha1 (RFC 4253 §8), and the arithmetic of the
//! group exchange (`super::gex`).
//!
//! The exponentiations with a secret exponent are constant time (crypto-bigint); num-bigint holds the public
//! values (groups, the range checks). These methods are last in our preferences and kept for old peers.

use num_bigint::BigUint;
use zeroize::Zeroizing;

use super::SharedSecret;
use crate::error::{Error, Result};
use crate::wire::Writer;

const P_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F2411\
7C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D\
670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497C\
EA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

const P16_HEX: &str =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B\
302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE6\
49286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D\
670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7D\
B3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C\
BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B26\
99C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2\
233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA993B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199\
FFFFFFFFFFFFFFFF";

const P18_HEX: &str =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B\
302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE6\
49286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D\
670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7D\
B3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C\
BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D788719A10BDBA5B26\
99C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2\
233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA993B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934028492\
36C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918\
DA3EDBEBCF9B14ED44CE6CBACED4BB1BDB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03\
F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA\
CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632\
387FE8D76E3C0468043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E438777CB6A932DF8CD8BEC4D073B931BA\
3BC832B68D9DD300741FA7BF8AFC47ED2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652DE3FDB8BEFC848AD9\
22222E04A4037C0713EB57A81A23F0C73473FC646CEA306B4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6\
6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851DF9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268\
359046F4EB879F924009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA9E3050E2765694DFC81F56E880B96E71\
60C980DD98EDD3DFFFFFFFFFFFFFFFFF";

/// The Second Oakley Group (RFC 2409 §6.2, used by diffie-hellman-group1-sha1, RFC 4253 §8.1): 1024 bits. Weak
/// (within reach of a nation-state precomputation); opt-in only, for devices that know nothing newer.
const P2_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F2411\
7C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

/// A finite-field Diffie-Hellman group: prime modulus `p` and generator `g`.
#[derive(Clone, PartialEq, Eq)]
pub struct DhGroup {
    pub(super) p: BigUint,
    pub(super) g: BigUint,
}

impl std::fmt::Debug for DhGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhGroup({} bits, g = {})", self.bits(), self.g)
    }
}

impl DhGroup {
    /// A group from its big-endian modulus and generator. Nothing is checked here: groups from a peer go through
    /// the group exchange's checks, groups from a moduli file through its parser.
    pub fn from_be_bytes(p: &[u8], g: &[u8]) -> Self {
        DhGroup {
            p: BigUint::from_bytes_be(p),
            g: BigUint::from_bytes_be(g),
        }
    }

    /// The size of the modulus in bits.
    pub fn bits(&self) -> u64 {
        self.p.bits()
    }

    /// The modulus, big-endian.
    pub fn p_bytes(&self) -> Vec<u8> {
        self.p.to_bytes_be()
    }

    /// The generator, big-endian.
    pub fn g_bytes(&self) -> Vec<u8> {
        self.g.to_bytes_be()
    }

    /// The fixed groups with generator 2: 1 (1024 bits, RFC 2409), 14 (2048), 16 (4096) and 18 (8192, RFC 3526).
    pub fn modp(group: u32) -> Option<Self> {
        let hex = match group {
            1 | 2 => P2_HEX,
            14 => P_HEX,
            16 => P16_HEX,
            18 => P18_HEX,
            _ => return None,
        };
        Some(DhGroup {
            p: BigUint::parse_bytes(hex.as_bytes(), 16)?,
            g: BigUint::from(2u32),
        })
    }
}

/// The fixed group of a method name (group 14 unless 1, 16 or 18 is named).
fn named_group(kex: &str) -> DhGroup {
    let n = if kex.contains("group16") {
        16
    } else if kex.contains("group18") {
        18
    } else if kex.contains("group1-") {
        1
    } else {
        14
    };
    DhGroup::modp(n).unwrap_or_else(|| DhGroup {
        p: BigUint::from(23u32),
        g: BigUint::from(5u32),
    })
}

/// The group's prime plus `delta` (may be negative), big-endian: for tests of the range check.
#[cfg(test)]
pub(crate) fn p_plus(kex: &str, delta: i32) -> Vec<u8> {
    let p = named_group(kex).p;
    let v = if delta < 0 {
        p - delta.unsigned_abs()
    } else {
        p + delta as u32
    };
    v.to_bytes_be()
}

/// The client's private exponent, wiped when dropped, and the group's modulus.
pub struct Client {
    x: Zeroizing<[u8; EXPONENT_BYTES]>,
    p: Vec<u8>,
    pub(super) encoded: Vec<u8>,
}

/// 512-bit exponents: twice the 256-bit security of SHA-256, as RFC 8268 §4 suggests.
const EXPONENT_BYTES: usize = 64;
const EXPONENT_LIMBS: usize = EXPONENT_BYTES / 8;

/// `base^x mod p` in constant time in `x` (the secret), with every intermediate wiped: crypto-bigint's Montgomery
/// exponentiation over a `L`-limb modulus, `p` odd and `base < p` (the callers check both). num-bigint's `modpow`,
/// used before, branched on the exponent's bits and could not wipe its numbers.
fn modpow_ct<const L: usize>(base: &[u8], x: &[u8; EXPONENT_BYTES], p: &[u8]) -> Zeroizing<Vec<u8>> {
    use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
    use crypto_bigint::Uint;
    use zeroize::Zeroize;
    let padded = |b: &[u8]| {
        let mut v = Zeroizing::new(vec![0u8; L * 8]);
        v[L * 8 - b.len()..].copy_from_slice(b);
        v
    };
    let params = DynResidueParams::new(&Uint::<L>::from_be_slice(&padded(p)));
    let mut exponent = Uint::<EXPONENT_LIMBS>::from_be_slice(x);
    let mut b = Uint::<L>::from_be_slice(&padded(base));
    let mut residue = DynResidue::new(&b, params);
    let mut power = residue.pow_bounded_exp(&exponent, EXPONENT_BYTES * 8);
    let mut value = power.retrieve();
    let mut out = Zeroizing::new(Vec::with_capacity(L * 8));
    for w in value.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    exponent.zeroize();
    b.zeroize();
    residue.zeroize();
    power.zeroize();
    value.zeroize();
    // Minimal big-endian, as the mpint encoding wants it (the value is never 0: base and p are checked).
    let zeros = out
        .iter()
        .take_while(|&&v| v == 0)
        .count()
        .min(out.len().saturating_sub(1));
    out.drain(..zeros);
    out
}

/// `base^x mod p` for a modulus of up to 8192 bits (the largest group exchange allows), sized to the modulus.
fn modpow_secret(base: &[u8], x: &[u8; EXPONENT_BYTES], p: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let p = &p[p.iter().take_while(|&&v| v == 0).count()..];
    if p.last().is_none_or(|&v| v & 1 == 0) || base.len() > p.len() {
        return Err(Error::Kex("DH modulus even or value out of range".into()));
    }
    Ok(match p.len() {
        0..=128 => modpow_ct::<16>(base, x, p),
        129..=256 => modpow_ct::<32>(base, x, p),
        257..=384 => modpow_ct::<48>(base, x, p),
        385..=512 => modpow_ct::<64>(base, x, p),
        513..=768 => modpow_ct::<96>(base, x, p),
        769..=1024 => modpow_ct::<128>(base, x, p),
        _ => return Err(Error::Kex("DH modulus over 8192 bits".into())),
    })
}

fn keypair(group: &DhGroup) -> Result<(Zeroizing<[u8; EXPONENT_BYTES]>, Vec<u8>)> {
    // A failing random source is an error here, never a predictable exponent.
    let mut x = Zeroizing::new([0u8; EXPONENT_BYTES]);
    aws_lc_rs::rand::fill(&mut *x).map_err(|_| Error::Kex("no randomness for the DH exponent".into()))?;
    // At least 2: x = 0 or 1 would make the public value 1 or g.
    x[EXPONENT_BYTES - 1] |= 2;
    let e = modpow_secret(&group.g.to_bytes_be(), &x, &group.p.to_bytes_be())?;
    let mut encoded = Vec::new();
    Writer::new(&mut encoded).mpint_unsigned(&e);
    Ok((x, encoded))
}

fn agree(p: &[u8], x: &[u8; EXPONENT_BYTES], peer: &[u8]) -> Result<SharedSecret> {
    // Bounded before any arithmetic: a value longer than p is out of range whatever its digits.
    if peer.len() > p.len() {
        return Err(Error::Kex("DH public value out of range".into()));
    }
    // The range check is on public values: num-bigint's variable time is harmless here.
    let (f, pn) = (BigUint::from_bytes_be(peer), BigUint::from_bytes_be(p));
    // RFC 4253 §8: values outside [1, p-1] are refused; 1 and p-1 also give a trivial secret.
    if f <= BigUint::from(1u32) || f >= pn - 1u32 {
        return Err(Error::Kex("DH public value out of range".into()));
    }
    let mut k = modpow_secret(&f.to_bytes_be(), x, p)?;
    // Moved, not copied: SharedSecret wipes it from here on.
    Ok(SharedSecret::mpint(std::mem::take(&mut *k)))
}

impl Client {
    pub(super) fn new(kex: &str) -> Result<Self> {
        Self::with_group(&named_group(kex))
    }

    /// A client for a group the server chose (diffie-hellman-group-exchange-*), already checked by the caller.
    pub(super) fn with_group(group: &DhGroup) -> Result<Self> {
        let (x, encoded) = keypair(group)?;
        Ok(Client {
            x,
            p: group.p.to_bytes_be(),
            encoded,
        })
    }

    pub(super) fn finish(self, server_public: &[u8]) -> Result<SharedSecret> {
        agree(&self.p, &self.x, server_public)
    }
}

pub(super) fn server(kex: &str, client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    server_with_group(&named_group(kex), client_public)
}

/// The server's half over `group`: its encoded public value and K.
pub(super) fn server_with_group(group: &DhGroup, client_public: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let (y, encoded) = keypair(group)?;
    let k = agree(&group.p.to_bytes_be(), &y, client_public)?;
    Ok((encoded, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant-time exponentiation agrees with num-bigint's on every fixed group, and on odd moduli of every
    /// size class, for random exponents and bases.
    #[test]
    fn constant_time_modpow_agrees_with_num_bigint() {
        let mut groups: Vec<BigUint> = [1, 14, 16, 18].iter().map(|&n| DhGroup::modp(n).unwrap().p).collect();
        // 3072 and 6144 bits (group exchange may pick them): any odd number will do for the arithmetic.
        for bits in [3072u64, 6144] {
            groups.push((BigUint::from(1u32) << (bits - 1)) + 12_345u32);
        }
        groups.push(BigUint::from(23u32));
        for p in groups {
            for _ in 0..3 {
                let mut x = [0u8; EXPONENT_BYTES];
                aws_lc_rs::rand::fill(&mut x).unwrap();
                let mut b = vec![0u8; (p.bits() as usize).div_ceil(8)];
                aws_lc_rs::rand::fill(&mut b).unwrap();
                let base = BigUint::from_bytes_be(&b) % &p;
                let want = base.modpow(&BigUint::from_bytes_be(&x), &p).to_bytes_be();
                let got = modpow_secret(&base.to_bytes_be(), &x, &p.to_bytes_be()).unwrap();
                assert_eq!(*got, want, "{} bits", p.bits());
            }
        }
        // An even modulus (never a DH group) or one over 8192 bits is an error, not a panic.
        assert!(modpow_secret(&[2], &[1; EXPONENT_BYTES], &[0x10, 0x00]).is_err());
        assert!(modpow_secret(&[2], &[1; EXPONENT_BYTES], &[0xff; 1025]).is_err());
    }
}
