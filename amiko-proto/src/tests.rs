//! In-memory client↔server tests of the engine: both roles of this crate talk to each other without sockets.

use crate::config::{Config, Role};
use crate::connection::{AuthMethod, ChannelId, ChannelRequest, Connection, Event};
use crate::keys::PrivateKey;

/// Two engines wired back to back.
pub(crate) struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// When set, bytes reach each side through `handle_input_in_place` in chunks of these sizes (cycled), as a
    /// driver reading a socket into its own buffer does, so packets are split at every kind of offset.
    pub in_place_chunks: Option<Vec<usize>>,
    /// With `in_place_chunks`: use `handle_input_in_place_partial`, keeping each side's unused tail here as the
    /// driver keeps it in its read buffer.
    pub partial_tails: Option<[Vec<u8>; 2]>,
}

fn feed(
    conn: &mut Connection,
    bytes: &[u8],
    chunks: &Option<Vec<usize>>,
    tail: Option<&mut Vec<u8>>,
    turn: &mut usize,
) {
    let Some(sizes) = chunks else {
        let _ = conn.handle_input(bytes);
        return;
    };
    if let Some(tail) = tail {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = sizes[*turn % sizes.len()].min(rest.len());
            *turn += 1;
            tail.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            match conn.handle_input_in_place_partial(tail) {
                Ok(used) => drop(tail.drain(..used)),
                Err(_) => tail.clear(),
            }
        }
        return;
    }
    let mut buf = bytes.to_vec();
    let mut rest = &mut buf[..];
    while !rest.is_empty() {
        let n = sizes[*turn % sizes.len()].min(rest.len());
        *turn += 1;
        let (now, later) = rest.split_at_mut(n);
        let _ = conn.handle_input_in_place(now);
        rest = later;
    }
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
            in_place_chunks: None,
            partial_tails: None,
        }
    }

    pub fn default_pair() -> Pair {
        Pair::new(Config::new(Role::Client), Config::new(Role::Server))
    }

    /// Moves bytes both ways until nothing moves; answers host-key and auth questions like a permissive app.
    pub fn run(&mut self) {
        let mut turn = 0;
        for _ in 0..10_000 {
            let mut moved = false;
            let c2s = self.client.poll_transmit().to_vec();
            self.client.advance_transmit(c2s.len());
            if !c2s.is_empty() {
                moved = true;
                let tail = self.partial_tails.as_mut().map(|t| &mut t[1]);
                feed(&mut self.server, &c2s, &self.in_place_chunks, tail, &mut turn);
            }
            let s2c = self.server.poll_transmit().to_vec();
            self.server.advance_transmit(s2c.len());
            if !s2c.is_empty() {
                moved = true;
                let tail = self.partial_tails.as_mut().map(|t| &mut t[0]);
                feed(&mut self.client, &s2c, &self.in_place_chunks, tail, &mut turn);
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

    /// Opens a session channel from the client; returns the client's and the server's ids (the server's from
    /// the latest open request it saw).
    pub fn open_session(&mut self) -> (ChannelId, ChannelId) {
        let cid = self.client.channel_open_session().unwrap();
        self.run();
        let sid = self
            .server_events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::ChannelOpenRequest { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap();
        (cid, sid)
    }

    /// Appends all the server has received on `sid` (stdout) to `got`.
    pub fn server_recv_all(&mut self, sid: ChannelId, got: &mut Vec<u8>) {
        let mut buf = [0u8; 16 * 1024];
        while let n @ 1.. = self.server.channel_recv(sid, false, &mut buf).unwrap() {
            got.extend_from_slice(&buf[..n]);
        }
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
    let (cid, sid) = p.open_session();
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    while got.len() < data.len() {
        if sent < data.len() {
            sent += p.client.channel_send(cid, &data[sent..], None).unwrap();
        }
        p.run();
        p.server_recv_all(sid, &mut got);
    }
    assert_eq!(got, data);
    assert!(p.client.kex_count() > 3, "kex count {}", p.client.kex_count());
}

/// The in-place input path (the driver's) must give the same results as the copying one for every cipher family:
/// AEAD with a plain length, chacha20-poly1305 with an encrypted length, and CTR with encrypt-then-MAC and with
/// MAC-then-encrypt (where the first block is decrypted before the rest has arrived), with packets cut anywhere.
/// A window smaller than the data means the transfer only finishes if taking data by swap grants window back.
/// Both in-place entry points are run: the one that copies a trailing partial packet into the engine, and the one
/// that leaves it with the caller (the driver's).
#[test]
fn input_fed_in_place_in_odd_chunks_matches_across_ciphers_and_rekeys() {
    for (partial, cipher, mac) in [false, true].into_iter().flat_map(|partial| {
        [
            ("aes128-gcm@openssh.com", "hmac-sha2-256"),
            ("chacha20-poly1305@openssh.com", "hmac-sha2-256"),
            ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
            ("aes256-ctr", "hmac-sha2-512"),
        ]
        .map(|(c, m)| (partial, c, m))
    }) {
        let mut cc = Config::new(Role::Client);
        cc.algorithms.cipher = vec![cipher.into()];
        cc.algorithms.mac = vec![mac.into()];
        cc.rekey_bytes = 300 * 1024;
        let mut sc = Config::new(Role::Server);
        sc.channel_window = 150_000;
        let mut p = Pair::new(cc, sc);
        p.in_place_chunks = Some(vec![1, 3, 5, 16, 17, 100, 4096, 33_000, 70_000]);
        if partial {
            p.partial_tails = Some(Default::default());
        }
        p.authenticate();
        let (cid, sid) = p.open_session();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let (mut sent_c, mut sent_s, mut got_s, mut got_c) = (0, 0, Vec::new(), Vec::new());
        let mut swapped = Vec::new();
        while got_s.len() < data.len() || got_c.len() < data.len() {
            if sent_c < data.len() {
                sent_c += p.client.channel_send(cid, &data[sent_c..], None).unwrap();
            }
            if sent_s < data.len() {
                sent_s += p.server.channel_send(sid, &data[sent_s..], None).unwrap();
            }
            p.run();
            p.server_recv_all(sid, &mut got_s);
            // The client takes its data by swapping buffers (the CLI's path to stdout).
            while p.client.channel_recv_swap(cid, false, &mut swapped).unwrap() > 0 {
                got_c.extend_from_slice(&swapped);
            }
        }
        assert!(
            got_s == data && got_c == data,
            "{cipher} {mac} partial={partial}: data differs"
        );
        assert!(
            p.client.kex_count() > 3,
            "{cipher} partial={partial}: kex count {}",
            p.client.kex_count()
        );
        assert!(
            !p.client.is_closed() && !p.server.is_closed(),
            "{cipher} partial={partial}"
        );
    }
}

#[test]
fn data_held_during_a_rekey_still_rekeys_at_the_byte_limit() {
    // A fast writer queues a whole window of data while a key exchange runs; once NEWKEYS goes out, the queue must
    // not all go under the new keys: every 64 KiB starts another exchange, as when the data is sent bit by bit.
    let mut cc = Config::new(Role::Client);
    cc.rekey_bytes = 64 * 1024;
    let mut sc = Config::new(Role::Server);
    sc.channel_window = 4 << 20;
    let mut p = Pair::new(cc, sc);
    p.authenticate();
    let (cid, sid) = p.open_session();
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 13 % 251) as u8).collect();
    p.client.rekey().unwrap();
    assert_eq!(p.client.channel_send(cid, &data, None).unwrap(), data.len());
    let mut got = Vec::new();
    for _ in 0..1000 {
        p.run();
        p.server_recv_all(sid, &mut got);
        if got.len() == data.len() {
            break;
        }
    }
    assert!(got == data, "got {} bytes of {}", got.len(), data.len());
    // 1 MiB over 64 KiB: about 16 exchanges after the first.
    assert!(p.client.kex_count() >= 15, "kex count {}", p.client.kex_count());
}

/// A keepalive deadline counts only once authenticated (handle_timeout sends none before): before, it would stay in
/// the past while a user takes their time over a password prompt, and the driver would spin.
#[test]
fn keepalive_deadline_only_once_authenticated() {
    let t0 = std::time::Instant::now();
    let mut cc = Config::new(Role::Client);
    cc.keepalive_interval = Some(std::time::Duration::from_secs(5));
    let mut p = Pair::new(cc, Config::new(Role::Server));
    p.client.handle_timeout(t0).unwrap();
    assert_eq!(p.client.poll_timeout(), None);
    p.authenticate();
    let t1 = t0 + std::time::Duration::from_secs(1);
    p.client.handle_timeout(t1).unwrap();
    let due = p
        .client
        .poll_timeout()
        .expect("a keepalive deadline once authenticated");
    assert!(due > t1 && due <= t1 + std::time::Duration::from_secs(5), "{due:?}");
}

#[test]
fn rekey_time_rekeys_when_due_and_duration_max_never_does() {
    let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
    let t0 = std::time::Instant::now();
    // The default (an hour): a rekey starts once the hour is over.
    let mut p = Pair::default_pair();
    p.authenticate();
    p.client.handle_timeout(t0).unwrap();
    assert_eq!(p.client.poll_timeout(), Some(t0 + hours(1)));
    p.client.handle_timeout(t0 + hours(2)).unwrap();
    // While that rekey runs, no deadline in the past: a driver would wake for it at once, again and again.
    assert_eq!(p.client.poll_timeout(), None);
    p.run();
    assert_eq!(p.client.kex_count(), 2);
    // Duration::MAX (RekeyLimit ... none): no deadline, no rekey, and no overflow adding it to an Instant.
    let mut cc = Config::new(Role::Client);
    cc.rekey_time = std::time::Duration::MAX;
    let mut p = Pair::new(cc, Config::new(Role::Server));
    p.authenticate();
    p.client.handle_timeout(t0).unwrap();
    assert_eq!(p.client.poll_timeout(), None);
    p.client.handle_timeout(t0 + hours(24 * 365 * 10)).unwrap();
    p.run();
    assert_eq!(p.client.kex_count(), 1);
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

use crate::connection::ForwardRequest;

fn forward_requests(events: &[Event]) -> Vec<ForwardRequest> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ForwardRequest { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

fn global_replies(events: &[Event]) -> Vec<(u64, bool, Option<u16>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::GlobalReply {
                request,
                success,
                bound_port,
            } => Some((*request, *success, *bound_port)),
            _ => None,
        })
        .collect()
}

fn forwarded(events: &[Event]) -> Vec<(u32, u64, String, u16)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ForwardedChannel {
                id,
                forward,
                originator_host,
                originator_port,
            } => Some((*id, *forward, originator_host.clone(), *originator_port)),
            _ => None,
        })
        .collect()
}

