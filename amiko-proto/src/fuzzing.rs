//! Entry points of the cargo-fuzz targets in `fuzz/`, one function per target.
//!
//! They live here, behind the `fuzzing` feature, rather than in the fuzz crate so that a stable-toolchain test
//! (`tests/fuzz_corpus.rs`) can replay the committed corpus and the crash reproducers through exactly the code
//! the fuzzers run. Each function takes arbitrary bytes and must never panic, hang or allocate without bound;
//! where a property can be checked (a round trip, a tampered packet being refused) it is asserted, so a violation
//! is a finding too. Not a stable API.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::config::{Config, Role, KEX_DEFAULT};
use crate::connection::{AuthMethod, ChannelRequest, Connection, Event};
use crate::keys::PrivateKey;
use crate::known_hosts::{glob_match, KnownHosts};
use crate::sftp::{FrameReader, Request, Response};
use crate::transport::cipher::{key_sizes, DirectionKeys};
use crate::transport::packet::{Opener, Sealer, MAX_PACKET_LEN};

/// Cipher suites of the packet target: `None` is the plaintext before the first NEWKEYS.
const SUITES: &[Option<(&str, Option<&str>)>] = &[
    None,
    Some(("chacha20-poly1305@openssh.com", None)),
    Some(("aes128-gcm@openssh.com", None)),
    Some(("aes256-gcm@openssh.com", None)),
    Some(("aes128-ctr", Some("hmac-sha2-256-etm@openssh.com"))),
    Some(("aes192-ctr", Some("hmac-sha2-512-etm@openssh.com"))),
    Some(("aes256-ctr", Some("hmac-sha2-256"))),
    Some(("aes128-ctr", Some("hmac-sha2-512"))),
    Some(("aes256-ctr", Some("hmac-sha1"))),
];

/// Fixed key material for a suite: the fuzzer cannot forge a MAC, but fixed keys keep runs reproducible.
fn suite_keys(cipher: &str, mac: Option<&str>) -> DirectionKeys {
    let s = key_sizes(cipher, mac).expect("suite is supported");
    let fill = |n: usize, salt: u8| (0..n).map(|i| (i as u8).wrapping_mul(13) ^ salt).collect();
    DirectionKeys {
        cipher: cipher.into(),
        mac: mac.map(Into::into),
        key: fill(s.key, 0x5a),
        iv: fill(s.iv, 0xa5),
        mac_key: fill(s.mac_key, 0x3c),
    }
}

fn opener_sealer(suite: u8) -> (Opener, Sealer) {
    let (mut o, mut s) = (Opener::new(), Sealer::new());
    if let Some((c, m)) = SUITES[usize::from(suite) % SUITES.len()] {
        let k = suite_keys(c, m);
        o.set_keys(&k).expect("valid keys");
        s.set_keys(&k).expect("valid keys");
    }
    (o, s)
}

/// Feeds `stream` to `o` in chunks of `chunk` bytes (0: all at once), opening every packet it can, the way the
/// engine does (the buffer keeps its partly decrypted front between calls). Returns the payloads, and whether
/// an error ended it.
fn open_stream(o: &mut Opener, stream: &[u8], chunk: usize) -> (Vec<Vec<u8>>, bool) {
    let chunk = if chunk == 0 { stream.len().max(1) } else { chunk };
    let (mut buf, mut got) = (Vec::new(), Vec::new());
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match o.open(&mut buf) {
                Ok(Some(p)) => {
                    assert!(p.payload.end <= p.consumed && p.consumed <= buf.len());
                    got.push(buf[p.payload].to_vec());
                    buf.drain(..p.consumed);
                }
                Ok(None) => break,
                Err(_) => return (got, true),
            }
        }
    }
    (got, false)
}

