//! cargo-fuzz target `private_key`; the logic is in `amiko_proto::fuzzing::private_key` so the stable corpus replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amiko_proto::fuzzing::private_key(data));