#[test]
fn remote_tcp_forward_reports_the_bound_port_and_carries_only_its_own_channels() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let fwd = p.client.request_tcpip_forward("localhost", 0).unwrap();
    let fixed = p.client.request_tcpip_forward("", 7000).unwrap();
    p.run();
    assert_eq!(
        forward_requests(&p.server_events),
        [
            ForwardRequest::Tcpip {
                address: "localhost".into(),
                port: 0
            },
            ForwardRequest::Tcpip {
                address: "".into(),
                port: 7000
            }
        ]
    );
    // Replies go in request order: the bound port for the first, a plain success for the second.
    p.server.global_reply_bound_port(41234).unwrap();
    p.server.global_reply(true).unwrap();
    p.run();
    assert_eq!(
        global_replies(&p.client_events),
        [(fwd, true, Some(41234)), (fixed, true, Some(7000))]
    );

    // A connection to the forward: the client hears which forward and from where.
    let sid = p
        .server
        .channel_open_forwarded_tcpip("localhost", 41234, ("127.0.0.1", 5555))
        .unwrap();
    p.run();
    let got = forwarded(&p.client_events);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].1, got[0].2.as_str(), got[0].3), (fwd, "127.0.0.1", 5555));
    p.client.channel_accept(got[0].0).unwrap();
    p.run();
    assert!(p.server_events.contains(&Event::ChannelOpened(sid)));
    p.server.channel_send(sid, b"hello", None).unwrap();
    p.run();
    let mut buf = [0u8; 16];
    assert_eq!(p.client.channel_recv(got[0].0, false, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");

    // A port the client never asked for is refused (administratively prohibited) without the application seeing
    // it; so is the cancelled forward, at once.
    let stray = p
        .server
        .channel_open_forwarded_tcpip("localhost", 22, ("127.0.0.1", 1))
        .unwrap();
    p.client.cancel_forward(fwd).unwrap();
    p.run();
    let late = p
        .server
        .channel_open_forwarded_tcpip("localhost", 41234, ("127.0.0.1", 2))
        .unwrap();
    p.run();
    for id in [stray, late] {
        assert!(
            p.server_events
                .iter()
                .any(|e| matches!(e, Event::ChannelOpenFailed { id: i, reason: 1, .. } if *i == id)),
            "{:?}",
            p.server_events
        );
    }
    assert_eq!(forwarded(&p.client_events).len(), 1);
    assert!(
        forward_requests(&p.server_events).contains(&ForwardRequest::CancelTcpip {
            address: "localhost".into(),
            port: 41234
        })
    );
    // The forward on "" matches when the server spells the address differently.
    p.server
        .channel_open_forwarded_tcpip("0.0.0.0", 7000, ("10.0.0.1", 3))
        .unwrap();
    p.run();
    assert_eq!(forwarded(&p.client_events).last().unwrap().1, fixed);
}

#[test]
fn refused_forward_and_a_missing_bound_port_are_failures() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let refused = p.client.request_tcpip_forward("localhost", 80).unwrap();
    let no_port = p.client.request_tcpip_forward("localhost", 0).unwrap();
    p.run();
    p.server.global_reply(false).unwrap();
    // Success without the port it must carry for a port-0 request.
    p.server.global_reply(true).unwrap();
    p.run();
    assert_eq!(
        global_replies(&p.client_events),
        [(refused, false, None), (no_port, false, None)]
    );
    assert_eq!(p.client.remote_forwards().count(), 0);
    p.server
        .channel_open_forwarded_tcpip("localhost", 80, ("127.0.0.1", 1))
        .unwrap();
    p.run();
    assert!(forwarded(&p.client_events).is_empty());
}