/// Target `packet`: the binary packet protocol opener, with and without a cipher.
///
/// `data[0] % 3` picks the mode, `data[1]` the suite, `data[2]` the chunk size of the input:
/// 0. the rest is raw wire bytes for the opener (lengths, padding, MACs from the fuzzer);
/// 1. the rest is a list of payloads (u16 length prefixed), sealed and opened again: they must come back equal,
///    and with one bit flipped at a fuzzer-chosen offset the packet must not open;
/// 2. the rest is raw input to a fresh engine of either role (`data[1] & 1`): version line and plaintext framing.
pub fn packet(data: &[u8]) {
    let [mode, suite, chunk, rest @ ..] = data else {
        return;
    };
    match mode % 3 {
        0 => {
            let (mut o, _) = opener_sealer(*suite);
            open_stream(&mut o, rest, usize::from(*chunk));
        }
        1 => {
            let (mut o, mut s) = opener_sealer(*suite);
            let plain = usize::from(*suite) % SUITES.len() == 0;
            let (flip, payloads) = match rest {
                [a, b, more @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), split_u16(more)),
                _ => return,
            };
            if flip == 0 || plain {
                let mut wire = Vec::new();
                for p in &payloads {
                    s.seal(p, &mut wire).expect("payloads are under the packet size");
                }
                let (got, failed) = open_stream(&mut o, &wire, usize::from(*chunk));
                assert!(!failed, "our own packets failed to open");
                assert_eq!(got, payloads, "packets did not round-trip");
            } else if let Some(first) = payloads.first() {
                // Tamper with one packet: it must be refused (or wait for more input), never open.
                let mut one = Vec::new();
                s.seal(first, &mut one).expect("fits");
                let bit = (flip - 1) % (one.len() * 8);
                one[bit / 8] ^= 1 << (bit % 8);
                let (got, _) = open_stream(&mut o, &one, usize::from(*chunk));
                assert!(got.is_empty(), "a tampered packet opened");
            }
        }
        _ => {
            let role = if suite & 1 == 0 { Role::Server } else { Role::Client };
            let mut c = Connection::new(Config::new(role), host_keys());
            let chunk = usize::from(*chunk).max(1);
            for piece in rest.chunks(chunk) {
                if c.handle_input(piece).is_err() {
                    break;
                }
                drain_events(&mut c);
            }
        }
    }
}

/// Splits `data` into pieces each preceded by a little-endian u16 length (cut short at the end).
fn split_u16(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let [a, b, more @ ..] = data {
        let n = usize::from(u16::from_le_bytes([*a, *b])).min(more.len());
        out.push(more[..n].to_vec());
        data = &more[n..];
    }
    out
}

/// Accepts host keys and drops the other events of an engine that has no peer.
fn drain_events(c: &mut Connection) {
    while let Some(e) = c.poll_event() {
        if let Event::HostKey(_) = e {
            let _ = c.accept_host_key();
        }
    }
}

/// Host keys for the server side, made once: generating and parsing them on every run would dominate the time.
fn host_keys() -> Vec<PrivateKey> {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            PrivateKey::generate_ed25519().expect("ed25519"),
            PrivateKey::generate_ecdsa(256).expect("ecdsa"),
            PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).expect("rsa test key"),
        ]
    })
    .clone()
}

/// A client and a server engine wired back to back in memory, with a permissive application on each side.
struct Pair {
    client: Connection,
    server: Connection,
    now: Instant,
}

/// How far [`Pair::to_phase`] takes the connection before the fuzzer's input arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The receiver has seen the peer's version line only: the payload is the peer's first packet.
    Fresh,
    /// The receiver has the peer's version and KEXINIT: the payload is the next key exchange message.
    MidKex,
    /// Keys are in place, nobody is authenticated.
    PreAuth,
    /// The client is authenticated and a session channel is open.
    Open,
}

impl Pair {
    /// `kex` picks the key exchange (so each kex's messages get parsed), the rest is fixed and fast.
    fn new(kex: u8) -> Pair {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.kex = vec![KEX_DEFAULT[usize::from(kex) % KEX_DEFAULT.len()].into()];
        cc.algorithms.cipher = vec!["aes128-gcm@openssh.com".into()];
        let mut sc = Config::new(Role::Server);
        // Small limits so the fuzzer reaches them quickly.
        sc.max_channels = 4;
        cc.max_channels = 4;
        Pair {
            client: Connection::new(cc, vec![]),
            server: Connection::new(sc, host_keys()),
            now: Instant::now(),
        }
    }

