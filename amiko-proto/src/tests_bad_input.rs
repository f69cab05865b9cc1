//! Hostile peers: a scripted peer drives each state of the engine with bad input. Every case checks the typed
//! error, the DISCONNECT reason the engine sends (decoded from its output, or heard by the real peer engine once
//! the traffic is encrypted), that nothing panics, and where memory is at stake that the buffers stay bounded.
//!
//! The scripted peer is either raw bytes fed to one [`Connection`] (before the first NEWKEYS everything is
//! plaintext, so any packet can be forged), or one side of a [`Pair`] sending raw payloads under the real keys with
//! `dangerous_send_raw`. docs/SECURITY.md lists the cases.

use crate::config::{Config, Role, CIPHER_DEFAULT, MAC_DEFAULT};
use crate::connection::{AuthMethod, ChannelRequest, Connection, Event};
use crate::error::{DecodeError, DisconnectReason, Error};
use crate::keys::PrivateKey;
use crate::tests::Pair;
use crate::transport::negotiate::{KexInit, STRICT_C, STRICT_S};
use crate::transport::packet::Sealer;
use crate::wire::{msg, Reader, Writer};

fn client() -> Connection {
    Connection::new(Config::new(Role::Client), vec![])
}

fn server() -> Connection {
    Connection::new(
        Config::new(Role::Server),
        vec![crate::keys::PrivateKey::generate_ed25519().unwrap()],
    )
}

/// Plaintext packets as a peer would send them before the first NEWKEYS, after its version line.
fn packets(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = b"SSH-2.0-evil\r\n".to_vec();
    let mut s = Sealer::new();
    for p in payloads {
        s.seal(p, &mut out).unwrap();
    }
    out
}

/// A KEXINIT offering one method of each kind (aes128-ctr so that the MAC lists matter).
fn kexinit_struct(kex: &str, marker: &str) -> KexInit {
    KexInit {
        kex: [kex, marker]
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
    }
}

fn encode_kexinit(k: &KexInit) -> Vec<u8> {
    let mut p = Vec::new();
    k.encode(&mut p);
    p
}

fn kexinit(strict_marker: &str) -> Vec<u8> {
    encode_kexinit(&kexinit_struct("curve25519-sha256", strict_marker))
}

/// The error of `r`; the connection must be closed and its `Event::Closed` must carry that same error.
fn refused(c: &mut Connection, r: Result<(), Error>) -> Error {
    let e = r.expect_err("bad input must be an error");
    assert!(c.is_closed(), "still open after {e}");
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(events.contains(&Event::Closed(e.clone())), "{e}: {events:?}");
    e
}

/// Payloads of the plaintext packets at the start of `out` (a version line first is skipped); stops at the first
/// bytes that are not a plaintext packet (encrypted ones).
fn plaintext_payloads(out: &[u8]) -> Vec<Vec<u8>> {
    let mut at = 0;
    if out.starts_with(b"SSH-") {
        at = out.windows(2).position(|w| w == b"\r\n").map_or(out.len(), |i| i + 2);
    }
    let mut v = Vec::new();
    while let Some(len) = out
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    {
        if len < 5 || (len + 4) % 8 != 0 {
            break;
        }
        let Some(packet) = out.get(at + 4..at + 4 + len) else {
            break;
        };
        let pad = usize::from(packet[0]);
        if pad >= len {
            break;
        }
        v.push(packet[1..len - pad].to_vec());
        at += 4 + len;
    }
    v
}

/// The reason code of the DISCONNECT the engine queued, read from its plaintext output.
fn sent_disconnect(c: &mut Connection) -> Option<u32> {
    let out = c.poll_transmit().to_vec();
    plaintext_payloads(&out)
        .iter()
        .find(|p| p.first() == Some(&msg::DISCONNECT))
        .map(|p| u32::from_be_bytes([p[1], p[2], p[3], p[4]]))
}

fn code(r: DisconnectReason) -> Option<u32> {
    Some(r as u32)
}

/// Moves what `from` has queued into `to`; returns `to`'s verdict.
fn deliver(from: &mut Connection, to: &mut Connection) -> Result<(), Error> {
    let b = from.poll_transmit().to_vec();
    from.advance_transmit(b.len());
    to.handle_input(&b)
}

/// `from` sends `payload` as one packet under its real keys, bypassing its own checks.
fn inject(from: &mut Connection, to: &mut Connection, payload: &[u8]) -> Result<(), Error> {
    from.dangerous_send_raw(payload).unwrap();
    deliver(from, to)
}

/// The DISCONNECT reason `to` hears once `from`'s remaining output (its DISCONNECT) arrives.
fn heard(from: &mut Connection, to: &mut Connection) -> Option<DisconnectReason> {
    let _ = deliver(from, to);
    std::iter::from_fn(|| to.poll_event()).find_map(|e| match e {
        Event::Closed(Error::Disconnected { reason, .. }) => Some(reason),
        _ => None,
    })
}

/// An authenticated pair with one session channel open: (pair, client's id, server's id).
fn open_pair(sc: Config) -> (Pair, u32, u32) {
    let mut p = Pair::new(Config::new(Role::Client), sc);
    p.authenticate();
    let (cid, sid) = p.open_session();
    (p, cid, sid)
}

/// Asserts the server refused with a protocol error naming `want`, and the client heard PROTOCOL_ERROR.
fn server_refuses_from_client(p: &mut Pair, payload: &[u8], want: &str) {
    let r = inject(&mut p.client, &mut p.server, payload);
    let e = refused(&mut p.server, r);
    assert!(matches!(e, Error::Protocol(_) | Error::Decode(_)), "{e}");
    assert!(e.to_string().contains(want), "{e}");
    assert_eq!(
        heard(&mut p.server, &mut p.client),
        Some(DisconnectReason::ProtocolError)
    );
}

fn string_field(v: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    Writer::new(&mut f).string(v);
    f
}

fn mpint_field(v: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    Writer::new(&mut f).mpint_unsigned(v);
    f
}

fn kex_init_msg(field: &[u8]) -> Vec<u8> {
    let mut p = vec![msg::KEX_ECDH_INIT];
    p.extend_from_slice(field);
    p
}

/// A server offered `field` as the client's public value for `kex` must refuse with KEY_EXCHANGE_FAILED.
fn server_refuses_kex_value(kex: &str, field: &[u8], why: &str) {
    let mut s = server();
    let r = s.handle_input(&packets(&[
        &encode_kexinit(&kexinit_struct(kex, STRICT_C)),
        &kex_init_msg(field),
    ]));
    let e = refused(&mut s, r);
    assert!(matches!(e, Error::Kex(_)), "{kex} {why}: {e}");
    assert_eq!(
        sent_disconnect(&mut s),
        code(DisconnectReason::KeyExchangeFailed),
        "{kex} {why}"
    );
    // Nothing of the exchange went out: no KEX_ECDH_REPLY.
    let out = s.poll_transmit().to_vec();
    assert!(!plaintext_payloads(&out).iter().any(|p| p[0] == msg::KEX_ECDH_REPLY));
}

