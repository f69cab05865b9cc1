//! SFTP: amiko's client against OpenSSH's sftp server (via the real sshd), and OpenSSH's `sftp -b` against
//! amiko's server.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use amiko::sftp::{Sftp, TransferOptions};
use amiko::{Client, ClientConfig};
use common::Sshd;

fn sha(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

async fn sftp_to(sshd: &Sshd) -> (Client, Sftp) {
    let mut c = ClientConfig::new(sshd.user.clone());
    c.host_keys.files = vec![sshd.known_hosts.clone()];
    c.keys = vec![amiko::load_key_file(&sshd.client_key, None).unwrap()];
    let client = Client::connect("127.0.0.1", sshd.port, c).await.unwrap();
    let sftp = Sftp::new(&client).await.unwrap();
    (client, sftp)
}

/// A directory both this process and the sshd user can write.
fn shared_dir(tag: &str) -> std::path::PathBuf {
    let d = common::temp_dir(tag);
    Command::new("chmod").arg("777").arg(&d).status().unwrap();
    d
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_be_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_put_files_of_every_size_byte_identical() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    assert!(sftp.has_extension("posix-rename@openssh.com"));
    let dir = shared_dir("sftp-sizes");
    for (i, n) in [0usize, 1, 32 * 1024 - 1, 32 * 1024, 32 * 1024 + 1, 5_000_000]
        .iter()
        .enumerate()
    {
        let content = data(*n, i as u8);
        let local = dir.join(format!("src{i}"));
        std::fs::write(&local, &content).unwrap();
        let remote = dir.join(format!("remote{i}")).display().to_string();
        assert_eq!(
            sftp.put(&local, &remote, &TransferOptions::default()).await.unwrap(),
            *n as u64
        );
        assert_eq!(sha(&std::fs::read(&remote).unwrap()), sha(&content), "put {n}");
        let back = dir.join(format!("back{i}"));
        assert_eq!(
            sftp.get(&remote, &back, &TransferOptions::default()).await.unwrap(),
            *n as u64
        );
        assert_eq!(sha(&std::fs::read(&back).unwrap()), sha(&content), "get {n}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_both_ways_with_progress() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-large");
    let content = data(256 << 20, 7);
    let local = dir.join("big");
    std::fs::write(&local, &content).unwrap();
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c2 = calls.clone();
    let opts = TransferOptions {
        progress: Some(Arc::new(move |done, total| {
            assert!(done <= total);
            c2.store(done, std::sync::atomic::Ordering::Relaxed);
        })),
        ..Default::default()
    };
    let remote = dir.join("big.remote").display().to_string();
    sftp.put(&local, &remote, &opts).await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 256 << 20);
    assert_eq!(sha(&std::fs::read(&remote).unwrap()), sha(&content));
    let back = dir.join("big.back");
    sftp.get(&remote, &back, &opts).await.unwrap();
    assert_eq!(sha(&std::fs::read(&back).unwrap()), sha(&content));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn every_operation_and_errors() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-ops");
    let d = dir.display().to_string();
    sftp.mkdir(&format!("{d}/sub"), 0o750).await.unwrap();
    assert!(sftp.stat(&format!("{d}/sub")).await.unwrap().is_dir());
    let h = sftp
        .open(&format!("{d}/sub/f"), 0x1a, Default::default())
        .await
        .unwrap();
    sftp.write(&h, 0, b"hello world").await.unwrap();
    sftp.fsync(&h).await.unwrap();
    assert_eq!(sftp.fstat(&h).await.unwrap().size, Some(11));
    sftp.close(&h).await.unwrap();
    let h = sftp.open_read(&format!("{d}/sub/f")).await.unwrap();
    assert_eq!(sftp.read(&h, 6, 100).await.unwrap(), b"world");
    assert!(
        sftp.read(&h, 100, 10).await.unwrap().is_empty(),
        "read past EOF is empty"
    );
    sftp.close(&h).await.unwrap();
    sftp.setstat(
        &format!("{d}/sub/f"),
        amiko_proto::sftp::Attrs {
            permissions: Some(0o600),
            size: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = sftp.stat(&format!("{d}/sub/f")).await.unwrap();
    assert_eq!((a.size, a.permissions.map(|p| p & 0o777)), (Some(5), Some(0o600)));
    sftp.symlink(&format!("{d}/sub/f"), &format!("{d}/link")).await.unwrap();
    assert_eq!(sftp.readlink(&format!("{d}/link")).await.unwrap(), format!("{d}/sub/f"));
    assert!(sftp.lstat(&format!("{d}/link")).await.unwrap().is_symlink());
    sftp.hardlink(&format!("{d}/sub/f"), &format!("{d}/hard"))
        .await
        .unwrap();
    sftp.rename(&format!("{d}/hard"), &format!("{d}/hard2")).await.unwrap();
    sftp.posix_rename(&format!("{d}/hard2"), &format!("{d}/link"))
        .await
        .unwrap();
    let mut names = sftp.listdir(&d).await.unwrap();
    names.sort();
    assert_eq!(names, ["link", "sub"]);
    assert!(sftp
        .realpath(&format!("{d}/sub/../sub"))
        .await
        .unwrap()
        .ends_with("/sub"));
    assert_eq!(sftp.statvfs(&d).await.unwrap().len(), 11);
    // copy-data: server-side copy between two open files.
    let src = sftp.open_read(&format!("{d}/sub/f")).await.unwrap();
    let dst = sftp.open(&format!("{d}/copy"), 0x1a, Default::default()).await.unwrap();
    sftp.copy_data(&src, 1, 0, &dst, 0).await.unwrap(); // f is "hello" after the truncate above
    sftp.close(&src).await.unwrap();
    sftp.close(&dst).await.unwrap();
    assert_eq!(std::fs::read(format!("{d}/copy")).unwrap(), b"ello");
    sftp.remove(&format!("{d}/copy")).await.unwrap();
    let (users, groups) = sftp.users_groups_by_id(&[0, 4_000_000], &[0]).await.unwrap();
    assert_eq!(
        (users[0].as_str(), users[1].as_str(), groups[0].as_str()),
        ("root", "", "root")
    );
    sftp.remove(&format!("{d}/link")).await.unwrap();
    sftp.remove(&format!("{d}/sub/f")).await.unwrap();
    sftp.rmdir(&format!("{d}/sub")).await.unwrap();
    // Errors carry the status code and the path.
    let e = sftp.stat(&format!("{d}/missing")).await.unwrap_err();
    assert!(matches!(&e, amiko::Error::Sftp(s) if s.code == 2), "{e}");
    assert!(e.to_string().contains("missing"));
    let e = sftp.open(&d, 0x01, Default::default()).await;
    if let Ok(h) = &e {
        // OpenSSH opens directories as files; reading them fails.
        assert!(sftp.read(h, 0, 10).await.is_err());
    }
    if !common::is_root() || sshd.user != "root" {
        let e = sftp.open("/etc/shadow", 0x01, Default::default()).await.unwrap_err();
        assert!(matches!(&e, amiko::Error::Sftp(s) if s.code == 3), "{e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Resuming options, and the lowest progress the transfer reports (above where it started).
fn resuming() -> (TransferOptions, Arc<std::sync::atomic::AtomicU64>) {
    let lowest = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let l = lowest.clone();
    let opts = TransferOptions {
        resume: true,
        progress: Some(Arc::new(move |done, _| {
            l.fetch_min(done, std::sync::atomic::Ordering::Relaxed);
        })),
        ..Default::default()
    };
    (opts, lowest)
}

/// `content` with its bytes from `at` for `len` zeroed: the hole a cut transfer may leave.
fn holed(content: &[u8], at: usize, len: usize) -> Vec<u8> {
    let mut v = content.to_vec();
    v[at..at + len].fill(0);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_continues_a_partial_download_and_upload() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-resume");
    let content = data(24_000_000, 3);
    let remote = dir.join("r");
    std::fs::write(&remote, &content).unwrap();
    // A partial download left behind: the first 20 MB. It goes on from 8 MiB before that end, not from 0.
    let local = dir.join("l");
    std::fs::write(dir.join("l.amiko-part"), &content[..20_000_000]).unwrap();
    let (opts, lowest) = resuming();
    sftp.get(&remote.display().to_string(), &local, &opts).await.unwrap();
    assert_eq!(sha(&std::fs::read(&local).unwrap()), sha(&content));
    let from = lowest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (11_000_000..20_000_000).contains(&from),
        "resumed, from about 11.6 MB: {from}"
    );
    // A partial upload (atomic: the temporary name) is continued the same way.
    let up = dir.join("u");
    std::fs::write(dir.join(".u.amiko-part"), &content[..20_000_000]).unwrap();
    Command::new("chmod")
        .arg("666")
        .arg(dir.join(".u.amiko-part"))
        .status()
        .unwrap();
    let (opts, lowest) = resuming();
    sftp.put(&remote, &up.display().to_string(), &opts).await.unwrap();
    assert_eq!(sha(&std::fs::read(&up).unwrap()), sha(&content));
    assert!(!dir.join(".u.amiko-part").exists());
    let from = lowest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (11_000_000..20_000_000).contains(&from),
        "resumed, from about 11.6 MB: {from}"
    );
    // A partial file that does not match is started over, not trusted.
    std::fs::write(dir.join("l2.amiko-part"), vec![0xffu8; 500_000]).unwrap();
    sftp.get(&remote.display().to_string(), &dir.join("l2"), &opts)
        .await
        .unwrap();
    assert_eq!(sha(&std::fs::read(dir.join("l2")).unwrap()), sha(&content));
    std::fs::remove_dir_all(&dir).ok();
}

/// A transfer cut off may leave holes near the end of its partial file (writes that landed out of order: a
/// server running requests at once, or our download killed before it cut its file back), with the last bytes
/// right. Resuming must not trust those: the result is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_mends_holes_near_the_end_of_a_partial_file() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-resume-holes");
    let content = data(24_000_000, 4);
    let remote = dir.join("r");
    std::fs::write(&remote, &content).unwrap();
    // 20 MB with a 1 MB hole 3 MB before the end: its last 64 KiB match.
    let partial = holed(&content[..20_000_000], 17_000_000, 1_000_000);
    std::fs::write(dir.join("l.amiko-part"), &partial).unwrap();
    let local = dir.join("l");
    sftp.get(&remote.display().to_string(), &local, &resuming().0)
        .await
        .unwrap();
    assert!(
        std::fs::read(&local).unwrap() == content,
        "the download's hole was mended"
    );
    let up = dir.join("u");
    std::fs::write(dir.join(".u.amiko-part"), &partial).unwrap();
    Command::new("chmod")
        .arg("666")
        .arg(dir.join(".u.amiko-part"))
        .status()
        .unwrap();
    sftp.put(&remote, &up.display().to_string(), &resuming().0)
        .await
        .unwrap();
    assert!(std::fs::read(&up).unwrap() == content, "the upload's hole was mended");
    std::fs::remove_dir_all(&dir).ok();
}

/// Cuts the connection once `part` holds 24 MiB (so that a resume, 8 MiB back, still skips some); the transfer
/// `job` must then fail.
async fn cut_once_part_grows(
    part: &std::path::Path,
    client: &Client,
    job: tokio::task::JoinHandle<amiko::Result<u64>>,
) {
    for _ in 0..5000 {
        if std::fs::metadata(part).map(|m| m.len() > 24 << 20).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    client.disconnect();
    job.await.unwrap().expect_err("the cut transfer must fail");
}

/// Checks that the transfer was cut and that `part` holds the first bytes of `content` and nothing else (no holes).
fn assert_clean_prefix(part: &std::path::Path, content: &[u8]) {
    let have = std::fs::read(part).unwrap();
    assert!(
        have.len() < content.len(),
        "the transfer was cut ({} bytes)",
        have.len()
    );
    assert!(
        have == content[..have.len()],
        "the partial file is a prefix of the source"
    );
}

/// A download cut off mid-way leaves a part file that holds the remote file's first bytes and nothing else (no
/// holes from replies that came out of order), and `resume` then finishes it byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_to_identical_bytes() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = shared_dir("sftp-cut");
    let content = data(96 << 20, 5);
    let remote = dir.join("r").display().to_string();
    std::fs::write(&remote, &content).unwrap();
    let local = dir.join("l");
    let part = dir.join("l.amiko-part");
    let (client, sftp) = sftp_to(&sshd).await;
    let (s2, l2) = (sftp.clone(), local.clone());
    let r2 = remote.clone();
    let job = tokio::spawn(async move { s2.get(&r2, &l2, &TransferOptions::default()).await });
    cut_once_part_grows(&part, &client, job).await;
    assert!(!local.exists(), "no target from a cut download");
    assert_clean_prefix(&part, &content);
    let (_c, sftp) = sftp_to(&sshd).await;
    let (opts, lowest) = resuming();
    sftp.get(&remote, &local, &opts).await.unwrap();
    assert_eq!(sha(&std::fs::read(&local).unwrap()), sha(&content));
    let from = lowest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(from > 8 << 20, "resumed, not started over: {from}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The same for an upload: the server's partial file (the temporary name) holds the local file's first bytes with
/// no holes, since writes go out in offset order, and `resume` finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_to_identical_bytes() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = shared_dir("sftp-cut-up");
    let content = data(96 << 20, 6);
    let local = dir.join("src");
    std::fs::write(&local, &content).unwrap();
    let remote = dir.join("u").display().to_string();
    let part = dir.join(".u.amiko-part");
    let (client, sftp) = sftp_to(&sshd).await;
    let (s2, l2, r2) = (sftp.clone(), local.clone(), remote.clone());
    let job = tokio::spawn(async move { s2.put(&l2, &r2, &TransferOptions::default()).await });
    cut_once_part_grows(&part, &client, job).await;
    // sftp-server finishes the writes it has read before it sees the end of the session.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!dir.join("u").exists(), "no target from a cut upload");
    assert_clean_prefix(&part, &content);
    let (_c, sftp) = sftp_to(&sshd).await;
    let (opts, lowest) = resuming();
    sftp.put(&local, &remote, &opts).await.unwrap();
    assert_eq!(sha(&std::fs::read(dir.join("u")).unwrap()), sha(&content));
    let from = lowest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(from > 8 << 20, "resumed, not started over: {from}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_peer_gives_a_clear_error_and_no_truncated_target() {
    let Some(sshd) = Sshd::start() else { return };
    let (client, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-die");
    let content = data(64 << 20, 9);
    let local = dir.join("src");
    std::fs::write(&local, &content).unwrap();
    let target = dir.join("target");
    std::fs::write(&target, b"old complete content").unwrap();
    Command::new("chmod").arg("666").arg(&target).status().unwrap();
    let s2 = sftp.clone();
    let t = target.display().to_string();
    let job = tokio::spawn(async move { s2.put(&local, &t, &TransferOptions::default()).await });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    drop(sshd); // kills sshd; its per-connection child goes with the socket
    client.disconnect();
    let err = job.await.unwrap().expect_err("the transfer must fail");
    assert!(!err.to_string().is_empty());
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"old complete content",
        "target untouched"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_get_and_put_keep_modes_and_mtimes() {
    let Some(sshd) = Sshd::start() else { return };
    let (_c, sftp) = sftp_to(&sshd).await;
    let dir = shared_dir("sftp-tree");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    for (p, body) in [("x", "1"), ("a/y", "22"), ("a/b/z", "333")] {
        std::fs::write(src.join(p), body).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("a/y"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(src.join("x"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let remote = dir.join("remote").display().to_string();
    assert_eq!(
        sftp.put_dir(&src, &remote, &TransferOptions::default()).await.unwrap(),
        6
    );
    let back = dir.join("back");
    sftp.get_dir(&remote, &back, &TransferOptions::default()).await.unwrap();
    assert_eq!(std::fs::read_to_string(back.join("a/b/z")).unwrap(), "333");
    assert_eq!(
        std::fs::metadata(back.join("a/y")).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(std::fs::metadata(back.join("x")).unwrap().modified().unwrap(), old);
    std::fs::remove_dir_all(&dir).ok();
}

// ---- amiko's server, driven by OpenSSH's sftp -b ----

fn amiko_server_with_sftp(
    root: &Path,
) -> Option<(u16, std::path::PathBuf, std::path::PathBuf, tokio::runtime::Runtime)> {
    if Command::new("sftp").arg("-h").stderr(Stdio::null()).status().is_err() {
        common::missing("OpenSSH sftp client")?;
    }
    let dir = common::temp_dir("sftp-client-side");
    let key = dir.join("id");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let pubkey = amiko::PublicKey::from_openssh(&std::fs::read_to_string(key.with_extension("pub")).unwrap()).unwrap();
    let host = amiko::PrivateKey::generate_ed25519().unwrap();
    let kh = dir.join("kh");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = amiko::server::ServerConfig::new(vec![host.clone()]);
    cfg.sftp_root = Some(root.to_path_buf());
    let server = rt
        .block_on(amiko::server::Server::bind(
            "127.0.0.1:0",
            cfg,
            Arc::new(amiko::server::SimpleAuth {
                authorized_keys: vec![pubkey.into()],
                ..Default::default()
            }),
        ))
        .unwrap();
    let port = server.local_addr().unwrap().port();
    rt.spawn(server.run());
    std::fs::write(&kh, format!("[127.0.0.1]:{port} {}\n", host.public_key().to_openssh())).unwrap();
    Some((port, key, kh, rt))
}

fn sftp_batch(port: u16, key: &Path, kh: &Path, batch: &str) -> std::process::Output {
    let mut child = Command::new("sftp")
        .args(["-q", "-b", "-", "-o", "BatchMode=yes", "-i"])
        .arg(key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-P", &port.to_string(), "u@127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn openssh_sftp_batch_against_amikos_server() {
    let root = common::temp_dir("sftp-root");
    let Some((port, key, kh, _rt)) = amiko_server_with_sftp(&root) else {
        return;
    };
    let work = common::temp_dir("sftp-work");
    let content = data(3_000_000, 1);
    std::fs::write(work.join("up.bin"), &content).unwrap();
    let batch = format!(
        "mkdir d\ncd d\nput {up} f.bin\nls -l\nrename f.bin g.bin\nchmod 600 g.bin\nln -s g.bin s\nget g.bin {down}\n\
         df .\nrm s\npwd\n",
        up = work.join("up.bin").display(),
        down = work.join("down.bin").display()
    );
    let out = sftp_batch(port, &key, &kh, &batch);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{so}\n{se}");
    assert!(so.contains("g.bin") || so.contains("f.bin"), "{so}");
    assert!(so.contains("Remote working directory: /d"), "{so}");
    assert_eq!(sha(&std::fs::read(work.join("down.bin")).unwrap()), sha(&content));
    assert_eq!(sha(&std::fs::read(root.join("d/g.bin")).unwrap()), sha(&content));
    // The jail: nothing outside the root can be reached, whatever the path.
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    for bad in [
        "get /../../etc/passwd",
        "get ../../../etc/hostname",
        "get escape/hostname",
        "ls /../..",
    ] {
        let out = sftp_batch(port, &key, &kh, &format!("{bad} {}\n", work.join("x").display()));
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(!work.join("x").exists(), "{bad} escaped the jail: {text}");
        assert!(!text.contains("root:x:0:0"), "{bad}: {text}");
    }
    // Errors: missing file, a directory opened as a file.
    let out = sftp_batch(
        port,
        &key,
        &kh,
        &format!("get nothing-here {}\n", work.join("y").display()),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not found") || err.contains("No such file"), "{err}");
    let out = sftp_batch(port, &key, &kh, &format!("get d {}\n", work.join("z").display()));
    assert!(!work.join("z").is_file() || std::fs::read(work.join("z")).unwrap().is_empty());
    let _ = out;
    std::fs::remove_dir_all(&root).ok();
    std::fs::remove_dir_all(&work).ok();
}

/// Hostile SFTP requests against amiko's server: bad handles, too many opens, reads past EOF, an oversized frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sftp_requests_get_errors_and_the_session_stays_usable() {
    use amiko_proto::sftp::{status, FrameReader, Request, Response};
    let root = common::temp_dir("sftp-bad");
    std::fs::write(root.join("f"), b"0123456789").unwrap();
    let host = amiko::PrivateKey::generate_ed25519().unwrap();
    let user_key = amiko::PrivateKey::generate_ed25519().unwrap();
    let mut cfg = amiko::server::ServerConfig::new(vec![host.clone()]);
    cfg.sftp_root = Some(root.clone());
    let auth = amiko::server::SimpleAuth {
        authorized_keys: vec![user_key.public_key().into()],
        ..Default::default()
    };
    let server = amiko::server::Server::bind("127.0.0.1:0", cfg, Arc::new(auth))
        .await
        .unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run());
    let connect = || async {
        let mut c = ClientConfig::new("u");
        c.host_keys.policy = amiko::HostKeyPolicy::DangerouslyAcceptAny;
        c.keys = vec![user_key.clone()];
        Client::connect("127.0.0.1", port, c).await.unwrap()
    };
    let client = connect().await;
    let ch = client.open_session().await.unwrap();
    ch.subsystem("sftp").await.unwrap();
    let mut fr = FrameReader::default();
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    let mut call = async |req: Request<'_>| -> (u32, Vec<u8>, String) {
        out.clear();
        req.encode(&mut out);
        ch.write_all_data(&out).await.unwrap();
        loop {
            if let Some(f) = fr.next_frame().unwrap() {
                return match Response::decode(f).unwrap() {
                    Response::Status { code, message, .. } => (code, Vec::new(), message),
                    Response::Handle { handle, .. } => (status::OK, handle.to_vec(), String::new()),
                    Response::Data { data, .. } => (status::OK, data.to_vec(), String::new()),
                    Response::Version { .. } => (status::OK, Vec::new(), "version".into()),
                    other => (status::OK, Vec::new(), format!("{other:?}")),
                };
            }
            let n = ch.read(&mut buf).await.unwrap();
            assert!(n > 0, "server closed the session");
            fr.push(&buf[..n]);
        }
    };
    assert_eq!(call(Request::Init { version: 3 }).await.2, "version");
    let (code, _, msg) = call(Request::Read {
        id: 1,
        handle: &[0, 0, 0, 99],
        offset: 0,
        len: 10,
    })
    .await;
    assert_eq!((code, msg.as_str()), (status::FAILURE, "invalid handle"));
    let (code, _, _) = call(Request::Read {
        id: 2,
        handle: b"seven!!",
        offset: 0,
        len: 10,
    })
    .await;
    assert_eq!(code, status::FAILURE);
    let mut handles = Vec::new();
    let mut refused = 0;
    for i in 0..300 {
        let (code, h, msg) = call(Request::Open {
            id: 10 + i,
            path: "/f",
            flags: 1,
            attrs: Default::default(),
        })
        .await;
        if code == status::OK {
            handles.push(h);
        } else {
            assert!(msg.contains("too many open handles"), "{msg}");
            refused += 1;
        }
    }
    assert_eq!(
        (handles.len(), refused),
        (amiko::server::MAX_HANDLES, 300 - amiko::server::MAX_HANDLES)
    );
    let (code, _, _) = call(Request::Read {
        id: 500,
        handle: &handles[0],
        offset: 1000,
        len: 10,
    })
    .await;
    assert_eq!(code, status::EOF, "read past EOF");
    let (code, data, _) = call(Request::Read {
        id: 501,
        handle: &handles[0],
        offset: 4,
        len: 3,
    })
    .await;
    assert_eq!((code, data.as_slice()), (status::OK, &b"456"[..]));
    let (code, _, _) = call(Request::Close {
        id: 502,
        handle: &handles[0],
    })
    .await;
    assert_eq!(code, status::OK);
    let (code, _, _) = call(Request::Open {
        id: 503,
        path: "/f",
        flags: 1,
        attrs: Default::default(),
    })
    .await;
    assert_eq!(code, status::OK, "a freed slot can be used again");
    let (code, _, _) = call(Request::Open {
        id: 504,
        path: "/../../etc/passwd",
        flags: 1,
        attrs: Default::default(),
    })
    .await;
    assert_eq!(
        code,
        status::NO_SUCH_FILE,
        "outside paths resolve inside the root, where there is no etc/passwd"
    );
    // An oversized frame ends this SFTP session, nothing else.
    ch.write_all_data(&(64u32 << 20).to_be_bytes()).await.unwrap();
    let mut rest = Vec::new();
    while let Ok(n) = ch.read(&mut buf).await {
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    let other = connect().await;
    let sftp = Sftp::new(&other).await.unwrap();
    assert_eq!(sftp.stat("/f").await.unwrap().size, Some(10));
    // The extensions work against amiko's server too.
    let (src, dst) = (
        sftp.open_read("/f").await.unwrap(),
        sftp.open("/g", 0x1a, Default::default()).await.unwrap(),
    );
    sftp.copy_data(&src, 2, 3, &dst, 0).await.unwrap();
    sftp.close(&dst).await.unwrap();
    assert_eq!(std::fs::read(root.join("g")).unwrap(), b"234");
    assert_eq!(
        sftp.users_groups_by_id(&[0], &[0]).await.unwrap(),
        (vec!["root".to_string()], vec!["root".to_string()])
    );
    assert_eq!(sftp.home_directory().await.unwrap(), "/");
    std::fs::remove_dir_all(&root).ok();
}

/// An amiko server whose "sftp" subsystem runs a script (a hand-written, misbehaving SFTP server) on the channel,
/// with the password "pw".
struct ScriptedSftp<F>(F);

impl<F, Fut> amiko::server::Handler for ScriptedSftp<F>
where
    F: Fn(amiko::Channel) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    fn auth_password(&self, _: &str, password: &str) -> amiko::server::AuthDecision {
        if password == "pw" {
            amiko::server::AuthDecision::Accept
        } else {
            amiko::server::AuthDecision::Reject
        }
    }

    fn subsystem(&self, _: &amiko::server::SessionInfo, name: &str, channel: amiko::Channel) -> bool {
        name == "sftp" && {
            tokio::spawn((self.0)(channel));
            true
        }
    }
}

/// A [`ScriptedSftp`] server in this process running `script`, and an SFTP session of ours with it (with a temporary
/// directory named after `tag`).
async fn scripted_sftp_session<F, Fut>(
    tag: &str,
    script: F,
) -> (std::path::PathBuf, common::InProcessServer, Client, Sftp)
where
    F: Fn(amiko::Channel) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let dir = common::temp_dir(tag);
    let kh = dir.join("kh");
    let server = common::InProcessServer::start(
        amiko::server::ServerConfig::new(vec![amiko::PrivateKey::generate_ed25519().unwrap()]),
        Arc::new(ScriptedSftp(script)),
        Some(&kh),
    );
    let mut c = ClientConfig::new("u");
    c.host_keys.files = vec![kh];
    c.password = Some("pw".into());
    let client = Client::connect("127.0.0.1", server.port, c).await.unwrap();
    let sftp = Sftp::new(&client).await.unwrap();
    (dir, server, client, sftp)
}

/// An SFTP server script for [`ScriptedSftp`]: it answers every READ with more bytes than were asked for (here
/// 100 more). The client must refuse the reply (those bytes would land on the next chunk's, or past the end of the
/// file), and a download gets a clear error and leaves no target.
async fn greedy_sftp(ch: amiko::Channel) {
    use amiko_proto::sftp::{Attrs, FrameReader, Request, Response};
    let (mut fr, mut buf) = (FrameReader::default(), vec![0u8; 64 * 1024]);
    let filler = vec![7u8; 300 * 1024];
    loop {
        let mut out = Vec::new();
        match fr.next_frame() {
            Ok(Some(frame)) => match Request::decode(frame) {
                Ok(Request::Init { .. }) => Response::Version {
                    version: 3,
                    extensions: vec![],
                },
                Ok(Request::Stat { id, .. } | Request::Lstat { id, .. }) => Response::Attrs {
                    id,
                    attrs: Attrs {
                        size: Some(1 << 20),
                        permissions: Some(0o100644),
                        ..Default::default()
                    },
                },
                Ok(Request::Open { id, .. }) => Response::Handle { id, handle: b"h" },
                Ok(Request::Read { id, len, .. }) => Response::Data {
                    id,
                    data: &filler[..(len as usize + 100).min(filler.len())],
                },
                Ok(Request::Close { id, .. }) => Response::Status {
                    id,
                    code: 0,
                    message: String::new(),
                },
                _ => return,
            }
            .encode(&mut out),
            Ok(None) => match ch.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => fr.push(&buf[..n]),
            },
            Err(_) => return,
        }
        if !out.is_empty() && ch.write_all_data(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_reply_longer_than_asked_is_an_error() {
    let (dir, _server, _client, sftp) = scripted_sftp_session("sftp-greedy", greedy_sftp).await;
    let local = dir.join("got");
    let err = sftp
        .get("/any", &local, &TransferOptions::default())
        .await
        .expect_err("a reply longer than the read must fail the download")
        .to_string();
    assert!(err.contains("bytes for a read of"), "{err}");
    assert!(!local.exists(), "no target from a failed download");
    std::fs::remove_dir_all(&dir).ok();
}

/// An SFTP server script for [`ScriptedSftp`]: it holds back its reply to the first READ or WRITE (offset 0) of
/// each file until the client has gone quiet for 300 ms after asking for more, answering every other request at
/// once, as a server running requests at once may, and records in `furthest` the end of the furthest READ or WRITE
/// asked for meanwhile. Files read are [`SLOW_FIRST_SIZE`] bytes of `(offset % 251)`.
///
/// The quiet time only starts once a later request has come: on a loaded machine the client may take longer than
/// 300 ms to send its second request, and releasing the reply then would measure nothing (CI saw `furthest` 0).
const SLOW_FIRST_SIZE: u64 = 32 << 20;

async fn slow_first_sftp(ch: amiko::Channel, furthest: Arc<std::sync::atomic::AtomicU64>) {
    use amiko_proto::sftp::{Attrs, FrameReader, Request, Response};
    let (mut fr, mut buf) = (FrameReader::default(), vec![0u8; 64 * 1024]);
    let pattern: Vec<u8> = (0..(2 << 20) as u64).map(|i| (i % 251) as u8).collect();
    let ok = |id| Response::Status {
        id,
        code: 0,
        message: String::new(),
    };
    // The held-back reply (encoded), whether the first request has come yet, and whether any has come since.
    let (mut held, mut first_seen, mut later) = (None::<Vec<u8>>, false, false);
    loop {
        let mut out = Vec::new();
        match fr.next_frame() {
            Ok(Some(frame)) => {
                let req = Request::decode(frame);
                let (offset, len) = match &req {
                    Ok(Request::Read { offset, len, .. }) => (*offset, *len as u64),
                    Ok(Request::Write { offset, data, .. }) => (*offset, data.len() as u64),
                    _ => (u64::MAX, 0),
                };
                if matches!(req, Ok(Request::Open { .. })) {
                    // Each file's first READ or WRITE is the one held back.
                    first_seen = false;
                }
                match req {
                    Ok(Request::Init { .. }) => Response::Version {
                        version: 3,
                        extensions: vec![],
                    },
                    Ok(Request::Stat { id, .. } | Request::Lstat { id, .. } | Request::Fstat { id, .. }) => {
                        Response::Attrs {
                            id,
                            attrs: Attrs {
                                size: Some(SLOW_FIRST_SIZE),
                                permissions: Some(0o100644),
                                ..Default::default()
                            },
                        }
                    }
                    Ok(Request::Open { id, .. }) => Response::Handle { id, handle: b"h" },
                    Ok(Request::Read { id, offset, len, .. }) => {
                        let at = (offset % 251) as usize;
                        let n = (len as u64).min(SLOW_FIRST_SIZE.saturating_sub(offset)) as usize;
                        Response::Data {
                            id,
                            data: &pattern[at..at + n],
                        }
                    }
                    Ok(Request::Write { id, .. } | Request::Close { id, .. } | Request::Setstat { id, .. }) => ok(id),
                    _ => return,
                }
                .encode(&mut out);
                if offset != u64::MAX {
                    if !first_seen && offset == 0 {
                        (first_seen, later) = (true, false);
                        held = Some(std::mem::take(&mut out));
                    } else if held.is_some() {
                        later = true;
                        furthest.fetch_max(offset + len, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            Ok(None) => {
                // A client that never asks for more than the first still gets its reply, after 20 s.
                let quiet = std::time::Duration::from_millis(if later { 300 } else { 20_000 });
                let read = match held {
                    Some(_) => tokio::time::timeout(quiet, ch.read(&mut buf)).await,
                    None => Ok(ch.read(&mut buf).await),
                };
                match read {
                    Err(_) => out = held.take().unwrap_or_default(),
                    Ok(Ok(0) | Err(_)) => return,
                    Ok(Ok(n)) => fr.push(&buf[..n]),
                }
            }
            Err(_) => return,
        }
        if !out.is_empty() && ch.write_all_data(&out).await.is_err() {
            return;
        }
    }
}

/// However many requests may be in flight, none goes further than 8 MiB past the lowest one still unanswered: so
/// a transfer cut off leaves holes only within 8 MiB of its partial file's end, which is what `resume` goes back
/// over. Checked both ways against a server that answers the first request last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_stay_within_8_mib_of_the_lowest_unanswered() {
    let furthest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let f = furthest.clone();
    let serve = move |ch| slow_first_sftp(ch, f.clone());
    let (dir, _server, _client, sftp) = scripted_sftp_session("sftp-slow-first", serve).await;
    // 2000 reads of 32 KiB could cover the whole 32 MiB at once.
    let opts = TransferOptions {
        in_flight: 2000,
        atomic: false,
        preserve: false,
        ..Default::default()
    };
    let local = dir.join("got");
    sftp.get("/f", &local, &opts).await.unwrap();
    let got = std::fs::read(&local).unwrap();
    assert!(
        got.len() as u64 == SLOW_FIRST_SIZE && got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
        "the download is whole"
    );
    let far = furthest.swap(0, std::sync::atomic::Ordering::Relaxed);
    assert!(
        (1..=8 << 20).contains(&far),
        "reads went up to {far} with the first one unanswered"
    );
    sftp.put(&local, "/up", &opts).await.unwrap();
    let far = furthest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (1..=8 << 20).contains(&far),
        "writes went up to {far} with the first one unanswered"
    );
    std::fs::remove_dir_all(&dir).ok();
}