    fn side(&mut self, client: bool) -> (&mut Connection, &mut Connection) {
        if client {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        }
    }

    /// Moves bytes both ways and answers events like a permissive application until nothing moves. Engines that
    /// failed simply stop talking. Panics if the two never settle: that would be a livelock between the roles.
    fn run(&mut self) {
        for _ in 0..2_000 {
            let mut moved = false;
            for client in [true, false] {
                let (from, to) = self.side(client);
                let bytes = from.poll_transmit().to_vec();
                from.advance_transmit(bytes.len());
                if !bytes.is_empty() {
                    moved = true;
                    if !to.is_closed() {
                        let _ = to.handle_input(&bytes);
                    }
                }
            }
            moved |= Self::answer(&mut self.client, true);
            moved |= Self::answer(&mut self.server, false);
            if !moved {
                return;
            }
        }
        panic!("the two engines never settled");
    }

    /// What a permissive application does with each event. Returns whether there was any.
    fn answer(c: &mut Connection, client: bool) -> bool {
        let mut any = false;
        let mut buf = [0u8; 4096];
        while let Some(e) = c.poll_event() {
            any = true;
            let _ = match e {
                Event::HostKey(_) if client => c.accept_host_key(),
                Event::AuthRequest {
                    method: AuthMethod::PublicKeyQuery(_),
                    ..
                } => c.auth_pk_ok(),
                Event::AuthRequest {
                    method: AuthMethod::Password(ref p),
                    ..
                } if p == "pw" => c.auth_accept(),
                Event::AuthRequest {
                    method: AuthMethod::KeyboardInteractive(None),
                    ..
                } => c.auth_info_request("n", "i", &[("p", false)]),
                Event::AuthRequest { .. } => c.auth_reject(false),
                Event::AuthInfoRequest { .. } => c.auth_info_response(&["x".into()]),
                Event::ChannelOpenRequest { id, .. } | Event::DirectTcpipRequest { id, .. } => c.channel_accept(id),
                Event::ChannelRequest {
                    id, want_reply: true, ..
                } => c.channel_reply(id, true),
                Event::GlobalRequest { want_reply: true, .. } => c.global_reply(false),
                Event::ChannelEof(id) => c.channel_close(id),
                Event::ChannelClosed(id) => c.channel_release(id),
                _ => Ok(()),
            };
        }
        // Read what arrived, so windows open again as an application reading its channels would make them.
        for id in 0..8 {
            for stderr in [false, true] {
                while let Ok(n) = c.channel_recv(id, stderr, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    any = true;
                }
            }
        }
        any
    }

    /// Builds the pair up to `phase`. `receiver_is_client` says which side will get the fuzzer's payloads.
    fn to_phase(kex: u8, phase: Phase, receiver_is_client: bool) -> Pair {
        let mut p = Pair::new(kex);
        match phase {
            Phase::Fresh | Phase::MidKex => {
                // Only the sender's version line (and for MidKex its KEXINIT) reaches the receiver; the
                // receiver's own output is dropped so the sender stays where it was.
                let (to, from) = p.side(receiver_is_client);
                let first = from.poll_transmit().to_vec();
                from.advance_transmit(first.len());
                let version_end = first.iter().position(|&b| b == b'\n').map_or(first.len(), |i| i + 1);
                let take = if phase == Phase::Fresh {
                    version_end
                } else {
                    first.len()
                };
                let _ = to.handle_input(&first[..take]);
                let n = to.poll_transmit().len();
                to.advance_transmit(n);
                drain_events(to);
                // For Fresh the sender's KEXINIT was held back but its sealer counted it: `deliver` seals the
                // payload with a fresh plaintext sealer instead.
            }
            Phase::PreAuth => p.run(),
            Phase::Open => {
                p.run();
                let _ = p.client.auth_password("u", "pw");
                p.run();
                let _ = p.client.channel_open_session();
                p.run();
                let _ = p.client.channel_request(0, &ChannelRequest::Shell);
                p.run();
            }
        }
        p
    }
}

