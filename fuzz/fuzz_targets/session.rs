//! cargo-fuzz target `session`; the logic is in `amiko_proto::fuzzing::session` so the stable corpus replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amiko_proto::fuzzing::session(data));
