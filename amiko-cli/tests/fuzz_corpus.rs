//! Replays the committed `ssh_config` fuzz corpus and crash reproducers through the fuzz target's entry point on
//! the stable toolchain, so the seeds stay valid and fixed findings stay fixed.

use std::path::PathBuf;

#[test]
fn ssh_config() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("ssh_config")) else {
            continue;
        };
        for f in entries.flatten() {
            eprintln!("{}", f.path().display());
            amiko_cli::ssh_config::fuzz(&std::fs::read(f.path()).unwrap());
            seen += 1;
        }
    }
    assert!(seen > 0, "fuzz/corpus/ssh_config/ is missing");
}