#[test]
fn streamlocal_forwards_and_direct_streamlocal() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let fwd = p.client.request_streamlocal_forward("/run/app.sock").unwrap();
    p.run();
    assert_eq!(
        forward_requests(&p.server_events),
        [ForwardRequest::Streamlocal {
            path: "/run/app.sock".into()
        }]
    );
    p.server.global_reply(true).unwrap();
    p.run();
    assert_eq!(global_replies(&p.client_events), [(fwd, true, None)]);
    let other = p.server.channel_open_forwarded_streamlocal("/etc/other.sock").unwrap();
    let ours = p.server.channel_open_forwarded_streamlocal("/run/app.sock").unwrap();
    p.run();
    assert!(p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::ChannelOpenFailed { id, reason: 1, .. } if *id == other)));
    let got = forwarded(&p.client_events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, fwd);
    p.client.channel_accept(got[0].0).unwrap();
    p.run();
    assert!(p.server_events.contains(&Event::ChannelOpened(ours)));

    let cid = p.client.channel_open_direct_streamlocal("/var/run/db.sock").unwrap();
    p.run();
    let sid = p.server_events.iter().find_map(|e| match e {
        Event::DirectStreamlocalRequest { id, path } if path == "/var/run/db.sock" => Some(*id),
        _ => None,
    });
    p.server
        .channel_reject(sid.expect("request seen"), 2, "no such socket")
        .unwrap();
    p.run();
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::ChannelOpenFailed { id, reason: 2, .. } if *id == cid)));
    // The roles are enforced on our own side too.
    assert!(p.client.channel_open_forwarded_tcpip("a", 1, ("b", 2)).is_err());
    assert!(p.server.request_tcpip_forward("a", 1).is_err());
    assert!(p.client.channel_open_direct_streamlocal("").is_err());
}

