//! In-memory client↔server tests of the engine: both roles of this crate talk to each other without sockets.

use crate::config::{Config, Role};
use crate::connection::{AuthMethod, ChannelRequest, Connection, Event};
use crate::keys::PrivateKey;

/// Two engines wired back to back.
pub(crate) struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
}

impl Pair {
    pub fn new(client_cfg: Config, server_cfg: Config) -> Pair {
        let host_keys = vec![
            PrivateKey::generate_ed25519().unwrap(),
            rsa_host_key(),
            ecdsa_host_key(),
        ];
        Pair {
            client: Connection::new(client_cfg, vec![]),
            server: Connection::new(server_cfg, host_keys),
            client_events: vec![],
            server_events: vec![],
        }
    }

    pub fn default_pair() -> Pair {
        Pair::new(Config::new(Role::Client), Config::new(Role::Server))
    }

    /// Moves bytes both ways until nothing moves; answers host-key and auth questions like a permissive app.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            let c2s = self.client.poll_transmit().to_vec();
            self.client.advance_transmit(c2s.len());
            if !c2s.is_empty() {
                moved = true;
                let _ = self.server.handle_input(&c2s);
            }
            let s2c = self.server.poll_transmit().to_vec();
            self.server.advance_transmit(s2c.len());
            if !s2c.is_empty() {
                moved = true;
                let _ = self.client.handle_input(&s2c);
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                if let Event::HostKey(_) = e {
                    self.client.accept_host_key().unwrap();
                }
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                match &e {
                    Event::AuthRequest {
                        method: AuthMethod::Password(p),
                        ..
                    } if p == "pw" => self.server.auth_accept().unwrap(),
                    Event::AuthRequest {
                        method: AuthMethod::PublicKeyQuery(_),
                        ..
                    } => self.server.auth_pk_ok().unwrap(),
                    Event::AuthRequest {
                        method: AuthMethod::PublicKey(_),
                        ..
                    } => self.server.auth_accept().unwrap(),
                    Event::AuthRequest { .. } => self.server.auth_reject(false).unwrap(),
                    Event::ChannelOpenRequest { id, .. } => self.server.channel_accept(*id).unwrap(),
                    Event::ChannelRequest {
                        id, want_reply: true, ..
                    } => self.server.channel_reply(*id, true).unwrap(),
                    _ => {}
                }
                self.server_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("pair never settled");
    }

    pub fn authenticate(&mut self) {
        self.run();
        assert!(
            self.client_events.contains(&Event::AuthReady),
            "{:?}",
            self.client_events
        );
        self.client.auth_password("u", "pw").unwrap();
        self.run();
        assert!(
            self.client_events.contains(&Event::AuthSuccess),
            "{:?}",
            self.client_events
        );
    }
}

fn rsa_host_key() -> PrivateKey {
    PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap()
}

fn ecdsa_host_key() -> PrivateKey {
    PrivateKey::from_text(include_str!("../tests/data/ecdsa384.pem"), None).unwrap()
}

#[test]
fn every_kex_cipher_mac_and_host_key_between_our_two_roles() {
    use crate::config::{CIPHER_DEFAULT, HOST_KEY_DEFAULT, KEX_DEFAULT, MAC_DEFAULT};
    let mut combos = Vec::new();
    for k in KEX_DEFAULT {
        combos.push((*k, "ssh-ed25519", "aes128-gcm@openssh.com", "hmac-sha2-256"));
    }
    for h in HOST_KEY_DEFAULT
        .iter()
        .filter(|h| !h.contains("256") && !h.contains("521") || h.starts_with("rsa"))
        .filter(|h| !crate::cert::is_cert_algorithm(h))
    // needs a certificate: tests_certs.rs
    {
        combos.push(("curve25519-sha256", h, "chacha20-poly1305@openssh.com", "hmac-sha2-256"));
    }
    for c in CIPHER_DEFAULT {
        for m in MAC_DEFAULT {
            combos.push(("curve25519-sha256", "ssh-ed25519", c, m));
        }
    }
    for (k, h, c, m) in combos {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.kex = vec![k.into()];
        cc.algorithms.host_key = vec![h.into()];
        cc.algorithms.cipher = vec![c.into()];
        cc.algorithms.mac = vec![m.into()];
        let mut p = Pair::new(cc, Config::new(Role::Server));
        p.authenticate();
        let n = p.client.negotiated().unwrap().clone();
        assert_eq!((n.kex.as_str(), n.host_key.as_str(), n.cipher_c2s.as_str()), (k, h, c));
        assert!(p.client.strict_kex() && p.server.strict_kex());
        // Some channel traffic under these keys.
        let id = p.client.channel_open_session().unwrap();
        p.run();
        p.client.channel_request(id, &ChannelRequest::Exec("x".into())).unwrap();
        p.client.channel_send(id, &[7u8; 50_000], None).unwrap();
        p.run();
        let sid = p.server.channel_count();
        assert_eq!(sid, 1);
    }
}

