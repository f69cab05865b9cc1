//! The key exchanges, ciphers and MACs beyond the first set: sntrup761x25519, the group exchange and the opt-in
//! legacy algorithms, between our two roles and against scripted hostile peers.

use std::sync::Arc;

use crate::config::{Config, Role, CIPHER_SUPPORTED, KEX_SUPPORTED, MAC_SUPPORTED};
use crate::connection::{ChannelRequest, Connection, Event};
use crate::error::Error;
use crate::kex::DhGroup;
use crate::tests::Pair;
use crate::transport::packet::Sealer;
use crate::wire::{msg, Writer};

/// A server that has every algorithm, the opt-in ones included.
fn server_with_everything() -> Config {
    let mut sc = Config::new(Role::Server);
    let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    sc.algorithms.kex = own(KEX_SUPPORTED);
    sc.algorithms.cipher = own(CIPHER_SUPPORTED);
    sc.algorithms.mac = own(MAC_SUPPORTED);
    sc
}

fn client_with(kex: &str, cipher: &str, mac: &str) -> Config {
    let mut cc = Config::new(Role::Client);
    cc.algorithms.kex = vec![kex.into()];
    cc.algorithms.cipher = vec![cipher.into()];
    cc.algorithms.mac = vec![mac.into()];
    cc
}

/// Authenticates, moves channel data, rekeys twice with more data after each, and checks the negotiation.
fn exercise(p: &mut Pair, kex: &str, cipher: &str) {
    p.authenticate();
    let n = p.client.negotiated().unwrap().clone();
    assert_eq!((n.kex.as_str(), n.cipher_c2s.as_str()), (kex, cipher));
    assert_eq!(p.server.negotiated().unwrap().kex, kex);
    let id = p.client.channel_open_session().unwrap();
    p.run();
    p.client.channel_request(id, &ChannelRequest::Exec("x".into())).unwrap();
    for round in 0..3 {
        p.client.channel_send(id, &[round as u8; 40_000], None).unwrap();
        p.run();
        if round < 2 {
            p.client.rekey().unwrap();
            p.run();
        }
    }
    assert_eq!(p.client.kex_count(), 3, "{kex} {cipher}");
    assert_eq!(p.server.kex_count(), 3, "{kex} {cipher}");
    assert_eq!(p.server.channel_count(), 1);
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn every_supported_kex_works_in_both_roles_with_rekeys() {
    for kex in KEX_SUPPORTED {
        let mut p = Pair::new(
            client_with(kex, "aes128-gcm@openssh.com", "hmac-sha2-256"),
            server_with_everything(),
        );
        exercise(&mut p, kex, "aes128-gcm@openssh.com");
    }
}

#[test]
fn every_supported_cipher_and_mac_pair_works() {
    for c in CIPHER_SUPPORTED {
        for m in MAC_SUPPORTED {
            let mut p = Pair::new(client_with("curve25519-sha256", c, m), server_with_everything());
            exercise(&mut p, "curve25519-sha256", c);
            let n = p.client.negotiated().unwrap();
            if !crate::transport::cipher::is_aead(c) {
                assert_eq!(n.mac_c2s.as_deref(), Some(*m));
            }
        }
    }
}

/// The legacy algorithms are not offered by default: a default server refuses a client that only has them, and a
/// default client never picks them from a server that has everything.
#[test]
fn legacy_algorithms_are_not_offered_by_default() {
    for (kex, cipher, mac) in [
        ("diffie-hellman-group1-sha1", "aes128-ctr", "hmac-sha2-256"),
        ("diffie-hellman-group14-sha1", "aes128-ctr", "hmac-sha2-256"),
        ("diffie-hellman-group-exchange-sha1", "aes128-ctr", "hmac-sha2-256"),
        ("curve25519-sha256", "aes256-cbc", "hmac-sha2-256"),
        ("curve25519-sha256", "aes128-ctr", "hmac-sha1-etm@openssh.com"),
    ] {
        let mut p = Pair::new(client_with(kex, cipher, mac), Config::new(Role::Server));
        p.run();
        assert!(p.client.is_closed() && p.server.is_closed(), "{kex} {cipher} {mac}");
    }
    let mut p = Pair::new(Config::new(Role::Client), server_with_everything());
    p.authenticate();
    let n = p.client.negotiated().unwrap();
    assert_eq!(n.kex, "mlkem768x25519-sha256");
    assert!(!n.cipher_c2s.ends_with("-cbc"));
}

/// The group exchange with the server's groups from a moduli file: the client's request (n = 3072 for
/// aes128-gcm) picks the 4096-bit one; with only a 2048-bit group in the file, that one (the largest below n).
#[test]
fn group_exchange_uses_the_servers_moduli() {
    let g14 = DhGroup::modp(14).unwrap();
    let g16 = DhGroup::modp(16).unwrap();
    for (groups, bits) in [(vec![g14.clone(), g16], 4096), (vec![g14], 2048)] {
        let mut sc = server_with_everything();
        sc.gex_groups = Arc::new(groups);
        let kex = "diffie-hellman-group-exchange-sha256";
        let mut p = Pair::new(client_with(kex, "aes128-gcm@openssh.com", "hmac-sha2-256"), sc);
        p.authenticate();
        let group = p.client.group_exchange_bits();
        assert_eq!(p.server.group_exchange_bits(), Some(bits));
        assert_eq!(group, Some(bits));
    }
}

/// Plaintext packets as a peer would send them before the first NEWKEYS.
fn packets(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Sealer::new();
    let mut out = b"SSH-2.0-evil\r\n".to_vec();
    for p in payloads {
        s.seal(p, &mut out).unwrap();
    }
    out
}

fn kexinit(kex: &str) -> Vec<u8> {
    let init = crate::transport::negotiate::KexInit {
        kex: kex.into(),
        host_key: "ssh-ed25519".into(),
        cipher_c2s: "aes128-ctr".into(),
        cipher_s2c: "aes128-ctr".into(),
        mac_c2s: "hmac-sha2-256".into(),
        mac_s2c: "hmac-sha2-256".into(),
        comp_c2s: "none".into(),
        comp_s2c: "none".into(),
        ..Default::default()
    };
    let mut p = Vec::new();
    init.encode(&mut p);
    p
}

fn gex_group(p: &[u8], g: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    Writer::new(&mut m)
        .u8(msg::KEX_DH_GEX_GROUP)
        .mpint_unsigned(p)
        .mpint_unsigned(g);
    m
}

/// The DISCONNECT reason codes in what `c` sent (plaintext: these errors come before the first NEWKEYS).
fn sent_disconnect_reasons(c: &mut Connection) -> Vec<u32> {
    let out = c.poll_transmit().to_vec();
    let start = out.windows(2).position(|w| w == b"\r\n").map_or(0, |i| i + 2);
    let mut buf = out[start..].to_vec();
    let mut opener = crate::transport::packet::Opener::new();
    let mut reasons = Vec::new();
    while let Ok(Some(p)) = opener.open(&mut buf) {
        let payload = &buf[p.payload.clone()];
        if payload.first() == Some(&msg::DISCONNECT) && payload.len() >= 5 {
            reasons.push(u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]));
        }
        buf.drain(..p.consumed);
    }
    reasons
}

