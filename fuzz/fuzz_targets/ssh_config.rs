//! cargo-fuzz target `ssh_config`; the logic is in `amiko_cli::ssh_config::fuzz` so the stable corpus replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| amiko_cli::ssh_config::fuzz(data));