#[test]
fn channel_data_flows_both_ways_across_rekeys() {
    let mut cc = Config::new(Role::Client);
    cc.rekey_bytes = 256 * 1024;
    let mut sc = Config::new(Role::Server);
    sc.channel_window = 200_000; // small, so the data goes out in many rounds and several rekeys happen mid-stream
    let mut p = Pair::new(cc, sc);
    p.authenticate();
    let cid = p.client.channel_open_session().unwrap();
    p.run();
    let sid = p
        .server_events
        .iter()
        .find_map(|e| {
            if let Event::ChannelOpenRequest { id, .. } = e {
                Some(*id)
            } else {
                None
            }
        })
        .unwrap();
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        if sent < data.len() {
            sent += p.client.channel_send(cid, &data[sent..], None).unwrap();
        }
        p.run();
        loop {
            let n = p.server.channel_recv(sid, false, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, data);
    assert!(p.client.kex_count() > 3, "kex count {}", p.client.kex_count());
}

#[test]
fn wrong_password_names_methods_and_max_tries_disconnects() {
    let mut p = Pair::default_pair();
    p.run();
    for _ in 0..6 {
        p.client.auth_password("u", "bad").unwrap();
        p.run();
    }
    let fails = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::AuthFailure { .. }))
        .count();
    assert_eq!(fails, 6);
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::AuthFailure { methods, .. } if methods.contains(&"password".to_string()))));
    assert!(p.client.is_closed());
}

#[test]
fn publickey_auth_query_then_sign() {
    let mut p = Pair::default_pair();
    p.run();
    let key = PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap();
    p.client.auth_publickey("u", key).unwrap();
    p.run();
    assert!(p.client_events.contains(&Event::AuthSuccess));
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::AuthRequest {
            method: AuthMethod::PublicKeyQuery(_),
            ..
        }
    )));
}

#[test]
fn direct_tcpip_open_reaches_the_server_with_its_addresses() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let cid = p
        .client
        .channel_open_direct_tcpip("db.internal", 5432, ("10.1.2.3", 40000))
        .unwrap();
    p.run();
    let req = p.server_events.iter().find_map(|e| match e {
        Event::DirectTcpipRequest {
            id,
            host,
            port,
            originator_host,
            originator_port,
        } => Some((*id, host.clone(), *port, originator_host.clone(), *originator_port)),
        _ => None,
    });
    let (sid, host, port, oh, op) = req.expect("server sees the request");
    assert_eq!(
        (host.as_str(), port, oh.as_str(), op),
        ("db.internal", 5432, "10.1.2.3", 40000)
    );
    // Refused (connect failed): the client hears why.
    p.server.channel_reject(sid, 2, "connect failed").unwrap();
    p.run();
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::ChannelOpenFailed { id, reason: 2, .. } if *id == cid
    )));
}

#[test]
fn direct_tcpip_with_a_port_past_65535_or_no_host_is_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    for (host, port) in [("db.internal", 70_000u32), ("", 22)] {
        let mut extra = Vec::new();
        crate::wire::Writer::new(&mut extra)
            .string(host)
            .u32(port)
            .string("10.1.2.3")
            .u32(1);
        let cid = p.client.channel_open_kind("direct-tcpip", &extra).unwrap();
        p.run();
        assert!(p.client_events.iter().any(|e| matches!(
            e,
            Event::ChannelOpenFailed { id, reason: 2, .. } if *id == cid
        )));
        assert!(!p
            .server_events
            .iter()
            .any(|e| matches!(e, Event::DirectTcpipRequest { .. })));
    }
}
