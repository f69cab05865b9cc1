//! Streamlined NTRU Prime 761 (sntrup761), the KEM of the `sntrup761x25519-sha512` key exchange, for amiko.
//!
//! The arithmetic is PQClean's (through `pqcrypto-ntruprime`): its AVX2 code when the CPU has AVX2, checked at
//! run time, its portable C otherwise. This crate exists so that `amiko-proto` can stay free of `unsafe`: it calls
//! the C functions directly, rather than through `pqcrypto-ntruprime`'s safe wrappers, because those return the
//! secret key and the shared secret in plain arrays that are copied around and never wiped. Here every secret lives
//! in a [`Zeroizing`] buffer that is wiped when dropped (the C code's own stack is not, as with any C library).
//!
//! Randomness comes from the operating system (`getrandom`, through `pqcrypto-internals`).
//!
//! ```
//! let (public, secret) = amiko_sntrup::generate_key();
//! let (ciphertext, shared) = amiko_sntrup::encapsulate(&public);
//! assert_eq!(*secret.decapsulate(&ciphertext), *shared);
//! ```

use pqcrypto_ntruprime::ffi;
use zeroize::Zeroizing;

/// Bytes in a public (encapsulation) key.
pub const PUBLIC_KEY_SIZE: usize = ffi::PQCLEAN_SNTRUP761_CLEAN_CRYPTO_PUBLICKEYBYTES;
/// Bytes in a ciphertext.
pub const CIPHERTEXT_SIZE: usize = ffi::PQCLEAN_SNTRUP761_CLEAN_CRYPTO_CIPHERTEXTBYTES;
/// Bytes in a secret (decapsulation) key.
pub const SECRET_KEY_SIZE: usize = ffi::PQCLEAN_SNTRUP761_CLEAN_CRYPTO_SECRETKEYBYTES;
/// Bytes in the shared secret.
pub const SHARED_SECRET_SIZE: usize = ffi::PQCLEAN_SNTRUP761_CLEAN_CRYPTO_BYTES;

/// A public key, as sent on the wire.
pub type PublicKey = [u8; PUBLIC_KEY_SIZE];
/// A ciphertext, as sent on the wire.
pub type Ciphertext = [u8; CIPHERTEXT_SIZE];
/// The 32-byte shared secret, wiped when dropped.
pub type SharedSecret = Zeroizing<[u8; SHARED_SECRET_SIZE]>;

/// A secret key: boxed so that it is never copied when moved, and wiped when dropped.
pub struct SecretKey(Box<Zeroizing<[u8; SECRET_KEY_SIZE]>>);

#[cfg(target_arch = "x86_64")]
const _: () = assert!(
    ffi::PQCLEAN_SNTRUP761_AVX2_CRYPTO_PUBLICKEYBYTES == PUBLIC_KEY_SIZE
        && ffi::PQCLEAN_SNTRUP761_AVX2_CRYPTO_CIPHERTEXTBYTES == CIPHERTEXT_SIZE
        && ffi::PQCLEAN_SNTRUP761_AVX2_CRYPTO_SECRETKEYBYTES == SECRET_KEY_SIZE
        && ffi::PQCLEAN_SNTRUP761_AVX2_CRYPTO_BYTES == SHARED_SECRET_SIZE,
    "PQClean's two implementations use the same sizes"
);

/// Which of PQClean's implementations to run: AVX2 (compiled in on x86-64 only) if this CPU has it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Code {
    Avx2,
    Portable,
}

impl Code {
    fn best() -> Code {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return Code::Avx2;
        }
        Code::Portable
    }
}

/// Calls PQClean's AVX2 or portable function as `$code` says and checks the result: both return 0, and cannot fail
/// with buffers of the right sizes.
///
/// Callers must pass pointers to buffers of exactly the sizes above that stay alive across the call (PQClean keeps
/// no pointer after returning), and `Code::Avx2` only from [`Code::best`].
macro_rules! pqclean {
    ($code:expr, $what:literal, $avx2:ident, $clean:ident, $($arg:expr),+) => {{
        #[cfg(target_arch = "x86_64")]
        let rc = if $code == Code::Avx2 {
            // SAFETY: the caller's pointers meet the sizes and lifetimes above; the CPU runs AVX2 code.
            unsafe { ffi::$avx2($($arg),+) }
        } else {
            // SAFETY: the caller's pointers meet the sizes and lifetimes above.
            unsafe { ffi::$clean($($arg),+) }
        };
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: the caller's pointers meet the sizes and lifetimes above.
        let rc = { let _ = $code; unsafe { ffi::$clean($($arg),+) } };
        assert_eq!(rc, 0, concat!("PQClean sntrup761 ", $what, " failed"));
    }};
}

/// Generates a key pair.
pub fn generate_key() -> (PublicKey, SecretKey) {
    generate_key_with(Code::best())
}

fn generate_key_with(code: Code) -> (PublicKey, SecretKey) {
    let mut pk = [0u8; PUBLIC_KEY_SIZE];
    let mut sk = SecretKey(Box::new(Zeroizing::new([0u8; SECRET_KEY_SIZE])));
    // Both buffers are writable and of PQClean's sizes (the types say so).
    pqclean!(
        code,
        "key generation",
        PQCLEAN_SNTRUP761_AVX2_crypto_kem_keypair,
        PQCLEAN_SNTRUP761_CLEAN_crypto_kem_keypair,
        pk.as_mut_ptr(),
        sk.0.as_mut_ptr()
    );
    (pk, sk)
}