/// Byte 0 of the `message` and `session` inputs: which side receives, which phase, which kex.
fn setup(b: u8, kex: u8, phases: &[Phase]) -> (Pair, bool, Phase) {
    let receiver_is_client = b & 1 == 1;
    let phase = phases[usize::from(b >> 1) % phases.len()];
    // Only the mid-kex phase parses kex messages; the others use curve25519 (index 1), as the big DH groups
    // cost up to 100 ms per run.
    let kex = if phase == Phase::MidKex { kex } else { 1 };
    (
        Pair::to_phase(kex, phase, receiver_is_client),
        receiver_is_client,
        phase,
    )
}

/// Delivers one payload from the sender to the receiver as the sender's next packet.
fn deliver(p: &mut Pair, receiver_is_client: bool, phase: Phase, payload: &[u8]) {
    let (to, from) = p.side(receiver_is_client);
    if phase == Phase::Fresh {
        // Sealed by a plaintext sealer at sequence number 0: the receiver's first packet.
        let mut wire = Vec::new();
        if Sealer::new().seal(payload, &mut wire).is_ok() && !to.is_closed() {
            let _ = to.handle_input(&wire);
        }
        drain_events(to);
        return;
    }
    if from.is_closed() || from.dangerous_send_raw(payload).is_err() {
        return;
    }
    let bytes = from.poll_transmit().to_vec();
    from.advance_transmit(bytes.len());
    if !to.is_closed() {
        let _ = to.handle_input(&bytes);
    }
}

/// Target `message`: one message (its number is the first byte) as a decrypted payload, dispatched by the engine.
///
/// `data[0]`: bit 0 says whether the client (1) or the server (0) receives it, the next bits the phase (first
/// packet, mid key exchange, after kex before auth, authenticated with a channel open); `data[1]` picks the key
/// exchange (whose messages the mid-kex phase parses). The rest is the payload. Afterwards both sides run on so
/// the consequences (replies, events) are processed too.
pub fn message(data: &[u8]) {
    let [b, kex, payload @ ..] = data else {
        return;
    };
    let phases = [Phase::Fresh, Phase::MidKex, Phase::PreAuth, Phase::Open];
    let (mut p, receiver_is_client, phase) = setup(*b, *kex, &phases);
    deliver(&mut p, receiver_is_client, phase, payload);
    if matches!(phase, Phase::PreAuth | Phase::Open) {
        p.run();
    }
}