#[test]
fn bad_forwarding_fields_are_refused_before_the_application() {
    use crate::wire::{msg, Writer};
    let mut p = Pair::default_pair();
    p.authenticate();
    let long = "x".repeat(crate::connection::MAX_SOCKET_PATH_LEN + 1);
    for (name, fields) in [
        ("tcpip-forward", {
            let mut b = Vec::new();
            Writer::new(&mut b).string("localhost").u32(70_000);
            b
        }),
        ("tcpip-forward", {
            let mut b = Vec::new();
            Writer::new(&mut b).string("h".repeat(300)).u32(80);
            b
        }),
        ("streamlocal-forward@openssh.com", {
            let mut b = Vec::new();
            Writer::new(&mut b).string(&long);
            b
        }),
        ("streamlocal-forward@openssh.com", {
            let mut b = Vec::new();
            Writer::new(&mut b).string("a\0b");
            b
        }),
    ] {
        let mut payload = Vec::new();
        Writer::new(&mut payload)
            .u8(msg::GLOBAL_REQUEST)
            .string(name)
            .bool(true)
            .raw(&fields);
        p.client.dangerous_send_raw(&payload).unwrap();
    }
    p.run();
    assert!(forward_requests(&p.server_events).is_empty(), "{:?}", p.server_events);
    assert!(!p.client.is_closed() && !p.server.is_closed());
    // Each was answered with a failure: the client (which did not queue them as its own requests) ignores them.
    assert!(global_replies(&p.client_events).is_empty());
    // A direct-streamlocal with an over-long path is refused as "connect failed".
    let mut extra = Vec::new();
    Writer::new(&mut extra).string(&long).string("").u32(0);
    let cid = p
        .client
        .channel_open_kind("direct-streamlocal@openssh.com", &extra)
        .unwrap();
    p.run();
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::ChannelOpenFailed { id, reason: 2, .. } if *id == cid)));
}