/// A typed error, the connection closed, and DISCONNECT with KEY_EXCHANGE_FAILED (3) or PROTOCOL_ERROR (2).
fn assert_kex_error(c: &mut Connection, r: crate::Result<()>, want: &str) {
    let e = r.expect_err("bad input must be an error");
    assert!(
        matches!(e, Error::Kex(_) | Error::Protocol(_) | Error::Decode(_)),
        "{e:?}"
    );
    assert!(e.to_string().contains(want), "{e}");
    assert!(c.is_closed());
    assert!(std::iter::from_fn(|| c.poll_event()).any(|ev| matches!(ev, Event::Closed(_))));
    let want_reason = if matches!(e, Error::Kex(_)) { 3 } else { 2 };
    assert_eq!(sent_disconnect_reasons(c), [want_reason], "{e}");
}

/// A hostile server sends a bad group: too small, too large, even, generator out of range. Each is a typed
/// key exchange error and the client closes.
#[test]
fn client_refuses_bad_groups() {
    let g14 = DhGroup::modp(14).unwrap();
    let g18 = DhGroup::modp(18).unwrap();
    let p = g14.p_bytes();
    let mut even = p.clone();
    *even.last_mut().unwrap() ^= 1;
    let mut too_big = vec![0x7f];
    too_big.extend(g18.p_bytes());
    let p_minus_1 = {
        let mut v = p.clone();
        *v.last_mut().unwrap() -= 1;
        v
    };
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (DhGroup::modp(1).unwrap().p_bytes(), vec![2], "outside"),
        (too_big, vec![2], "more than"),
        (even, vec![2], "even"),
        (p.clone(), vec![1], "generator"),
        (p.clone(), vec![], "generator"),
        (p.clone(), p_minus_1, "generator"),
        (p.clone(), p.clone(), "generator"),
    ];
    for (bad_p, g, want) in cases {
        let mut c = Connection::new(Config::new(Role::Client), vec![]);
        let input = packets(&[kexinit("diffie-hellman-group-exchange-sha256"), gex_group(&bad_p, &g)]);
        let r = c.handle_input(&input);
        assert_kex_error(&mut c, r, want);
    }
    // A group that is fine but arrives twice.
    let mut c = Connection::new(Config::new(Role::Client), vec![]);
    let good = gex_group(&p, &[2]);
    let r = c.handle_input(&packets(&[
        kexinit("diffie-hellman-group-exchange-sha256"),
        good.clone(),
        good,
    ]));
    assert_kex_error(&mut c, r, "unexpected KEX_DH_GEX_GROUP");
}