/// Target `session`: the client and server state machines after a completed handshake, driven by a script.
///
/// `data[0]` as for [`message`] (phase after kex: before auth, or authenticated with a channel). Then operations,
/// each one byte `op` and its operands, until the input ends:
/// - `op % 8 == 0`: a u16-length-prefixed raw payload from the sender to the receiver;
/// - 1: a channel data send of n bytes on channel `id` by either side; 2: a channel request; 3: EOF or close;
/// - 4: a rekey started by either side; 5: a password or keyboard-interactive attempt by the client;
/// - 6: the clock moves on (keepalives, time-based rekey); 7: a session or direct-tcpip channel open.
///
/// After each operation both sides run until they settle.
pub fn session(data: &[u8]) {
    let [b, ops @ ..] = data else {
        return;
    };
    let (mut p, receiver_is_client, phase) = setup(*b, 1, &[Phase::PreAuth, Phase::Open]);
    let mut cfg_keepalive = false;
    let mut ops = ops;
    let mut steps = 0;
    while let [op, x, rest @ ..] = ops {
        steps += 1;
        if steps > 64 {
            break;
        }
        ops = rest;
        let on_client = x & 0x80 != 0;
        let id = u32::from(x & 7);
        match op % 8 {
            0 => {
                let [lo, more @ ..] = ops else { break };
                let n = usize::from(u16::from_le_bytes([*x, *lo])).min(more.len());
                deliver(&mut p, receiver_is_client, phase, &more[..n]);
                ops = &more[n..];
            }
            1 => {
                let n = usize::from(x & 0x7f) * 997;
                let _ = p
                    .side(on_client)
                    .0
                    .channel_send(id, &vec![0x42; n], (x & 8 != 0).then_some(1));
            }
            2 => {
                let req = match x & 0x70 {
                    0x00 => ChannelRequest::Exec("true".into()),
                    0x10 => ChannelRequest::Subsystem("sftp".into()),
                    0x20 => ChannelRequest::ExitStatus(u32::from(*x)),
                    0x30 => ChannelRequest::Signal("TERM".into()),
                    0x40 => ChannelRequest::WindowChange {
                        cols: 80,
                        rows: 24,
                        width_px: 0,
                        height_px: 0,
                    },
                    0x50 => ChannelRequest::Env {
                        name: "A".into(),
                        value: "b".into(),
                    },
                    _ => ChannelRequest::Other("x@fuzz".into()),
                };
                let _ = p.side(on_client).0.channel_request(id, &req);
            }
            3 => {
                let c = p.side(on_client).0;
                let _ = if x & 8 == 0 {
                    c.channel_eof(id)
                } else {
                    c.channel_close(id)
                };
            }
            4 => {
                let _ = p.side(on_client).0.rekey();
            }
            5 => {
                let _ = match x & 3 {
                    0 => p.client.auth_password("u", "pw"),
                    1 => p.client.auth_password("u", "bad"),
                    2 => p.client.auth_keyboard_interactive("u"),
                    _ => p.client.auth_none("u"),
                };
            }
            6 => {
                if !cfg_keepalive {
                    cfg_keepalive = true;
                    p.client.set_keepalive(Some(Duration::from_secs(15)));
                    p.server.set_keepalive(Some(Duration::from_secs(15)));
                }
                p.now += Duration::from_secs(u64::from(*x) * 60);
                let now = p.now;
                let _ = p.client.handle_timeout(now);
                let _ = p.server.handle_timeout(now);
            }
            _ => {
                let c = p.side(on_client).0;
                let _ = if x & 1 == 0 {
                    c.channel_open_session()
                } else {
                    c.channel_open_direct_tcpip("h", 22, ("o", 1))
                };
            }
        }
        p.run();
    }
}

/// Target `known_hosts`: a known_hosts file's text, then look-ups in it.
///
/// The text is looked up for hosts and keys taken from its own lines (so matches are reachable), and every
/// whitespace-separated word is used as a glob pattern against the others.
pub fn known_hosts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let kh = KnownHosts::parse(&text);
    let keys: Vec<_> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (1..w.len()).find_map(|i| crate::keys::PublicKey::from_openssh(&format!("{} {}", w[i - 1], w[i])).ok())
        })
        .take(4)
        .collect();
    let words: Vec<&str> = text.split_whitespace().take(16).collect();
    for (i, host) in words.iter().enumerate() {
        let host = host
            .trim_start_matches('[')
            .split([']', ','])
            .next()
            .unwrap_or_default();
        for key in &keys {
            let _ = kh.check(host, 22, key);
            let _ = kh.check(host, 2222, key);
            let line = KnownHosts::entry_line(host, 2222, key);
            // What we would write must read back as known (a host name with a space or a comma cannot be
            // written as one entry, so only plain names are checked).
            if !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '#' | '@')) {
                let back = KnownHosts::parse(&line);
                assert_eq!(
                    back.check(host, 2222, key),
                    crate::known_hosts::HostKeyStatus::Known,
                    "{line}"
                );
            }
        }
        if let Some(next) = words.get(i + 1) {
            let _ = glob_match(host, next);
        }
    }
}

