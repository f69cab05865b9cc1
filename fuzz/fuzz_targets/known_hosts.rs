//! cargo-fuzz target `known_hosts`; the logic is in `amiko_proto::fuzzing::known_hosts` so the stable corpus replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amiko_proto::fuzzing::known_hosts(data));