/// A client offered `field` as the server's public value for `kex` (in an otherwise well-formed reply) must refuse
/// with KEY_EXCHANGE_FAILED and never ask about the host key.
fn client_refuses_kex_value(kex: &str, field: &[u8], why: &str) {
    let mut c = client();
    let host = PrivateKey::generate_ed25519().unwrap();
    let mut reply = vec![msg::KEX_ECDH_REPLY];
    Writer::new(&mut reply).string(host.public_key().blob());
    reply.extend_from_slice(field);
    Writer::new(&mut reply).string(host.sign("ssh-ed25519", b"not the exchange hash").unwrap());
    let r = c.handle_input(&packets(&[&encode_kexinit(&kexinit_struct(kex, STRICT_S)), &reply]));
    let e = refused(&mut c, r);
    assert!(matches!(e, Error::Kex(_)), "{kex} {why}: {e}");
    assert_eq!(
        sent_disconnect(&mut c),
        code(DisconnectReason::KeyExchangeFailed),
        "{kex} {why}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Version exchange (RFC 4253 §4.2)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn overlong_banner_line_and_endless_banner() {
    let mut c = client();
    let r = c.handle_input(&[b'x'; 300]);
    let e = refused(&mut c, r);
    assert!(e.to_string().contains("longer than 255"), "{e}");
    let mut c = client();
    let mut r = Ok(());
    let mut fed = 0;
    for _ in 0..2000 {
        r = c.handle_input(b"hello there\r\n");
        fed += 1;
        if r.is_err() {
            break;
        }
    }
    let e = refused(&mut c, r);
    assert!(e.to_string().contains("lines before the version"), "{e}");
    assert_eq!(fed, crate::transport::version::MAX_PRE_LINES + 1);
}

#[test]
fn version_line_longer_than_255_bytes_is_refused_in_both_roles() {
    // 253 characters + CR LF = 255 bytes is the longest line allowed; one more is refused.
    for (len, ok) in [(253, true), (254, false), (1000, false)] {
        for mut c in [client(), server()] {
            let mut line = b"SSH-2.0-".to_vec();
            line.resize(len, b'a');
            line.extend_from_slice(b"\r\n");
            let r = c.handle_input(&line);
            if ok {
                r.unwrap();
                assert!(c.peer_version().is_some());
            } else {
                let e = refused(&mut c, r);
                assert!(matches!(e, Error::Version(_)), "{e}");
                assert_eq!(
                    sent_disconnect(&mut c),
                    code(DisconnectReason::ProtocolVersionNotSupported)
                );
            }
        }
    }
}

#[test]
fn version_line_without_newline_waits_but_only_up_to_255_bytes() {
    let mut s = server();
    s.handle_input(b"SSH-2.0-slow").unwrap();
    assert!(!s.is_closed() && s.peer_version().is_none());
    let mut r = Ok(());
    let mut fed = 12;
    while r.is_ok() && fed < 10_000 {
        r = s.handle_input(b"x");
        fed += 1;
    }
    let e = refused(&mut s, r);
    assert!(matches!(e, Error::Version(_)), "{e}");
    assert_eq!(
        fed, 255,
        "the line is refused as soon as it cannot end within 255 bytes"
    );
}

#[test]
fn version_line_with_nul_control_or_non_utf8_is_refused() {
    for line in [
        &b"SSH-2.0-ev\0il\r\n"[..],
        b"SSH-2.0-evil\x07bell\r\n",
        b"SSH-2.0-\xff\xfe\r\n",
    ] {
        let mut s = server();
        let r = s.handle_input(line);
        let e = refused(&mut s, r);
        assert!(matches!(e, Error::Version(_)), "{line:?}: {e}");
        assert_eq!(
            sent_disconnect(&mut s),
            code(DisconnectReason::ProtocolVersionNotSupported)
        );
    }
}

#[test]
fn ssh_1_and_unknown_versions_are_refused_but_1_99_is_accepted() {
    for (line, ok) in [
        (&b"SSH-1.5-old\r\n"[..], false),
        (b"SSH-1.0-older\r\n", false),
        (b"SSH-3.0-future\r\n", false),
        (b"SSH-1.99-compat\r\n", true),
    ] {
        for mut c in [client(), server()] {
            let r = c.handle_input(line);
            if ok {
                r.unwrap();
            } else {
                let e = refused(&mut c, r);
                assert!(e.to_string().contains("unsupported protocol version"), "{e}");
                assert_eq!(
                    sent_disconnect(&mut c),
                    code(DisconnectReason::ProtocolVersionNotSupported)
                );
            }
        }
    }
}

#[test]
fn version_line_without_a_software_version_is_refused_as_openssh_does() {
    // OpenSSH 9.2's sshd answers "Invalid SSH identification string." to the first three (checked against a real
    // sshd with the bytes written to a socket) and takes the last two.
    for (line, ok) in [
        (&b"SSH-2.0-\r\n"[..], false),
        (b"SSH-2.0-\n", false),
        (b"SSH-2.0\r\n", false),
        (b"SSH-2.0-x\r\n", true),
        (b"SSH-2.0- comment\r\n", true),
    ] {
        for mut c in [client(), server()] {
            let r = c.handle_input(line);
            if ok {
                r.unwrap();
                continue;
            }
            let e = refused(&mut c, r);
            assert!(
                matches!(&e, Error::Version(m) if m.contains("no software version")),
                "{line:?}: {e}"
            );
            assert_eq!(
                sent_disconnect(&mut c),
                code(DisconnectReason::ProtocolVersionNotSupported)
            );
        }
    }
}

#[test]
fn server_refuses_any_line_before_the_version() {
    // RFC 4253 §4.2: only the server may send other lines first.
    let mut s = server();
    let r = s.handle_input(b"GET / HTTP/1.1\r\nSSH-2.0-evil\r\n");
    let e = refused(&mut s, r);
    assert!(matches!(e, Error::Version(_)), "{e}");
    // The client accepts the same banner from a server.
    let mut c = client();
    c.handle_input(b"Welcome\r\nSSH-2.0-ok\r\n").unwrap();
    assert_eq!(c.peer_version(), Some("SSH-2.0-ok"));
}

#[test]
fn nul_in_a_line_before_the_version_is_refused() {
    let mut c = client();
    let r = c.handle_input(b"hello\0world\r\nSSH-2.0-x\r\n");
    let e = refused(&mut c, r);
    assert!(e.to_string().contains("NUL"), "{e}");
}

// ---------------------------------------------------------------------------------------------------------------
// Binary packet framing (RFC 4253 §6)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn packet_length_zero_or_below_five_is_refused() {
    for len in [0u32, 1, 4] {
        let mut s = server();
        let mut input = b"SSH-2.0-evil\r\n".to_vec();
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0]);
        let r = s.handle_input(&input);
        let e = refused(&mut s, r);
        assert_eq!(e, Error::Decode(DecodeError::Invalid("packet length")), "{len}");
        assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
    }
}

#[test]
fn huge_packet_length_is_refused_before_buffering() {
    for len in [256 * 1024 + 4, 300 * 1024, u32::MAX] {
        let mut c = client();
        let mut input = b"SSH-2.0-evil\r\n".to_vec();
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&[4, 0, 0, 0]);
        let r = c.handle_input(&input);
        let e = refused(&mut c, r);
        assert!(matches!(e, Error::Decode(DecodeError::TooLong { .. })), "{e}");
        assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::ProtocolError));
    }
}

#[test]
fn packet_length_not_block_aligned_is_refused() {
    let mut s = server();
    let mut input = b"SSH-2.0-evil\r\n".to_vec();
    input.extend_from_slice(&13u32.to_be_bytes()); // 4 + 13 is no multiple of 8
    input.extend_from_slice(&[4, msg::IGNORE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let r = s.handle_input(&input);
    let e = refused(&mut s, r);
    assert_eq!(e, Error::Decode(DecodeError::Invalid("packet length alignment")));
    assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
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
    let e = refused(&mut c, r);
    assert_eq!(e, Error::Decode(DecodeError::Invalid("padding length")));
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::ProtocolError));
}