/// Moves what `from` has to send into `to` through `handle_input_in_place`, and returns the buffer it was decrypted
/// in, as a driver's read buffer would be left.
fn deliver_in_place(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
    let mut wire = from.poll_transmit().to_vec();
    from.advance_transmit(wire.len());
    to.handle_input_in_place(&mut wire).unwrap();
    wire
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A password or keyboard-interactive answer the server decrypts in place is wiped from that buffer once it is
/// handed over in `Event::AuthRequest` (docs/SECURITY.md, "Secrets in memory"); without the wipe the plaintext
/// request would stay in the driver's read buffer.
#[test]
fn credentials_are_wiped_from_the_buffer_they_were_decrypted_in() {
    const SECRET: &str = "correct horse battery staple";
    for kbd in [false, true] {
        let mut p = Pair::default_pair();
        p.run();
        assert!(p.client_events.contains(&Event::AuthReady));
        let (client, server) = (&mut p.client, &mut p.server);
        if kbd {
            client.auth_keyboard_interactive("u").unwrap();
            deliver_in_place(client, server);
            assert!(matches!(
                server.poll_event(),
                Some(Event::AuthRequest {
                    method: AuthMethod::KeyboardInteractive(None),
                    ..
                })
            ));
            server.auth_info_request("", "", &[("Password: ", false)]).unwrap();
            deliver_in_place(server, client);
            assert!(matches!(client.poll_event(), Some(Event::AuthInfoRequest { .. })));
            client.auth_info_response(&[SECRET.to_string()]).unwrap();
        } else {
            client.auth_password("u", SECRET).unwrap();
        }
        let wire = deliver_in_place(client, server);
        let got = match server.poll_event() {
            Some(Event::AuthRequest {
                method: AuthMethod::Password(ref p),
                ..
            }) => vec![p.clone()],
            Some(Event::AuthRequest {
                method: AuthMethod::KeyboardInteractive(Some(ref answers)),
                ..
            }) => answers.clone(),
            e => panic!("{e:?}"),
        };
        assert_eq!(got, [SECRET], "kbd {kbd}");
        assert!(
            !contains(&wire, SECRET.as_bytes()),
            "kbd {kbd}: the credential is still in the buffer"
        );
    }
}

/// The credentials of `Event::AuthRequest` are wiped when the event is dropped (a compile-time check) and by
/// `zeroize`.
#[test]
fn auth_method_wipes_its_credentials() {
    use zeroize::Zeroize;
    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<AuthMethod>();
    let mut m = AuthMethod::Password("pw".into());
    m.zeroize();
    assert_eq!(m, AuthMethod::Password(String::new()));
    let mut m = AuthMethod::KeyboardInteractive(Some(vec!["a".into(), "b".into()]));
    m.zeroize();
    assert_eq!(m, AuthMethod::KeyboardInteractive(None));
    let mut m = AuthMethod::None;
    m.zeroize();
    assert_eq!(m, AuthMethod::None);
}

/// Logging an auth event (`{:?}`) never prints the password or the keyboard-interactive answers.
#[test]
fn auth_method_debug_redacts_credentials() {
    let shown = format!("{:?}", AuthMethod::Password("hunter2-secret".into()));
    assert!(
        !shown.contains("hunter2-secret") && shown.contains("redacted"),
        "{shown}"
    );
    let shown = format!("{:?}", AuthMethod::KeyboardInteractive(Some(vec!["otp-424242".into()])));
    assert!(!shown.contains("otp-424242") && shown.contains("1 redacted"), "{shown}");
    assert_eq!(
        format!("{:?}", AuthMethod::KeyboardInteractive(None)),
        "KeyboardInteractive(None)"
    );
}
