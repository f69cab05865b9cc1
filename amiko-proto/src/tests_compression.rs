//! Compression between our two roles: when each method starts, what it saves on the wire, rekeys, and a
//! decompression bomb.

use flate2::{Compress, Compression, FlushCompress};

use crate::config::{Config, Role};
use crate::connection::{ChannelId, Event};
use crate::error::{CompressionError, DisconnectReason, Error};
use crate::tests::Pair;
use crate::transport::compress::MAX_DECOMPRESSED;

/// Text that deflate shrinks a lot, as logs and source do.
fn compressible(n: usize) -> Vec<u8> {
    b"2024-05-01 12:00:00 INFO request served in 3 ms path=/api/v1/items status=200\n"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

/// Pseudo-random bytes (xorshift64), which deflate cannot shrink.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn pair(client_comp: &[&str], server_comp: &[&str]) -> Pair {
    let mut cc = Config::new(Role::Client);
    cc.algorithms.compression = client_comp.iter().map(|s| s.to_string()).collect();
    let mut sc = Config::new(Role::Server);
    sc.algorithms.compression = server_comp.iter().map(|s| s.to_string()).collect();
    Pair::new(cc, sc)
}

/// Opens a session channel; returns the client's and the server's ids.
fn open(p: &mut Pair) -> (ChannelId, ChannelId) {
    p.open_session()
}

/// Sends `data` client→server; returns the bytes it took on the wire and checks it arrived intact.
fn send_c2s(p: &mut Pair, cid: ChannelId, sid: ChannelId, data: &[u8]) -> usize {
    let (mut sent, mut wire, mut got) = (0, 0, Vec::new());
    while got.len() < data.len() {
        if sent < data.len() {
            sent += p.client.channel_send(cid, &data[sent..], None).unwrap();
        }
        wire += p.client.pending_transmit();
        p.run();
        p.server_recv_all(sid, &mut got);
    }
    assert_eq!(got, data);
    wire
}