/// Encapsulates a fresh shared secret to `public`: the ciphertext for its owner, and the secret.
///
/// Any 1158 bytes are accepted as a public key (sntrup761 decodes every string to some key), so this never fails.
pub fn encapsulate(public: &PublicKey) -> (Ciphertext, SharedSecret) {
    encapsulate_with(Code::best(), public)
}

fn encapsulate_with(code: Code, public: &PublicKey) -> (Ciphertext, SharedSecret) {
    let mut ct = [0u8; CIPHERTEXT_SIZE];
    let mut ss = Zeroizing::new([0u8; SHARED_SECRET_SIZE]);
    // The outputs are writable and the key readable, each of PQClean's size (the types say so).
    pqclean!(
        code,
        "encapsulation",
        PQCLEAN_SNTRUP761_AVX2_crypto_kem_enc,
        PQCLEAN_SNTRUP761_CLEAN_crypto_kem_enc,
        ct.as_mut_ptr(),
        ss.as_mut_ptr(),
        public.as_ptr()
    );
    (ct, ss)
}

impl SecretKey {
    /// Recovers the shared secret from `ciphertext`. A ciphertext that was tampered with gives a pseudorandom
    /// secret rather than an error (implicit rejection), so the two sides simply end up with different keys.
    pub fn decapsulate(&self, ciphertext: &Ciphertext) -> SharedSecret {
        self.decapsulate_with(Code::best(), ciphertext)
    }

    fn decapsulate_with(&self, code: Code, ciphertext: &Ciphertext) -> SharedSecret {
        let mut ss = Zeroizing::new([0u8; SHARED_SECRET_SIZE]);
        // The output is writable, the ciphertext and key readable, each of PQClean's size (the types say so).
        pqclean!(
            code,
            "decapsulation",
            PQCLEAN_SNTRUP761_AVX2_crypto_kem_dec,
            PQCLEAN_SNTRUP761_CLEAN_crypto_kem_dec,
            ss.as_mut_ptr(),
            ciphertext.as_ptr(),
            self.0.as_ptr()
        );
        ss
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_a_changed_ciphertext_does_not() {
        for _ in 0..20 {
            let (pk, sk) = generate_key();
            let (mut ct, ss) = encapsulate(&pk);
            assert_eq!(*sk.decapsulate(&ct), *ss);
            ct[17] ^= 1;
            assert_ne!(*sk.decapsulate(&ct), *ss, "implicit rejection gives another secret");
        }
    }

    /// The portable code is what runs on CPUs without AVX2: it must agree with the AVX2 code both ways (on a
    /// machine without AVX2 both are the portable code, and the test still checks that).
    #[test]
    fn portable_and_avx2_code_interoperate() {
        let (fast, slow) = (Code::best(), Code::Portable);
        for (keygen, enc, dec) in [
            (fast, slow, fast),
            (slow, fast, slow),
            (slow, slow, fast),
            (fast, fast, slow),
        ] {
            let (pk, sk) = generate_key_with(keygen);
            let (ct, ss) = encapsulate_with(enc, &pk);
            assert_eq!(*sk.decapsulate_with(dec, &ct), *ss, "{keygen:?} {enc:?} {dec:?}");
        }
    }

    /// Wire compatibility with an independent implementation: its keys take our ciphertexts, ours take its.
    #[test]
    fn agrees_with_the_pure_rust_implementation() {
        for i in 0..4u8 {
            let (their_pk, their_sk) = sntrup761::generate_key_from_seed([i; 32]);
            let pk: PublicKey = their_pk.as_ref().try_into().unwrap();
            let (ct, ss) = encapsulate(&pk);
            let ct_theirs = sntrup761::Ciphertext::try_from(&ct[..]).unwrap();
            assert_eq!(their_sk.decapsulate(&ct_theirs).as_ref(), &ss[..]);

            let (pk, sk) = generate_key();
            let their_pk = sntrup761::EncapsulationKey::try_from(&pk[..]).unwrap();
            let (ct, ss) = their_pk.encapsulate_deterministic([i; 32]);
            let ct: Ciphertext = ct.as_ref().try_into().unwrap();
            assert_eq!(&sk.decapsulate(&ct)[..], ss.as_ref());
        }
    }

    #[test]
    fn keys_and_secrets_are_fresh_each_time() {
        let (a, _) = generate_key();
        let (b, _) = generate_key();
        assert_ne!(a, b);
        let (c1, s1) = encapsulate(&a);
        let (c2, s2) = encapsulate(&a);
        assert_ne!(c1, c2);
        assert_ne!(*s1, *s2);
    }

    /// Any bytes are a public key to sntrup761: garbage from a peer encapsulates without failing or panicking.
    #[test]
    fn any_public_key_bytes_encapsulate() {
        for fill in [0u8, 0xff, 0x5a] {
            let _ = encapsulate(&[fill; PUBLIC_KEY_SIZE]);
        }
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let (_, sk) = generate_key();
        assert_eq!(format!("{sk:?}"), "SecretKey(<redacted>)");
    }
}