#[test]
fn padding_length_beyond_the_packet_is_refused() {
    let mut s = server();
    let mut input = b"SSH-2.0-evil\r\n".to_vec();
    input.extend_from_slice(&12u32.to_be_bytes());
    input.push(200);
    input.extend_from_slice(&[0; 11]);
    let r = s.handle_input(&input);
    let e = refused(&mut s, r);
    assert_eq!(e, Error::Decode(DecodeError::Invalid("padding length")));
}

#[test]
fn empty_payload_is_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    server_refuses_from_client(&mut p, &[], "empty packet payload");
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
        assert_eq!(refused(&mut p.server, r), Error::Mac, "{cipher}");
        assert_eq!(
            heard(&mut p.server, &mut p.client),
            Some(DisconnectReason::MacError),
            "{cipher}"
        );
    }
}

#[test]
fn corrupted_packets_fail_the_mac_for_every_mac() {
    for mac in MAC_DEFAULT {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.cipher = vec!["aes128-ctr".into()];
        cc.algorithms.mac = vec![mac.to_string()];
        let mut p = Pair::new(cc, Config::new(Role::Server));
        p.authenticate();
        assert_eq!(p.server.negotiated().unwrap().mac_c2s.as_deref(), Some(*mac));
        p.client.send_ignore(b"some bytes to corrupt").unwrap();
        let mut bytes = p.client.poll_transmit().to_vec();
        p.client.advance_transmit(bytes.len());
        let last = bytes.len() - 1;
        bytes[last] ^= 1; // the last byte of the MAC itself
        let r = p.server.handle_input(&bytes);
        assert_eq!(refused(&mut p.server, r), Error::Mac, "{mac}");
        assert_eq!(heard(&mut p.server, &mut p.client), Some(DisconnectReason::MacError));
    }
}

#[test]
fn encrypted_packets_cut_at_every_byte_wait_for_the_rest() {
    for cipher in CIPHER_DEFAULT {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.cipher = vec![cipher.to_string()];
        let mut p = Pair::new(cc, Config::new(Role::Server));
        p.authenticate();
        p.client.send_ignore(&[9; 100]).unwrap();
        let first = p.client.poll_transmit().len();
        p.client.send_ignore(b"b").unwrap();
        let bytes = p.client.poll_transmit().to_vec();
        p.client.advance_transmit(bytes.len());
        let seq = p.server.opener.seq();
        for (i, b) in bytes.iter().enumerate() {
            p.server.handle_input(&[*b]).unwrap();
            // A packet is acted on only once its last byte is in, never before.
            let done = u32::from(i + 1 >= first) + u32::from(i + 1 == bytes.len());
            assert_eq!(p.server.opener.seq(), seq.wrapping_add(done), "{cipher} at byte {i}");
        }
        assert!(!p.server.is_closed());
        // And a connection cut in the middle of a packet ends cleanly.
        p.client.send_ignore(b"cut").unwrap();
        let bytes = p.client.poll_transmit().to_vec();
        p.server.handle_input(&bytes[..bytes.len() / 2]).unwrap();
        p.server.handle_eof();
        assert!(p.server.is_closed());
    }
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

/// Terrapin's prefix truncation deletes a packet; the next one must not open (its sequence number is authenticated).
#[test]
fn a_deleted_packet_is_detected_for_every_cipher() {
    for cipher in CIPHER_DEFAULT {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.cipher = vec![cipher.to_string()];
        let mut p = Pair::new(cc, Config::new(Role::Server));
        p.authenticate();
        p.client.send_ignore(b"deleted by the attacker").unwrap();
        let gone = p.client.poll_transmit().len();
        p.client.advance_transmit(gone);
        p.client.send_ignore(b"next").unwrap();
        let r = deliver(&mut p.client, &mut p.server);
        let e = refused(&mut p.server, r);
        assert!(matches!(e, Error::Mac | Error::Decode(_)), "{cipher}: {e}");
    }
}

#[test]
fn unknown_message_numbers_are_answered_with_unimplemented() {
    let mut p = Pair::default_pair();
    p.authenticate();
    for kind in [150u8, 200, 255] {
        let before = p.server.pending_transmit();
        inject(&mut p.client, &mut p.server, &[kind, 1, 2, 3]).unwrap();
        assert!(p.server.pending_transmit() > before, "no UNIMPLEMENTED for {kind}");
        // The client takes the UNIMPLEMENTED without trouble.
        deliver(&mut p.server, &mut p.client).unwrap();
    }
    assert!(!p.server.is_closed() && !p.client.is_closed());
}

// ---------------------------------------------------------------------------------------------------------------
// Strict kex (OpenSSH PROTOCOL, the Terrapin countermeasure)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn ignore_during_initial_strict_kex_is_refused() {
    // After a strict KEXINIT: IGNORE, DEBUG and UNIMPLEMENTED are not allowed before NEWKEYS.
    for extra in [
        &[msg::IGNORE, 0, 0, 0, 0][..],
        &[msg::DEBUG, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[msg::UNIMPLEMENTED, 0, 0, 0, 0],
    ] {
        let mut s = server();
        let r = s.handle_input(&packets(&[&kexinit(STRICT_C), extra]));
        let e = refused(&mut s, r);
        assert!(e.to_string().contains("strict kex"), "{e}");
        assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
    }
    // And KEXINIT must come first (the Terrapin attack inserts packets before it).
    let mut s = server();
    let r = s.handle_input(&packets(&[&[msg::IGNORE, 0, 0, 0, 0], &kexinit(STRICT_C)]));
    let e = refused(&mut s, r);
    assert!(e.to_string().contains("first packet"), "{e}");
    // Without strict kex, IGNORE before KEXINIT is fine.
    let mut s = server();
    s.handle_input(&packets(&[&[msg::IGNORE, 0, 0, 0, 0], &kexinit("")]))
        .unwrap();
    assert!(!s.is_closed());
}

#[test]
fn client_refuses_a_terrapin_insertion_from_the_server() {
    for order in [0, 1] {
        let ignore = [msg::IGNORE, 0, 0, 0, 0];
        let init = kexinit(STRICT_S);
        let flight: [&[u8]; 2] = if order == 0 {
            [&ignore[..], &init[..]]
        } else {
            [&init[..], &ignore[..]]
        };
        let mut c = client();
        let r = c.handle_input(&packets(&flight));
        let e = refused(&mut c, r);
        assert!(e.to_string().contains("strict kex"), "{e}");
        assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::ProtocolError));
    }
}

#[test]
fn strict_kex_resets_sequence_numbers_and_a_peer_that_does_not_is_caught() {
    // Drive the handshake by hand and stop the server's bytes right after its NEWKEYS.
    let mut c = client();
    let mut s = server();
    deliver(&mut c, &mut s).unwrap();
    deliver(&mut s, &mut c).unwrap(); // version + KEXINIT; the client answers with its KEX_ECDH_INIT
    deliver(&mut c, &mut s).unwrap();
    let out = s.poll_transmit().to_vec();
    s.advance_transmit(out.len());
    let plain = plaintext_payloads(&out);
    assert_eq!((plain[0][0], plain[1][0]), (msg::KEX_ECDH_REPLY, msg::NEWKEYS));
    let mut at = 0;
    for _ in 0..2 {
        at += 4 + u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
    }
    c.handle_input(&out[..at]).unwrap();
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, Event::HostKey(_))));
    c.accept_host_key().unwrap();
    // Three plaintext packets came in (KEXINIT, KEX_ECDH_REPLY, NEWKEYS) but the counter starts again at 0; the
    // client's own NEWKEYS reset its sending counter too (only the SERVICE_REQUEST went out since).
    assert_eq!(c.opener.seq(), 0);
    assert_eq!(c.sealer.seq(), 1);
    c.handle_input(&out[at..]).unwrap();
    assert_eq!(c.opener.seq(), 1, "EXT_INFO is packet 0 of the new keys");

    // A peer whose counter runs on (as one without the reset would) fails the MAC.
    let mut p = Pair::default_pair();
    p.authenticate();
    for _ in 0..3 {
        p.server
            .sealer
            .seal(&[msg::IGNORE, 0, 0, 0, 0], &mut Vec::new())
            .unwrap();
    }
    p.server.send_ignore(b"shifted").unwrap();
    let r = deliver(&mut p.server, &mut p.client);
    let e = refused(&mut p.client, r);
    assert!(matches!(e, Error::Mac | Error::Decode(_)), "{e}");
}