/// A hostile client: bad request bounds, INIT before REQUEST, a second REQUEST, e out of range, and an ECDH-style
/// INIT (30) during a group exchange.
#[test]
fn server_refuses_bad_group_exchange_messages() {
    let req = |min: u32, n: u32, max: u32| {
        let mut m = Vec::new();
        Writer::new(&mut m).u8(msg::KEX_DH_GEX_REQUEST).u32(min).u32(n).u32(max);
        m
    };
    let init = |e: &[u8]| {
        let mut m = Vec::new();
        Writer::new(&mut m).u8(msg::KEX_DH_GEX_INIT).mpint_unsigned(e);
        m
    };
    let p14 = DhGroup::modp(14).unwrap().p_bytes();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (vec![req(4096, 2048, 8192)], "bad group exchange request"),
        (vec![req(2048, 8192, 4096)], "bad group exchange request"),
        (vec![req(1024, 1024, 1024)], "bad group exchange request"),
        (vec![req(9000, 9000, 9000)], "no DH group"),
        (vec![req(2048, 2048, 8192)[..9].to_vec()], "short"),
        (vec![init(&[5])], "before KEX_DH_GEX_REQUEST"),
        (
            vec![req(2048, 2048, 2048), req(2048, 2048, 2048)],
            "second KEX_DH_GEX_REQUEST",
        ),
        (vec![req(2048, 2048, 2048), init(&[1])], "out of range"),
        (vec![req(2048, 2048, 2048), init(&p14)], "out of range"),
        (vec![req(2048, 2048, 2048), init(&[0xff; 300])], "out of range"),
        (
            vec![req(2048, 2048, 2048), [msg::KEX_ECDH_INIT, 0, 0, 0, 1, 5].to_vec()],
            "unexpected",
        ),
    ];
    for (msgs, want) in cases {
        let mut s = Connection::new(
            server_with_everything(),
            vec![crate::keys::PrivateKey::generate_ed25519().unwrap()],
        );
        let mut all = vec![kexinit("diffie-hellman-group-exchange-sha256")];
        all.extend(msgs);
        let r = s.handle_input(&packets(&all));
        let e = r.expect_err(want);
        assert!(
            e.to_string().to_lowercase().contains(&want.to_lowercase()),
            "{want}: {e}"
        );
        assert!(s.is_closed());
        let want_reason = if matches!(e, Error::Kex(_)) { 3 } else { 2 };
        assert_eq!(sent_disconnect_reasons(&mut s), [want_reason], "{e}");
    }
}

/// sntrup761x25519: a server's reply with a ciphertext of the wrong length is a typed error at the client.
#[test]
fn client_refuses_a_short_sntrup_reply() {
    for kex in ["sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"] {
        let key = crate::keys::PrivateKey::generate_ed25519().unwrap();
        let mut reply = Vec::new();
        Writer::new(&mut reply)
            .u8(msg::KEX_ECDH_REPLY)
            .string(key.public_key().blob())
            .string([7u8; 1039 + 31])
            .string([0u8; 83]);
        let mut c = Connection::new(Config::new(Role::Client), vec![]);
        let r = c.handle_input(&packets(&[kexinit(kex), reply]));
        assert_kex_error(&mut c, r, "sntrup761 reply of 1070 bytes");
    }
}