/// Sends `data` server→client the same way.
fn send_s2c(p: &mut Pair, cid: ChannelId, sid: ChannelId, data: &[u8]) -> usize {
    let (mut sent, mut wire, mut got) = (0, 0, Vec::new());
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        if sent < data.len() {
            sent += p.server.channel_send(sid, &data[sent..], None).unwrap();
        }
        wire += p.server.pending_transmit();
        p.run();
        loop {
            let n = p.client.channel_recv(cid, false, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, data);
    wire
}

/// Sends a failing password attempt with a long compressible password; returns its bytes on the wire.
fn long_password_attempt(p: &mut Pair) -> usize {
    p.client.auth_password("u", &"a".repeat(4000)).unwrap();
    let wire = p.client.pending_transmit();
    p.run();
    wire
}

#[test]
fn delayed_zlib_runs_only_after_auth_and_shrinks_the_wire() {
    let mut cc = Config::new(Role::Client);
    cc.set_compression(true);
    let mut p = Pair::new(cc, Config::new(Role::Server));
    p.run();
    let n = p.client.negotiated().unwrap().clone();
    assert_eq!(
        (n.comp_c2s.as_str(), n.comp_s2c.as_str()),
        ("zlib@openssh.com", "zlib@openssh.com")
    );
    // Before authentication nothing is compressed: the 4000-byte password goes out at full size.
    assert_eq!(p.client.compression_active(), (false, false));
    assert_eq!(p.server.compression_active(), (false, false));
    assert!(long_password_attempt(&mut p) > 4000);
    p.authenticate();
    assert_eq!(p.client.compression_active(), (true, true));
    assert_eq!(p.server.compression_active(), (true, true));
    let (cid, sid) = open(&mut p);
    let data = compressible(1 << 20);
    let up = send_c2s(&mut p, cid, sid, &data);
    let down = send_s2c(&mut p, cid, sid, &data);
    assert!(
        up < data.len() / 20,
        "client→server: {up} bytes on the wire for {}",
        data.len()
    );
    assert!(
        down < data.len() / 20,
        "server→client: {down} bytes on the wire for {}",
        data.len()
    );
}

#[test]
fn without_compression_the_same_data_goes_at_full_size() {
    let mut p = Pair::default_pair();
    p.authenticate();
    assert_eq!(p.client.negotiated().unwrap().comp_c2s, "none");
    assert_eq!(p.client.compression_active(), (false, false));
    let (cid, sid) = open(&mut p);
    let data = compressible(1 << 20);
    assert!(send_c2s(&mut p, cid, sid, &data) > data.len());
}

#[test]
fn plain_zlib_runs_from_the_first_newkeys_and_per_direction() {
    // Compression only client→server: the server's list for that direction is shared, so ask by order.
    let mut p = pair(&["zlib", "none"], &["zlib", "none"]);
    p.run();
    assert_eq!(p.client.compression_active(), (true, true));
    // The password request is already compressed (RFC 4253 §6.2: from NEWKEYS on).
    assert!(long_password_attempt(&mut p) < 500);
    p.authenticate();
    let (cid, sid) = open(&mut p);
    let data = compressible(300_000);
    assert!(send_c2s(&mut p, cid, sid, &data) < data.len() / 20);
    assert!(send_s2c(&mut p, cid, sid, &data) < data.len() / 20);
}

#[test]
fn one_direction_compressed_the_other_not() {
    let mut cc = Config::new(Role::Client);
    cc.algorithms.compression = vec!["zlib@openssh.com".into(), "none".into()];
    let mut p = Pair::new(cc, Config::new(Role::Server));
    p.run();
    // Config has one list for both directions (negotiation per direction is tested in negotiate.rs); here both
    // ends turn server→client off at the same packet boundary to show the directions are independent streams.
    let n = p.client.negotiated().unwrap().clone();
    assert_eq!(n.comp_c2s, "zlib@openssh.com");
    p.authenticate();
    p.client
        .opener
        .set_compression(crate::transport::compress::CompressionAlg::None);
    p.server
        .sealer
        .set_compression(crate::transport::compress::CompressionAlg::None);
    assert_eq!(p.client.compression_active(), (true, false));
    let (cid, sid) = open(&mut p);
    let data = compressible(200_000);
    assert!(send_c2s(&mut p, cid, sid, &data) < data.len() / 20);
    assert!(send_s2c(&mut p, cid, sid, &data) > data.len());
}

#[test]
fn compression_restarts_at_each_rekey_and_data_survives() {
    let mut cc = Config::new(Role::Client);
    cc.set_compression(true);
    cc.rekey_bytes = 64 * 1024;
    // Small windows: the data goes in many rounds, so rekeys land between (and among) compressed packets.
    cc.channel_window = 200_000;
    let mut sc = Config::new(Role::Server);
    sc.rekey_bytes = 64 * 1024;
    sc.channel_window = 200_000;
    let mut p = Pair::new(cc, sc);
    p.authenticate();
    let (cid, sid) = open(&mut p);
    // Incompressible data so the wire carries enough bytes to pass the rekey limit many times.
    let data = noise(2_000_000);
    send_c2s(&mut p, cid, sid, &data);
    send_s2c(&mut p, cid, sid, &data);
    assert!(p.client.kex_count() > 8, "kex count {}", p.client.kex_count());
    assert_eq!(p.client.compression_active(), (true, true));
    let text = compressible(500_000);
    assert!(send_c2s(&mut p, cid, sid, &text) < text.len() / 10);
}

#[test]
fn a_decompression_bomb_is_a_compression_error_with_disconnect_and_bounded_memory() {
    let mut cc = Config::new(Role::Client);
    cc.set_compression(true);
    let mut p = Pair::new(cc, Config::new(Role::Server));
    p.authenticate();
    assert_eq!(p.server.compression_active(), (true, true));
    // 64 MiB of zeros deflated into ~64 KiB, continuing the client's fresh stream (nothing was compressed yet).
    let mut z = Compress::new(Compression::best(), true);
    let mut bomb = Vec::with_capacity(200_000);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        z.compress_vec(&zeros, &mut bomb, FlushCompress::None).unwrap();
    }
    z.compress_vec(&[], &mut bomb, FlushCompress::Partial).unwrap();
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let mut wire = Vec::new();
    p.client.sealer.seal_uncompressed(&bomb, &mut wire).unwrap();
    let err = p.server.handle_input(&wire).unwrap_err();
    assert_eq!(
        err,
        Error::Compression(CompressionError::TooLarge { max: MAX_DECOMPRESSED })
    );
    assert!(p.server.is_closed());
    // The inflated buffer never grew past the bound (plus the byte that detects it, plus allocator slack).
    assert!(
        p.server.inflated.capacity() <= MAX_DECOMPRESSED + 1 + 64,
        "{}",
        p.server.inflated.capacity()
    );
    // The server told the client why, in a DISCONNECT the client can still inflate.
    let out = p.server.poll_transmit().to_vec();
    assert!(!out.is_empty());
    let _ = p.client.handle_input(&out);
    let closed = std::iter::from_fn(|| p.client.poll_event()).find_map(|e| match e {
        Event::Closed(e) => Some(e),
        _ => None,
    });
    assert!(
        matches!(
            closed,
            Some(Error::Disconnected {
                reason: DisconnectReason::CompressionError,
                ..
            })
        ),
        "{closed:?}"
    );
}

#[test]
fn corrupt_compressed_data_is_a_compression_error() {
    let mut p = pair(&["zlib", "none"], &["zlib", "none"]);
    p.run();
    let mut wire = Vec::new();
    p.client
        .sealer
        .seal_uncompressed(b"\x00\x01this is not deflate", &mut wire)
        .unwrap();
    let err = p.server.handle_input(&wire).unwrap_err();
    assert!(
        matches!(err, Error::Compression(CompressionError::Corrupt(_))),
        "{err:?}"
    );
    assert_eq!(err.disconnect_reason(), Some(DisconnectReason::CompressionError));
}

#[test]
fn no_common_compression_fails_the_key_exchange() {
    let mut p = pair(&["zlib"], &["none"]);
    p.run();
    assert!(p.client.is_closed() || p.server.is_closed());
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::Closed(Error::NoCommonAlgorithm { .. })
            | Event::Closed(Error::Disconnected {
                reason: DisconnectReason::KeyExchangeFailed,
                ..
            })
    )));
}