// ---------------------------------------------------------------------------------------------------------------
// Key exchange (RFC 4253 §7–8, RFC 5656, RFC 8731, the ML-KEM hybrid)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn no_common_algorithm_in_each_list_is_refused_by_the_server() {
    type Edit = fn(&mut KexInit);
    let rows: [(&str, Edit); 8] = [
        ("key exchange", |k| k.kex = format!("evil-kex,{STRICT_C}")),
        ("host key", |k| k.host_key = "evil-host-key".into()),
        ("cipher (client to server)", |k| k.cipher_c2s = "evil-cipher".into()),
        ("cipher (server to client)", |k| k.cipher_s2c = "evil-cipher".into()),
        ("MAC (client to server)", |k| k.mac_c2s = "evil-mac".into()),
        ("MAC (server to client)", |k| k.mac_s2c = "evil-mac".into()),
        ("compression (client to server)", |k| k.comp_c2s = "evil-zip".into()),
        ("compression (server to client)", |k| k.comp_s2c = "evil-zip".into()),
    ];
    for (want, edit) in rows {
        let mut k = kexinit_struct("curve25519-sha256", STRICT_C);
        edit(&mut k);
        let mut s = server();
        let r = s.handle_input(&packets(&[&encode_kexinit(&k)]));
        let e = refused(&mut s, r);
        assert!(
            matches!(&e, Error::NoCommonAlgorithm { kind, .. } if *kind == want),
            "{want}: {e}"
        );
        assert_eq!(
            sent_disconnect(&mut s),
            code(DisconnectReason::KeyExchangeFailed),
            "{want}"
        );
    }
}

#[test]
fn no_common_algorithm_is_refused_by_the_client() {
    let mut k = kexinit_struct("curve25519-sha256", STRICT_S);
    k.host_key = "ssh-dss".into();
    let mut c = client();
    let r = c.handle_input(&packets(&[&encode_kexinit(&k)]));
    let e = refused(&mut c, r);
    assert!(matches!(e, Error::NoCommonAlgorithm { kind: "host key", .. }), "{e}");
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::KeyExchangeFailed));
}

#[test]
fn kexinit_twice_is_refused() {
    let mut s = server();
    let r = s.handle_input(&packets(&[&kexinit(STRICT_C), &kexinit(STRICT_C)]));
    let e = refused(&mut s, r);
    assert!(e.to_string().contains("second KEXINIT"), "{e}");
    assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
}

#[test]
fn newkeys_before_kexinit_is_refused() {
    let mut c = client();
    let r = c.handle_input(&packets(&[&[msg::NEWKEYS]]));
    let e = refused(&mut c, r);
    assert!(e.to_string().contains("NEWKEYS before"), "{e}");
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::ProtocolError));
}

#[test]
fn newkeys_before_the_exchange_is_refused() {
    for marker in [STRICT_C, ""] {
        let mut s = server();
        let r = s.handle_input(&packets(&[&kexinit(marker), &[msg::NEWKEYS]]));
        let e = refused(&mut s, r);
        assert!(e.to_string().contains("NEWKEYS before"), "{e}");
        assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
    }
}

#[test]
fn kex_ecdh_init_before_kexinit_is_refused() {
    let mut s = server();
    let r = s.handle_input(&packets(&[&kex_init_msg(&string_field(&[9; 32]))]));
    let e = refused(&mut s, r);
    assert!(e.to_string().contains("before KEXINIT"), "{e}");
}

fn valid_x25519_field() -> Vec<u8> {
    crate::kex::ClientKex::start("curve25519-sha256")
        .unwrap()
        .encoded_public()
        .to_vec()
}

#[test]
fn second_kex_ecdh_init_does_not_start_a_second_exchange() {
    let mut s = server();
    let init = kex_init_msg(&valid_x25519_field());
    let r = s.handle_input(&packets(&[&kexinit(""), &init, &init]));
    let e = refused(&mut s, r);
    assert!(e.to_string().contains("second KEX_ECDH_INIT"), "{e}");
    let out = s.poll_transmit().to_vec();
    let replies = plaintext_payloads(&out)
        .iter()
        .filter(|p| p[0] == msg::KEX_ECDH_REPLY)
        .count();
    assert_eq!(replies, 1, "one signature per key exchange");
}

#[test]
fn kex_ecdh_init_outside_a_key_exchange_is_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    server_refuses_from_client(&mut p, &kex_init_msg(&valid_x25519_field()), "KEX_ECDH_INIT");
    assert_eq!(p.server.kex_count(), 1);
}

#[test]
fn kex_reply_sent_to_a_server_is_refused() {
    let mut s = server();
    let mut reply = vec![msg::KEX_ECDH_REPLY];
    Writer::new(&mut reply).string(b"k").string([9; 32]).string(b"s");
    let r = s.handle_input(&packets(&[&kexinit(STRICT_C), &reply]));
    let e = refused(&mut s, r);
    assert!(e.to_string().contains("unexpected key exchange message 31"), "{e}");
}

#[test]
fn truncated_kexinit_and_trailing_bytes_after_the_kex_value_are_refused() {
    let full = kexinit(STRICT_C);
    for n in [1, 17, 30, full.len() - 1] {
        let mut s = server();
        let r = s.handle_input(&packets(&[&full[..n]]));
        let e = refused(&mut s, r);
        assert!(
            matches!(
                e,
                Error::Decode(DecodeError::TooShort { .. } | DecodeError::TooLong { .. })
            ),
            "{n}: {e}"
        );
        assert_eq!(sent_disconnect(&mut s), code(DisconnectReason::ProtocolError));
    }
    let mut init = kex_init_msg(&valid_x25519_field());
    init.push(0);
    let mut s = server();
    let r = s.handle_input(&packets(&[&full, &init]));
    let e = refused(&mut s, r);
    assert!(matches!(e, Error::Decode(DecodeError::Invalid(_))), "{e}");
}

#[test]
fn dh_public_values_outside_2_to_p_minus_2_are_refused_in_both_roles() {
    for kex in [
        "diffie-hellman-group14-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
    ] {
        let p = |d| crate::kex::dh_p_plus(kex, d);
        for (why, v) in [
            ("0", vec![0u8]),
            ("1", vec![1]),
            ("p-1", p(-1)),
            ("p", p(0)),
            ("p+1", p(1)),
            ("2^8200-1", vec![0xff; 1025]),
        ] {
            server_refuses_kex_value(kex, &mpint_field(&v), why);
            client_refuses_kex_value(kex, &mpint_field(&v), why);
        }
        // A negative mpint is not even a number here.
        let mut s = server();
        let r = s.handle_input(&packets(&[
            &encode_kexinit(&kexinit_struct(kex, STRICT_C)),
            &kex_init_msg(&[0, 0, 0, 1, 0x80]),
        ]));
        assert!(matches!(refused(&mut s, r), Error::Decode(_)));
    }
}