/// Target `authorized_keys`: an authorized_keys file's text, each line parsed as sshd's format. A line longer
/// than [`crate::authorized_keys::MAX_LINE_LEN`] is never accepted, nor a certificate as a key; for an accepted
/// line, its `from=` list matches every address without an error (it was validated when parsed), and its
/// restrictions merge with themselves and with no restrictions into themselves.
pub fn authorized_keys(data: &[u8]) {
    use crate::authorized_keys::{from_matches, parse_line, LoginRestrictions, MAX_LINE_LEN};
    let text = String::from_utf8_lossy(data);
    let addrs: [std::net::IpAddr; 4] = [
        std::net::Ipv4Addr::new(127, 0, 0, 1).into(),
        std::net::Ipv4Addr::new(10, 9, 9, 9).into(),
        std::net::Ipv6Addr::LOCALHOST.into(),
        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5).into(),
    ];
    for line in text.split('\n').take(64) {
        let Ok(Some(entry)) = parse_line(line) else {
            continue;
        };
        assert!(line.len() <= MAX_LINE_LEN, "an overlong line was accepted");
        assert!(entry.key.certificate().is_none(), "a certificate was accepted as a key");
        if let Some(list) = &entry.options.from {
            for ip in addrs {
                assert!(
                    from_matches(list, ip).is_ok(),
                    "from=\"{list}\" parsed but fails to match {ip}"
                );
            }
        }
        let r = &entry.options.restrictions;
        assert_eq!(r.merge(r).as_ref(), Ok(r));
        assert_eq!(r.merge(&LoginRestrictions::unrestricted()).as_ref(), Ok(r));
        for (host, port) in [("127.0.0.1", 22), ("localhost", 8080), ("", 0)] {
            let _ = r.allows_open(host, port);
            let _ = r.allows_listen(host, port);
        }
    }
}

/// Target `private_key`: a private key file's text (`data[1..]`), loaded without a passphrase (`data[0]` even)
/// or with the fixed passphrase `amiko-fuzz` (odd; the seeds encrypted with it let the fuzzer get past the
/// decryption). A key that loads must sign, verify, and write out and read back as the same key.
pub fn private_key(data: &[u8]) {
    let [b, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let _ = PrivateKey::is_encrypted(&text);
    let pass = (b & 1 == 1).then_some("amiko-fuzz");
    if let Ok(k) = PrivateKey::from_text(&text, pass) {
        // A key that loads must work: sign and verify, and write out and read back.
        let public = k.public_key();
        for alg in k.signature_algorithms() {
            let sig = k.sign(alg, b"fuzz").expect("a loaded key signs");
            public.verify(b"fuzz", &sig).expect("its signature verifies");
        }
        if let Ok(text) = k.to_openssh_text() {
            let back = PrivateKey::from_text(&text, None).expect("our own output loads");
            assert_eq!(back.public_key(), public);
        }
    }
}

/// Target `sftp`: SFTP frames as a server reads requests (`data[0]` even) or a client reads replies (odd).
///
/// The rest is a byte stream cut into frames by [`FrameReader`] in chunks of `data[1]` bytes; each frame is
/// decoded, and what decodes must encode and decode again to the same message.
pub fn sftp(data: &[u8]) {
    let [b, chunk, rest @ ..] = data else {
        return;
    };
    let mut fr = FrameReader::default();
    let chunk = usize::from(*chunk).max(1);
    for piece in rest.chunks(chunk) {
        fr.push(piece);
        loop {
            let frame = match fr.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return,
            };
            let mut out = Vec::new();
            if b & 1 == 0 {
                if let Ok(req) = Request::decode(frame) {
                    let _ = req.id();
                    req.encode(&mut out);
                    assert_eq!(
                        Request::decode(&out[4..]).as_ref(),
                        Ok(&req),
                        "request did not round-trip"
                    );
                }
            } else if let Ok(resp) = Response::decode(frame) {
                let _ = resp.id();
                resp.encode(&mut out);
                assert_eq!(
                    Response::decode(&out[4..]).as_ref(),
                    Ok(&resp),
                    "reply did not round-trip"
                );
            }
        }
    }
    assert!(fr.buffered() <= rest.len());
}

// MAX_PACKET_LEN bounds what mode 1 of `packet` may seal; payloads are cut at u16::MAX, far below.
const _: () = assert!(MAX_PACKET_LEN > u16::MAX as usize + 64);

#[cfg(test)]
mod tests {
    #[test]
    fn phases_build() {
        for b in 0..8 {
            super::message(&[b, 1, 2, 0, 0, 0, 0]);
        }
    }
}
