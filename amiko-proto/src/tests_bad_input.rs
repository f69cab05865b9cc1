//! Hostile peers: every bad input gives a typed error, never a panic or an unbounded allocation.

use crate::config::{Config, Role, CIPHER_DEFAULT};
use crate::connection::{Connection, Event};
use crate::error::Error;
use crate::tests::Pair;
use crate::transport::packet::Sealer;
use crate::wire::{msg, Writer};

fn client() -> Connection {
    Connection::new(Config::new(Role::Client), vec![])
}

fn server() -> Connection {
    Connection::new(
        Config::new(Role::Server),
        vec![crate::keys::PrivateKey::generate_ed25519().unwrap()],
    )
}

/// Plaintext packets as a peer would send them before the first NEWKEYS.
fn packets(payloads: &[&[u8]]) -> Vec<u8> {
    let mut s = Sealer::new();
    let mut out = b"SSH-2.0-evil\r\n".to_vec();
    for p in payloads {
        s.seal(p, &mut out).unwrap();
    }
    out
}

fn kexinit(strict_marker: &str) -> Vec<u8> {
    let init = crate::transport::negotiate::KexInit {
        kex: ["curve25519-sha256", strict_marker]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(","),
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

fn assert_closed_with(c: &mut Connection, r: Result<(), Error>, want: &str) {
    let e = r.expect_err("bad input must be an error");
    assert!(e.to_string().contains(want), "{e}");
    assert!(c.is_closed());
    assert!(std::iter::from_fn(|| c.poll_event()).any(|ev| matches!(ev, Event::Closed(_))));
}

#[test]
fn overlong_banner_line_and_endless_banner() {
    let mut c = client();
    let r = c.handle_input(&[b'x'; 300]);
    assert_closed_with(&mut c, r, "longer than 255");
    let mut c = client();
    let mut r = Ok(());
    for _ in 0..2000 {
        r = c.handle_input(b"hello there\r\n");
        if r.is_err() {
            break;
        }
    }
    assert_closed_with(&mut c, r, "lines before the version");
}

#[test]
fn huge_packet_length_is_refused_before_buffering() {
    let mut c = client();
    let mut input = b"SSH-2.0-evil\r\n".to_vec();
    input.extend_from_slice(&(300 * 1024u32).to_be_bytes());
    input.extend_from_slice(&[4, 0, 0, 0]);
    let r = c.handle_input(&input);
    assert_closed_with(&mut c, r, "exceeds");
}

#[test]
fn padding_below_four_is_refused() {
    let mut c = client();
    let mut input = b"SSH-2.0-evil\r\n".to_vec();
    // packet_length 12: padding_length 3, payload 8 bytes (IGNORE...), padding 3 → 16 bytes total, aligned.
    input.extend_from_slice(&12u32.to_be_bytes());
    input.push(3);
    input.extend_from_slice(&[msg::IGNORE, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    let r = c.handle_input(&input);
    assert_closed_with(&mut c, r, "padding");
}

#[test]
fn newkeys_before_kexinit_is_refused() {
    let mut c = client();
    let r = c.handle_input(&packets(&[&[msg::NEWKEYS]]));
    assert!(r.is_err());
    assert!(c.is_closed());
}

#[test]
fn ignore_during_initial_strict_kex_is_refused() {
    // After a strict KEXINIT: IGNORE is not allowed before NEWKEYS.
    let mut s = server();
    let r = s.handle_input(&packets(&[
        &kexinit("kex-strict-c-v00@openssh.com"),
        &[msg::IGNORE, 0, 0, 0, 0],
    ]));
    assert_closed_with(&mut s, r, "strict kex");
    // And KEXINIT must come first (the Terrapin attack inserts packets before it).
    let mut s = server();
    let r = s.handle_input(&packets(&[
        &[msg::IGNORE, 0, 0, 0, 0],
        &kexinit("kex-strict-c-v00@openssh.com"),
    ]));
    assert_closed_with(&mut s, r, "first packet");
    // Without strict kex, IGNORE before KEXINIT is fine.
    let mut s = server();
    s.handle_input(&packets(&[&[msg::IGNORE, 0, 0, 0, 0], &kexinit("")]))
        .unwrap();
    assert!(!s.is_closed());
}

#[test]
fn eof_at_every_byte_of_the_handshake() {
    // Record what a real server sends during a whole handshake, then cut it at every byte.
    let mut p = Pair::default_pair();
    let mut transcript = Vec::new();
    for _ in 0..20 {
        let c2s = p.client.poll_transmit().to_vec();
        p.client.advance_transmit(c2s.len());
        let _ = p.server.handle_input(&c2s);
        let s2c = p.server.poll_transmit().to_vec();
        p.server.advance_transmit(s2c.len());
        transcript.extend_from_slice(&s2c);
        let _ = p.client.handle_input(&s2c);
        while let Some(e) = p.client.poll_event() {
            if let Event::HostKey(_) = e {
                p.client.accept_host_key().unwrap();
            }
        }
        while p.server.poll_event().is_some() {}
    }
    assert!(transcript.len() > 500);
    for n in 0..transcript.len() {
        let mut c = client();
        let _ = c.handle_input(&transcript[..n]);
        while let Some(e) = c.poll_event() {
            if let Event::HostKey(_) = e {
                let _ = c.accept_host_key();
            }
        }
        c.handle_eof();
        assert!(c.is_closed(), "cut at {n}");
    }
}

#[test]
fn corrupted_packets_fail_the_mac_for_every_cipher() {
    for cipher in CIPHER_DEFAULT {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.cipher = vec![cipher.to_string()];
        let mut p = Pair::new(cc, Config::new(Role::Server));
        p.authenticate();
        p.client.send_ignore(b"some bytes to corrupt").unwrap();
        let mut bytes = p.client.poll_transmit().to_vec();
        let n = bytes.len();
        p.client.advance_transmit(n);
        bytes[n - 20] ^= 0x40;
        let r = p.server.handle_input(&bytes);
        assert_eq!(r, Err(Error::Mac), "{cipher}");
        assert!(p.server.is_closed());
    }
}

#[test]
fn data_for_an_unknown_channel_is_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_DATA).u32(77).string(b"hello");
    p.client.dangerous_send_raw(&d).unwrap();
    let bytes = p.client.poll_transmit().to_vec();
    let r = p.server.handle_input(&bytes);
    assert!(r.unwrap_err().to_string().contains("unknown channel 77"));
}

#[test]
fn data_beyond_the_window_is_refused() {
    let mut sc = Config::new(Role::Server);
    sc.channel_window = 1000;
    let mut p = Pair::new(Config::new(Role::Client), sc);
    p.authenticate();
    let id = p.client.channel_open_session().unwrap();
    p.run();
    assert!(p.client.channel(id).is_some_and(|c| c.send_window() == 1000));
    let remote = p
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
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_DATA)
        .u32(remote)
        .string([0u8; 1500]);
    p.client.dangerous_send_raw(&d).unwrap();
    let bytes = p.client.poll_transmit().to_vec();
    let r = p.server.handle_input(&bytes);
    assert!(r.unwrap_err().to_string().contains("beyond its window"));
}

#[test]
fn connection_messages_before_auth_are_refused() {
    let mut p = Pair::default_pair();
    p.run(); // kex done, not authenticated
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_OPEN)
        .string("session")
        .u32(0)
        .u32(1000)
        .u32(1000);
    p.client.dangerous_send_raw(&d).unwrap();
    let bytes = p.client.poll_transmit().to_vec();
    let r = p.server.handle_input(&bytes);
    assert!(r.unwrap_err().to_string().contains("before authentication"));
}