/// X25519 points of small order (RFC 7748 §6.1; the list libsodium and OpenSSH refuse): each gives an all-zero
/// shared secret.
fn x25519_low_order_points() -> Vec<[u8; 32]> {
    let hex = |s: &str| -> [u8; 32] {
        let v: Vec<u8> = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    };
    let mut pts = vec![
        [0u8; 32],
        hex("0100000000000000000000000000000000000000000000000000000000000000"),
        hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    // The same points with the unused top bit set (RFC 7748 masks it).
    for i in 0..pts.len() {
        let mut p = pts[i];
        p[31] |= 0x80;
        pts.push(p);
    }
    pts
}

#[test]
fn x25519_all_zero_and_low_order_points_are_refused_in_both_roles() {
    for kex in ["curve25519-sha256", "curve25519-sha256@libssh.org"] {
        for (i, pt) in x25519_low_order_points().iter().enumerate() {
            server_refuses_kex_value(kex, &string_field(pt), &format!("point {i}"));
            client_refuses_kex_value(kex, &string_field(pt), &format!("point {i}"));
        }
    }
}

#[test]
fn public_keys_of_the_wrong_length_are_refused_in_both_roles() {
    let good = valid_x25519_field();
    for (kex, len) in [
        ("curve25519-sha256", 32usize),
        ("ecdh-sha2-nistp256", 65),
        ("ecdh-sha2-nistp384", 97),
        ("ecdh-sha2-nistp521", 133),
    ] {
        for n in [0, 1, len - 1, len + 1, 2 * len] {
            // Bytes of a real X25519 key behind the uncompressed-point tag: only the length is wrong.
            let v: Vec<u8> = (0..n).map(|i| if i == 0 { 4 } else { good[4 + i % 32] }).collect();
            server_refuses_kex_value(kex, &string_field(&v), &format!("{n} bytes"));
            client_refuses_kex_value(kex, &string_field(&v), &format!("{n} bytes"));
        }
    }
}

#[test]
fn ecdh_points_off_the_curve_are_refused_in_both_roles() {
    for (kex, coord) in [
        ("ecdh-sha2-nistp256", 32),
        ("ecdh-sha2-nistp384", 48),
        ("ecdh-sha2-nistp521", 66),
    ] {
        // A real point with y changed is off the curve; so are all-ones coordinates (not below the prime).
        let c = crate::kex::ClientKex::start(kex).unwrap();
        let mut moved = c.encoded_public()[4..].to_vec();
        let last = moved.len() - 1;
        moved[last] ^= 1;
        let mut ones = vec![4u8];
        ones.extend(std::iter::repeat_n(0xff, 2 * coord));
        let mut zero = vec![4u8];
        zero.extend(std::iter::repeat_n(0, 2 * coord));
        for (why, v) in [("y moved", moved), ("all ones", ones), ("(0,0)", zero)] {
            server_refuses_kex_value(kex, &string_field(&v), why);
            client_refuses_kex_value(kex, &string_field(&v), why);
        }
    }
}

#[test]
fn mlkem_values_of_the_wrong_length_are_refused_in_both_roles() {
    let kex = "mlkem768x25519-sha256";
    let c = crate::kex::ClientKex::start(kex).unwrap();
    let init = c.encoded_public()[4..].to_vec();
    for n in [0, 32, 1184, init.len() - 1, init.len() + 1] {
        let mut v = init.clone();
        v.resize(n, 7);
        server_refuses_kex_value(kex, &string_field(&v), &format!("client value of {n} bytes"));
    }
    // An encapsulation key whose coefficients are not reduced modulo q.
    let mut bad = init.clone();
    bad[..1184].fill(0xff);
    server_refuses_kex_value(kex, &string_field(&bad), "unreduced key");
    // The server's ciphertext (1088 bytes) + X25519 key (32): every wrong length is refused by the client.
    for n in [0, 32, 1088, 1088 + 31, 1088 + 33, 1184 + 32] {
        client_refuses_kex_value(kex, &string_field(&vec![7u8; n]), &format!("reply of {n} bytes"));
    }
}

/// Runs a real handshake in which the server's KEX_ECDH_REPLY is rewritten by `tamper` on the way; returns the
/// client and its verdict on the reply.
fn handshake_with_tampered_reply(tamper: impl Fn(&[u8], &[u8], &[u8]) -> Vec<u8>) -> (Connection, Result<(), Error>) {
    let mut cc = Config::new(Role::Client);
    cc.algorithms.kex = vec!["curve25519-sha256".into()];
    cc.algorithms.host_key = vec!["ssh-ed25519".into()];
    let mut c = Connection::new(cc, vec![]);
    let mut s = server();
    for _ in 0..4 {
        deliver(&mut c, &mut s).unwrap();
        let out = s.poll_transmit().to_vec();
        s.advance_transmit(out.len());
        // Rewrite the plaintext packets; copy the rest (the encrypted part after NEWKEYS) as it is.
        let mut at = 0;
        let mut rewritten = Vec::new();
        if out.starts_with(b"SSH-") {
            at = out.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
            rewritten.extend_from_slice(&out[..at]);
        }
        let mut sealer = Sealer::new();
        for payload in plaintext_payloads(&out[at..]) {
            at += 4 + u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            let payload = if payload[0] == msg::KEX_ECDH_REPLY {
                let mut r = Reader::new(&payload[1..]);
                let (k_s, q_s, sig) = (r.string().unwrap(), r.string().unwrap(), r.string().unwrap());
                tamper(k_s, q_s, sig)
            } else {
                payload.clone()
            };
            sealer.seal(&payload, &mut rewritten).unwrap();
            if payload[0] == msg::NEWKEYS {
                break;
            }
        }
        rewritten.extend_from_slice(&out[at..]);
        let r = c.handle_input(&rewritten);
        if r.is_err() {
            return (c, r);
        }
    }
    (c, Ok(()))
}

fn reply(k_s: &[u8], q_s: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut p = vec![msg::KEX_ECDH_REPLY];
    Writer::new(&mut p).string(k_s).string(q_s).string(sig);
    p
}

#[test]
fn untouched_reply_passes_the_tampering_harness() {
    // The harness itself must not break a good handshake, or the cases below would prove nothing.
    let (mut c, r) = handshake_with_tampered_reply(reply);
    r.unwrap();
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, Event::HostKey(_))));
}

#[test]
fn exchange_hash_signature_that_does_not_verify_is_refused() {
    let (mut c, r) = handshake_with_tampered_reply(|k_s, q_s, sig| {
        let mut sig = sig.to_vec();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        reply(k_s, q_s, &sig)
    });
    let e = refused(&mut c, r);
    assert!(matches!(&e, Error::Kex(m) if m.contains("does not verify")), "{e}");
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::KeyExchangeFailed));
    assert!(
        c.server_host_key().is_none(),
        "a host key that did not prove itself is never offered"
    );
}

#[test]
fn exchange_hash_signed_by_another_key_is_refused() {
    // The server signs with its own key but names another: K_S is in the hash, and the signature is not by K_S.
    let other = PrivateKey::generate_ed25519().unwrap();
    let (mut c, r) = handshake_with_tampered_reply(|_, q_s, sig| reply(other.public_key().blob(), q_s, sig));
    let e = refused(&mut c, r);
    assert!(matches!(&e, Error::Kex(m) if m.contains("does not verify")), "{e}");
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::KeyExchangeFailed));
    // And a signature made by another key over the right hash cannot be made without the hash; a signature of
    // another algorithm than negotiated (an RSA blob for ssh-ed25519) is refused as well.
    let rsa = PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap();
    let (mut c, r) = handshake_with_tampered_reply(|_, q_s, _| {
        reply(
            rsa.public_key().blob(),
            q_s,
            &rsa.sign("rsa-sha2-256", b"whatever").unwrap(),
        )
    });
    assert!(matches!(refused(&mut c, r), Error::Kex(_)));
}

