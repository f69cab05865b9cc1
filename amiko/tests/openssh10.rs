//! mlkem768x25519-sha256 (post-quantum hybrid kex) with a real OpenSSH 10, both directions.

mod common;

use amiko::{Client, ClientConfig};
use common::Sshd;

#[tokio::test]
async fn amiko_client_and_openssh10_sshd_agree_on_mlkem() {
    let Some(sshd) = Sshd::start_openssh10() else { return };
    let mut cfg = ClientConfig::new(sshd.user.clone());
    cfg.host_keys.files = vec![sshd.known_hosts.clone()];
    cfg.keys = vec![amiko::load_key_file(&sshd.client_key, None).unwrap()];
    cfg.proto.algorithms.kex = vec!["mlkem768x25519-sha256".into()];
    let client = Client::connect("127.0.0.1", sshd.port, cfg)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = client.exec("cat /etc/debian_version; echo $((2+3))").await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("5\n"));
    assert!(
        sshd.log().contains("kex: algorithm: mlkem768x25519-sha256"),
        "{}",
        sshd.log()
    );
}

#[test]
fn openssh10_client_and_amiko_server_agree_on_mlkem() {
    let Ok(root) = std::env::var("AMIKO_OPENSSH10_ROOT") else {
        eprintln!("skipping: no OpenSSH 10 peer");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = std::path::PathBuf::from(root);
    let dir = root.join("amiko").join(format!("client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("id");
    assert!(std::process::Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let pubkey = amiko::PublicKey::from_openssh(&std::fs::read_to_string(key.with_extension("pub")).unwrap()).unwrap();
    let host = amiko::PrivateKey::generate_ed25519().unwrap();
    let host_pub = host.public_key();
    let server = rt.block_on(amiko::server::Server::bind(
        "127.0.0.1:0",
        amiko::server::ServerConfig::new(vec![host]),
        std::sync::Arc::new(amiko::server::SimpleAuth {
            authorized_keys: vec![pubkey.into()],
            ..Default::default()
        }),
    ));
    let server = server.unwrap();
    let port = server.local_addr().unwrap().port();
    rt.spawn(server.run());
    std::fs::write(
        dir.join("kh"),
        format!("[127.0.0.1]:{port} {}\n", host_pub.to_openssh()),
    )
    .unwrap();
    let inner = format!("/amiko/client-{}", std::process::id());
    let out = std::process::Command::new("chroot")
        .arg(&root)
        .args([
            "ssh",
            "-v",
            "-o",
            "BatchMode=yes",
            "-o",
            "KexAlgorithms=mlkem768x25519-sha256",
            "-i",
        ])
        .arg(format!("{inner}/id"))
        .arg("-o")
        .arg(format!("UserKnownHostsFile={inner}/kh"))
        .args(["-p", &port.to_string(), "x@127.0.0.1", "echo pq-ok"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pq-ok\n", "{err}");
    assert!(err.contains("kex: algorithm: mlkem768x25519-sha256"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
