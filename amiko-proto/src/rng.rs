//! Randomness from aws-lc-rs's system-seeded generator.

/// Fills `buf` with random bytes. aws-lc-rs only fails here if the OS has no entropy source, which no supported
/// system lacks; padding and cookies are then left as they were rather than aborting.
pub fn fill(buf: &mut [u8]) {
    let _ = aws_lc_rs::rand::fill(buf);
}