#[test]
fn garbage_host_key_blob_is_refused() {
    let (mut c, r) = handshake_with_tampered_reply(|_, q_s, sig| reply(b"\0\0\0\x07ssh-dss garbage", q_s, sig));
    let e = refused(&mut c, r);
    assert!(matches!(&e, Error::Kex(m) if m.contains("host key")), "{e}");
    assert_eq!(sent_disconnect(&mut c), code(DisconnectReason::KeyExchangeFailed));
}

#[test]
fn host_key_change_during_a_rekey_is_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    p.server.host_keys = vec![PrivateKey::generate_ed25519().unwrap()];
    p.client.rekey().unwrap();
    p.run();
    assert!(p.client.is_closed());
    assert!(
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::Closed(Error::HostKey(_)))),
        "{:?}",
        p.client_events
    );
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::Closed(Error::Disconnected {
            reason: DisconnectReason::HostKeyNotVerifiable,
            ..
        })
    )));
}

// ---------------------------------------------------------------------------------------------------------------
// User authentication (RFC 4252)
// ---------------------------------------------------------------------------------------------------------------

fn userauth(user: &str, service: &str, method: &str, rest: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut p = Vec::new();
    let mut w = Writer::new(&mut p);
    w.u8(msg::USERAUTH_REQUEST).string(user).string(service).string(method);
    rest(&mut w);
    p
}

fn auth_requests(c: &mut Connection) -> Vec<AuthMethod> {
    std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::AuthRequest { method, .. } => Some(method),
            _ => None,
        })
        .collect()
}

#[test]
fn connection_messages_before_auth_are_refused() {
    // The libssh CVE-2018-10933 class: a channel without authentication.
    for payload in [
        {
            let mut d = Vec::new();
            Writer::new(&mut d)
                .u8(msg::CHANNEL_OPEN)
                .string("session")
                .u32(0)
                .u32(1000)
                .u32(1000);
            d
        },
        {
            let mut d = Vec::new();
            Writer::new(&mut d)
                .u8(msg::GLOBAL_REQUEST)
                .string("tcpip-forward")
                .bool(true);
            d
        },
        vec![msg::USERAUTH_SUCCESS],
    ] {
        let mut p = Pair::default_pair();
        p.run(); // kex done, not authenticated
        let r = inject(&mut p.client, &mut p.server, &payload);
        let e = refused(&mut p.server, r);
        assert!(matches!(e, Error::Protocol(_)), "{e}");
        assert!(!p.server.is_authenticated());
        assert_eq!(
            heard(&mut p.server, &mut p.client),
            Some(DisconnectReason::ProtocolError)
        );
    }
}

#[test]
fn a_method_not_offered_costs_an_attempt() {
    let mut p = Pair::default_pair();
    p.run();
    let max = p.server.config().max_auth_attempts;
    for i in 1..=max {
        let req = userauth("u", "ssh-connection", "hostbased", |w| {
            w.string("ssh-ed25519")
                .string(b"blob")
                .string("host")
                .string("user")
                .string(b"sig");
        });
        inject(&mut p.client, &mut p.server, &req).unwrap();
        assert!(auth_requests(&mut p.server).is_empty(), "the application never sees it");
        assert_eq!(p.server.is_closed(), i == max, "attempt {i}");
    }
}

#[test]
fn repeated_none_requests_are_bounded_by_max_auth_tries() {
    let mut p = Pair::default_pair();
    p.run();
    let mut sent = 0;
    while !p.client.is_closed() && sent < 100 {
        p.client.auth_none("u").unwrap();
        sent += 1;
        p.run();
    }
    // The first "none" is a free probe for the method list; every further one counts, as in OpenSSH.
    assert_eq!(sent, 1 + p.server.config().max_auth_attempts as usize);
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::Closed(Error::Disconnected {
            reason: DisconnectReason::NoMoreAuthMethodsAvailable,
            ..
        })
    )));
}

#[test]
fn switching_user_between_attempts_disconnects() {
    let mut p = Pair::default_pair();
    p.run();
    p.client.auth_password("alice", "bad").unwrap();
    p.run();
    assert!(!p.server.is_closed());
    p.client.auth_password("bob", "pw").unwrap();
    p.run();
    assert!(!p.server.is_authenticated());
    assert!(p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Closed(Error::Protocol(m)) if m.contains("change of user"))));
    assert!(!p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::AuthRequest { user, .. } if user == "bob")));
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::Closed(Error::Disconnected {
            reason: DisconnectReason::ProtocolError,
            ..
        })
    )));
}

#[test]
fn a_service_other_than_ssh_userauth_or_ssh_connection_is_refused() {
    // A second SERVICE_REQUEST, for the connection service, before authentication.
    let mut p = Pair::default_pair();
    p.run();
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::SERVICE_REQUEST).string("ssh-connection");
    inject(&mut p.client, &mut p.server, &d).unwrap();
    assert!(p.server.is_closed());
    assert_eq!(
        heard(&mut p.server, &mut p.client),
        Some(DisconnectReason::ServiceNotAvailable)
    );
    // Authentication for a service that does not exist.
    let mut p = Pair::default_pair();
    p.run();
    inject(&mut p.client, &mut p.server, &userauth("u", "ssh-evil", "none", |_| {})).unwrap();
    assert!(p.server.is_closed());
    assert!(auth_requests(&mut p.server).is_empty());
    assert_eq!(
        heard(&mut p.server, &mut p.client),
        Some(DisconnectReason::ServiceNotAvailable)
    );
}

#[test]
fn publickey_query_for_one_key_then_a_signature_by_another() {
    let mut p = Pair::default_pair();
    p.run();
    let a = PrivateKey::generate_ed25519().unwrap();
    let b = PrivateKey::generate_ed25519().unwrap();
    let sid = p.server.session_id().unwrap().to_vec();
    let (blob_a, blob_b) = (a.public_key().blob().to_vec(), b.public_key().blob().to_vec());
    inject(
        &mut p.client,
        &mut p.server,
        &userauth("u", "ssh-connection", "publickey", |w| {
            w.bool(false).string("ssh-ed25519").string(&blob_a);
        }),
    )
    .unwrap();
    assert_eq!(
        auth_requests(&mut p.server),
        [AuthMethod::PublicKeyQuery(a.public_key())]
    );
    p.server.auth_pk_ok().unwrap();
    // Key A named, key B signed: the signature does not verify under A; the application is never asked.
    let data = crate::auth::publickey_signed_data(&sid, "u", "ssh-ed25519", &blob_a);
    let sig_b = b.sign("ssh-ed25519", &data).unwrap();
    inject(
        &mut p.client,
        &mut p.server,
        &userauth("u", "ssh-connection", "publickey", |w| {
            w.bool(true).string("ssh-ed25519").string(&blob_a).string(&sig_b);
        }),
    )
    .unwrap();
    assert!(auth_requests(&mut p.server).is_empty());
    assert!(!p.server.is_authenticated());
    // Key B named and signed by B: the application is asked about B, not about A it approved in the query.
    let data = crate::auth::publickey_signed_data(&sid, "u", "ssh-ed25519", &blob_b);
    let sig_b = b.sign("ssh-ed25519", &data).unwrap();
    inject(
        &mut p.client,
        &mut p.server,
        &userauth("u", "ssh-connection", "publickey", |w| {
            w.bool(true).string("ssh-ed25519").string(&blob_b).string(&sig_b);
        }),
    )
    .unwrap();
    assert_eq!(auth_requests(&mut p.server), [AuthMethod::PublicKey(b.public_key())]);
}

