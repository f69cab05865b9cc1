//! cargo-fuzz target `authorized_keys`; the logic is in `amiko_proto::fuzzing::authorized_keys` so the stable corpus replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amiko_proto::fuzzing::authorized_keys(data));
