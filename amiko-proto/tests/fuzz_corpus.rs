//! Replays the committed fuzz corpus and crash reproducers (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`)
//! through the same entry points the cargo-fuzz targets call, on the stable toolchain: the seeds keep compiling
//! against the current input formats, and every fixed finding stays fixed. (`ssh_config` is replayed by amiko-cli.)

use std::path::PathBuf;

use amiko_proto::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            eprintln!("{}", f.display());
            run(&data);
            seen += 1;
        }
    }
    assert!(seen > 0, "no corpus for {target}: fuzz/corpus/{target}/ is missing");
}

#[test]
fn packet() {
    replay("packet", fuzzing::packet);
}

#[test]
fn message() {
    replay("message", fuzzing::message);
}

#[test]
fn session() {
    replay("session", fuzzing::session);
}

#[test]
fn known_hosts() {
    replay("known_hosts", fuzzing::known_hosts);
}

#[test]
fn authorized_keys() {
    replay("authorized_keys", fuzzing::authorized_keys);
}

#[test]
fn private_key() {
    replay("private_key", fuzzing::private_key);
}

#[test]
fn sftp() {
    replay("sftp", fuzzing::sftp);
}