#[test]
fn signature_over_the_wrong_session_id_is_refused_and_counted() {
    let mut p = Pair::default_pair();
    p.run();
    let k = PrivateKey::generate_ed25519().unwrap();
    let blob = k.public_key().blob().to_vec();
    let max = p.server.config().max_auth_attempts;
    for i in 1..=max {
        // The session id of another connection (the replay the session id binding exists to stop).
        let data = crate::auth::publickey_signed_data(&[0x42; 32], "u", "ssh-ed25519", &blob);
        let sig = k.sign("ssh-ed25519", &data).unwrap();
        inject(
            &mut p.client,
            &mut p.server,
            &userauth("u", "ssh-connection", "publickey", |w| {
                w.bool(true).string("ssh-ed25519").string(&blob).string(&sig);
            }),
        )
        .unwrap();
        assert!(auth_requests(&mut p.server).is_empty());
        assert_eq!(p.server.is_closed(), i == max, "attempt {i}");
    }
    assert!(!p.server.is_authenticated());
}

#[test]
fn keyboard_interactive_responses_out_of_turn_or_too_many_are_refused() {
    let mut p = Pair::default_pair();
    p.run();
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::USERAUTH_INFO_RESPONSE).u32(0);
    server_refuses_from_client(&mut p, &d, "INFO_RESPONSE without");

    let mut p = Pair::default_pair();
    p.run();
    let req = userauth("u", "ssh-connection", "keyboard-interactive", |w| {
        w.string("").string("");
    });
    inject(&mut p.client, &mut p.server, &req).unwrap();
    assert_eq!(auth_requests(&mut p.server), [AuthMethod::KeyboardInteractive(None)]);
    let mut d = Vec::new();
    let mut w = Writer::new(&mut d);
    w.u8(msg::USERAUTH_INFO_RESPONSE).u32(100_000);
    for _ in 0..65 {
        w.string("x");
    }
    server_refuses_from_client(&mut p, &d, "100000 keyboard-interactive responses");
}

#[test]
fn client_refuses_an_auth_success_it_did_not_ask_for() {
    // A malicious server claims success before any request: the client must not consider itself logged in.
    let mut p = Pair::default_pair();
    p.run();
    let r = inject(&mut p.server, &mut p.client, &[msg::USERAUTH_SUCCESS]);
    let e = refused(&mut p.client, r);
    assert!(e.to_string().contains("unexpected authentication message 52"), "{e}");
    assert!(!p.client.is_authenticated());
    assert_eq!(
        heard(&mut p.client, &mut p.server),
        Some(DisconnectReason::ProtocolError)
    );
}

#[test]
fn client_refuses_channel_messages_before_auth() {
    let mut p = Pair::default_pair();
    p.run();
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_OPEN)
        .string("x11")
        .u32(1)
        .u32(1000)
        .u32(1000);
    let r = inject(&mut p.server, &mut p.client, &d);
    let e = refused(&mut p.client, r);
    assert!(e.to_string().contains("before authentication"), "{e}");
}

#[test]
fn client_bounds_keyboard_interactive_prompts_and_pk_ok_without_query() {
    let mut p = Pair::default_pair();
    p.run();
    p.client.auth_keyboard_interactive("u").unwrap();
    deliver(&mut p.client, &mut p.server).unwrap();
    let mut d = Vec::new();
    let mut w = Writer::new(&mut d);
    w.u8(msg::USERAUTH_INFO_REQUEST)
        .string("")
        .string("")
        .string("")
        .u32(u32::MAX);
    let r = inject(&mut p.server, &mut p.client, &d);
    let e = refused(&mut p.client, r);
    assert!(e.to_string().contains("keyboard-interactive prompts"), "{e}");
    assert_eq!(
        heard(&mut p.client, &mut p.server),
        Some(DisconnectReason::ProtocolError)
    );

    // PK_OK when no key was offered.
    let mut p = Pair::default_pair();
    p.run();
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::USERAUTH_PK_OK)
        .string("ssh-ed25519")
        .string(b"blob");
    let r = inject(&mut p.server, &mut p.client, &d);
    assert!(matches!(refused(&mut p.client, r), Error::Protocol(_)));
}

// ---------------------------------------------------------------------------------------------------------------
// Connection protocol (RFC 4254)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn every_channel_message_for_an_unknown_channel_is_refused() {
    for kind in [
        msg::CHANNEL_OPEN_CONFIRMATION,
        msg::CHANNEL_OPEN_FAILURE,
        msg::CHANNEL_WINDOW_ADJUST,
        msg::CHANNEL_DATA,
        msg::CHANNEL_EXTENDED_DATA,
        msg::CHANNEL_EOF,
        msg::CHANNEL_CLOSE,
        msg::CHANNEL_REQUEST,
        msg::CHANNEL_SUCCESS,
        msg::CHANNEL_FAILURE,
    ] {
        let mut p = Pair::default_pair();
        p.authenticate();
        let mut d = Vec::new();
        Writer::new(&mut d).u8(kind).u32(77).u32(1).u32(1).string(b"hello");
        server_refuses_from_client(&mut p, &d, "unknown channel 77");
    }
}

#[test]
fn data_beyond_the_window_is_refused() {
    let mut sc = Config::new(Role::Server);
    sc.channel_window = 1000;
    let (mut p, cid, sid) = open_pair(sc);
    assert!(p.client.channel(cid).is_some_and(|c| c.send_window() == 1000));
    // Exactly the window is fine; one byte more is not.
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_DATA).u32(sid).string([0u8; 1000]);
    inject(&mut p.client, &mut p.server, &d).unwrap();
    assert_eq!(p.server.channel(sid).unwrap().readable(false), 1000);
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_EXTENDED_DATA)
        .u32(sid)
        .u32(1)
        .string([0u8; 1]);
    server_refuses_from_client(&mut p, &d, "beyond its window");
}

#[test]
fn unknown_extended_data_still_counts_against_the_window() {
    let mut sc = Config::new(Role::Server);
    sc.channel_window = 1000;
    let (mut p, _, sid) = open_pair(sc);
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_EXTENDED_DATA)
        .u32(sid)
        .u32(7)
        .string([0u8; 600]);
    inject(&mut p.client, &mut p.server, &d).unwrap();
    assert_eq!(
        p.server.channel(sid).unwrap().readable(true),
        0,
        "dropped, not buffered"
    );
    server_refuses_from_client(&mut p, &d, "beyond its window");
}

#[test]
fn data_beyond_max_packet_is_refused() {
    let mut sc = Config::new(Role::Server);
    sc.channel_max_packet = 1000;
    let (mut p, _, sid) = open_pair(sc);
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_DATA).u32(sid).string([0u8; 1001]);
    server_refuses_from_client(&mut p, &d, "max packet");
}

#[test]
fn window_adjust_overflowing_2_32_minus_1_is_refused() {
    let (mut p, _, sid) = open_pair(Config::new(Role::Server));
    let window = p.server.channel(sid).unwrap().send_window();
    // Up to 2^32-1 exactly is allowed (RFC 4254 §5.2)...
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_WINDOW_ADJUST)
        .u32(sid)
        .u32(u32::MAX - window as u32);
    inject(&mut p.client, &mut p.server, &d).unwrap();
    assert_eq!(p.server.channel(sid).unwrap().send_window(), u32::MAX as u64);
    // ...one more byte is not, as in OpenSSH.
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_WINDOW_ADJUST).u32(sid).u32(1);
    server_refuses_from_client(&mut p, &d, "overflows");
}

#[test]
fn channel_open_flood_is_bounded_by_max_channels() {
    let mut sc = Config::new(Role::Server);
    sc.max_channels = 8;
    let mut p = Pair::new(Config::new(Role::Client), sc);
    p.authenticate();
    for _ in 0..50 {
        p.client.channel_open_session().unwrap();
    }
    p.run();
    assert_eq!(p.server.channel_count(), 8);
    let refused_for_resources = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::ChannelOpenFailed { reason: 4, .. }))
        .count();
    assert_eq!(
        refused_for_resources, 42,
        "RESOURCE_SHORTAGE for each one over the limit"
    );
    assert!(!p.server.is_closed());
}

#[test]
fn unknown_channel_requests_are_answered_with_failure() {
    let (mut p, cid, _) = open_pair(Config::new(Role::Server));
    p.client
        .channel_request(cid, &ChannelRequest::Other("evil@example.com".into()))
        .unwrap();
    p.run();
    assert!(p.client_events.contains(&Event::ChannelReply {
        id: cid,
        success: false
    }));
    // The engine answered by itself: the application (which says yes to everything here) was never asked.
    assert!(!p.server_events.iter().any(|e| matches!(
        e,
        Event::ChannelRequest {
            request: ChannelRequest::Other(_),
            ..
        }
    )));
    // Unknown global requests to a client are refused the same way (a server cannot make it listen).
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::GLOBAL_REQUEST)
        .string("evil@example.com")
        .bool(true);
    inject(&mut p.server, &mut p.client, &d).unwrap();
    assert!(p.client.pending_transmit() > 0, "REQUEST_FAILURE queued");
    deliver(&mut p.client, &mut p.server).unwrap();
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn requests_and_data_on_a_closed_channel_are_refused() {
    let (mut p, cid, sid) = open_pair(Config::new(Role::Server));
    p.client.channel_close(cid).unwrap();
    p.run();
    assert_eq!(
        p.server.channel(sid).map(|c| c.state),
        Some(crate::connection::ChannelState::Closed)
    );
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_REQUEST)
        .u32(sid)
        .string("exec")
        .bool(true)
        .string("id");
    server_refuses_from_client(&mut p, &d, "not open");

    // Data after EOF.
    let (mut p, cid, sid) = open_pair(Config::new(Role::Server));
    p.client.channel_eof(cid).unwrap();
    p.run();
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_DATA).u32(sid).string(b"late");
    server_refuses_from_client(&mut p, &d, "after EOF");
}

#[test]
fn channel_messages_before_the_channel_is_accepted_are_refused() {
    let mut p = Pair::default_pair();
    p.authenticate();
    p.client.channel_open_session().unwrap();
    deliver(&mut p.client, &mut p.server).unwrap();
    let sid = std::iter::from_fn(|| p.server.poll_event())
        .find_map(|e| match e {
            Event::ChannelOpenRequest { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    // The application has not accepted the channel: no data or request may use it yet.
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_DATA).u32(sid).string(b"early");
    server_refuses_from_client(&mut p, &d, "not open");
}

#[test]
fn unexpected_channel_replies_are_refused() {
    let (mut p, _, sid) = open_pair(Config::new(Role::Server));
    let mut d = Vec::new();
    Writer::new(&mut d).u8(msg::CHANNEL_SUCCESS).u32(sid);
    server_refuses_from_client(&mut p, &d, "unexpected reply");
    // A second OPEN_CONFIRMATION for an open channel.
    let (mut p, cid, _) = open_pair(Config::new(Role::Server));
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_OPEN_CONFIRMATION)
        .u32(cid)
        .u32(5)
        .u32(1000)
        .u32(1000);
    let r = inject(&mut p.server, &mut p.client, &d);
    assert!(matches!(refused(&mut p.client, r), Error::Protocol(_)));
}

#[test]
fn client_refuses_channels_a_server_opens() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_OPEN)
        .string("x11")
        .u32(5)
        .u32(1 << 20)
        .u32(32768)
        .string("10.0.0.1")
        .u32(6010);
    inject(&mut p.server, &mut p.client, &d).unwrap();
    assert_eq!(p.client.channel_count(), 0);
    assert!(p.client.pending_transmit() > 0, "OPEN_FAILURE queued");
    assert!(!std::iter::from_fn(|| p.client.poll_event()).any(|e| matches!(e, Event::ChannelOpenRequest { .. })));
}

// ---------------------------------------------------------------------------------------------------------------
// Memory bounds
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn input_while_waiting_for_the_host_key_decision_is_bounded() {
    let mut c = client();
    let mut s = server();
    for _ in 0..3 {
        deliver(&mut c, &mut s).unwrap();
        deliver(&mut s, &mut c).unwrap();
    }
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, Event::HostKey(_))));
    // The application takes its time; the server floods.
    let chunk = vec![0u8; 1 << 20];
    let mut r = Ok(());
    let mut fed = 0;
    while r.is_ok() && fed < 64 {
        r = c.handle_input(&chunk);
        fed += 1;
        assert!(c.input_capacity() <= 6 << 20, "buffer grew to {}", c.input_capacity());
    }
    let e = refused(&mut c, r);
    assert!(e.to_string().contains("too much data"), "{e}");
    assert!(fed <= 5, "refused after {fed} MiB");
}

#[test]
fn a_peer_that_stalls_a_rekey_cannot_make_us_hold_without_bound() {
    let (mut p, cid, sid) = open_pair(Config::new(Role::Server));
    // The server starts a rekey; the client never sees its KEXINIT (the peer stalls).
    p.server.rekey().unwrap();
    let kexinit_bytes = p.server.pending_transmit();
    // A driver writes while pending_transmit() is below its limit; held messages must count.
    let limit = 1 << 20;
    let mut written = 0;
    for _ in 0..10_000 {
        if p.server.pending_transmit() >= limit {
            break;
        }
        let n = p.server.channel_send(sid, &[5u8; 32 * 1024], None).unwrap();
        if n == 0 {
            break;
        }
        written += n;
    }
    assert!(
        written <= limit + 32 * 1024,
        "held {written} bytes during a stalled rekey"
    );
    assert!(p.server.pending_transmit() >= kexinit_bytes + written);
    // Requests that need an answer each hold one more message: the count is bounded too.
    let mut sent = 0;
    while sent < 5000 {
        p.client
            .channel_request(cid, &ChannelRequest::Other("x@example.com".into()))
            .unwrap();
        sent += 1;
    }
    let r = deliver(&mut p.client, &mut p.server);
    let e = refused(&mut p.server, r);
    assert!(e.to_string().contains("held back"), "{e}");
}

#[test]
fn a_huge_max_packet_from_the_peer_does_not_break_sending() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let cid = p.client.channel_open_session().unwrap();
    deliver(&mut p.client, &mut p.server).unwrap();
    let mut d = Vec::new();
    Writer::new(&mut d)
        .u8(msg::CHANNEL_OPEN_CONFIRMATION)
        .u32(cid)
        .u32(5)
        .u32(u32::MAX)
        .u32(u32::MAX);
    inject(&mut p.server, &mut p.client, &d).unwrap();
    assert!(std::iter::from_fn(|| p.client.poll_event()).any(|e| e == Event::ChannelOpened(cid)));
    let before = p.client.pending_transmit();
    let n = p.client.channel_send(cid, &vec![1u8; 1 << 20], None).unwrap();
    assert_eq!(n, 1 << 20);
    assert!(p.client.pending_transmit() >= before + (1 << 20));
    assert!(!p.client.is_closed());
}
