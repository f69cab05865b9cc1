//! Key exchange state machine (RFC 4253 §7–§9), strict kex (OpenSSH PROTOCOL §1.10) and rekeying.
//!
//! The mathematics of each method lives in `crate::kex`; this file moves the messages, computes the exchange hash,
//! derives the keys and switches them at NEWKEYS.

use std::time::Instant;

use zeroize::Zeroizing;

use crate::config::Role;
use crate::connection::{Connection, Event};
use crate::error::{DisconnectReason, Error, Result};
use crate::kex::{self, ClientKex, DhGroup, GexRequest, HashAlg};
use crate::keys::PublicKey;
use crate::transport::cipher::{self, DirectionKeys};
use crate::transport::compress::CompressionAlg;
use crate::transport::negotiate::{self, KexInit, Negotiated, EXT_INFO_C, EXT_INFO_S, STRICT_C, STRICT_S};
use crate::wire::{msg, Reader, Writer};

/// Whether a message belongs to the key exchange (allowed while one is running).
pub(crate) fn is_kex_message(kind: u8) -> bool {
    matches!(kind, msg::KEXINIT | msg::NEWKEYS | 30..=49)
}

/// Whether we may send a message while our own key exchange runs (transport-layer messages only).
pub(crate) fn may_send_during_kex(kind: u8) -> bool {
    matches!(kind, 1..=4 | msg::KEXINIT | 30..=49)
}

/// A group exchange in progress (RFC 4419): the client's request and, once chosen or received, the group.
struct Gex {
    req: GexRequest,
    group: Option<DhGroup>,
}

impl Gex {
    /// `min || n || max || p || g` as they go into the exchange hash between K_S and e (RFC 4419 §3).
    fn hash_part(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.u32(self.req.min).u32(self.req.n).u32(self.req.max);
        if let Some(g) = &self.group {
            w.mpint_unsigned(&g.p_bytes()).mpint_unsigned(&g.g_bytes());
        }
        out
    }
}

/// Key exchange progress of one connection.
#[derive(Default)]
pub(crate) struct Handshake {
    our_kexinit: Option<Vec<u8>>,
    peer_kexinit: Option<Vec<u8>>,
    negotiated: Option<Negotiated>,
    client_kex: Option<ClientKex>,
    gex: Option<Gex>,
    /// Size of the group of the last group exchange (what the server chose).
    gex_bits: Option<u64>,
    keys_out: Option<DirectionKeys>,
    keys_in: Option<DirectionKeys>,
    comp_out: CompressionAlg,
    comp_in: CompressionAlg,
    sent_newkeys: bool,
    received_newkeys: bool,
    awaiting_host_key: Option<PublicKey>,
    pub(crate) session_id: Option<Vec<u8>>,
    pub(crate) host_key: Option<PublicKey>,
    strict: bool,
    pub(crate) kex_count: u32,
    ignore_next: bool,
    done_at: Option<Instant>,
    done_unstamped: bool,
    pub(crate) peer_ext_info: bool,
    pub(crate) server_sig_algs: Option<Vec<String>>,
}

impl Handshake {
    /// Our KEXINIT is out and our NEWKEYS is not: only transport messages may be sent.
    pub(crate) fn sending_kex(&self) -> bool {
        self.our_kexinit.is_some() && !self.sent_newkeys
    }

    /// The peer's KEXINIT arrived and its NEWKEYS did not: only kex messages may arrive.
    pub(crate) fn receiving_kex(&self) -> bool {
        self.peer_kexinit.is_some() && !self.received_newkeys
    }

    pub(crate) fn in_progress(&self) -> bool {
        self.our_kexinit.is_some() || self.peer_kexinit.is_some()
    }

    /// Under strict kex nothing but kex messages may arrive before the first NEWKEYS.
    pub(crate) fn in_initial_strict_kex(&self) -> bool {
        self.kex_count == 0 && self.strict && !self.received_newkeys
    }

    /// Input processing stops while the client decides about the host key.
    pub(crate) fn paused(&self) -> bool {
        self.awaiting_host_key.is_some()
    }

    pub(crate) fn done_at(&self) -> Option<Instant> {
        self.done_at
    }

    pub(crate) fn note_time(&mut self, now: Instant) {
        if self.done_unstamped || self.done_at.is_none() && self.kex_count > 0 {
            self.done_at = Some(now);
            self.done_unstamped = false;
        }
    }
}

/// Packets under one key before a rekey: RFC 4344 §3.1 asks for one at least every 2^32 packets; 2^28 leaves a
/// wide margin.
const REKEY_PACKETS: u64 = 1 << 28;

impl Connection {
    /// The negotiated algorithms of the last key exchange.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.hs.negotiated.as_ref()
    }

    /// The modulus size in bits of the last diffie-hellman-group-exchange-* (None if none ran).
    pub fn group_exchange_bits(&self) -> Option<u64> {
        self.hs.gex_bits
    }

    /// How many key exchanges completed (1 after the initial one).
    pub fn kex_count(&self) -> u32 {
        self.hs.kex_count
    }

    /// The session identifier (the first exchange hash).
    pub fn session_id(&self) -> Option<&[u8]> {
        self.hs.session_id.as_deref()
    }

    /// Whether strict kex (the Terrapin countermeasure) is in force.
    pub fn strict_kex(&self) -> bool {
        self.hs.strict
    }

    /// The server's host key (client role), once proven.
    pub fn server_host_key(&self) -> Option<&PublicKey> {
        self.hs.host_key.as_ref().or(self.hs.awaiting_host_key.as_ref())
    }

    /// The signature algorithms the server accepts for publickey auth (RFC 8308 server-sig-algs).
    pub fn server_sig_algs(&self) -> Option<&[String]> {
        self.hs.server_sig_algs.as_deref()
    }

    /// Starts a key exchange (a rekey once connected). Does nothing if one is running.
    pub fn rekey(&mut self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        self.start_kex();
        Ok(())
    }

    pub(crate) fn start_kex(&mut self) {
        if self.hs.our_kexinit.is_some() {
            return;
        }
        let algs = &self.cfg.algorithms;
        let first = self.hs.kex_count == 0 && self.hs.peer_kexinit.is_none();
        let mut kex_list = algs.kex.clone();
        let host_key: Vec<String> = match self.cfg.role {
            Role::Client => {
                if first {
                    kex_list.extend([EXT_INFO_C.to_string(), STRICT_C.to_string()]);
                }
                algs.host_key.clone()
            }
            Role::Server => {
                if first {
                    kex_list.extend([EXT_INFO_S.to_string(), STRICT_S.to_string()]);
                }
                algs.host_key
                    .iter()
                    .filter(|a| {
                        self.host_keys
                            .iter()
                            .any(|k| k.signature_algorithms().contains(&a.as_str()))
                    })
                    .cloned()
                    .collect()
            }
        };
        let mut cookie = [0u8; 16];
        crate::rng::fill(&mut cookie);
        let init = KexInit {
            cookie,
            kex: kex_list.join(","),
            host_key: host_key.join(","),
            cipher_c2s: algs.cipher.join(","),
            cipher_s2c: algs.cipher.join(","),
            mac_c2s: algs.mac.join(","),
            mac_s2c: algs.mac.join(","),
            comp_c2s: algs.compression.join(","),
            comp_s2c: algs.compression.join(","),
            first_kex_follows: false,
        };
        let mut payload = Vec::new();
        init.encode(&mut payload);
        if self.sealer.seal(&payload, &mut self.outbuf).is_ok() {
            self.hs.our_kexinit = Some(payload);
            self.hs.sent_newkeys = false;
            self.hs.received_newkeys = false;
        }
        if let Some(peer) = self.hs.peer_kexinit.clone() {
            // The peer started this exchange: we can negotiate at once.
            let r = self.after_both_kexinits(&peer);
            if let Err(e) = r {
                self.disconnect(DisconnectReason::KeyExchangeFailed, &e.to_string());
            }
        }
    }

    /// Starts a rekey when the byte or packet counters reach their limits (RFC 4344 §3).
    pub(crate) fn maybe_rekey(&mut self) {
        if self.hs.kex_count == 0 || self.hs.in_progress() {
            return;
        }
        if self.rekey_due() {
            self.start_kex();
        }
    }

    /// Whether the current keys reached the byte or packet limit, in either direction.
    fn rekey_due(&self) -> bool {
        self.sealer_due()
            || self.opener.bytes_since_keys() >= self.cfg.rekey_bytes
            || self.opener.packets_since_keys() >= REKEY_PACKETS
    }

    /// Whether the outgoing keys reached the byte or packet limit.
    pub(crate) fn sealer_due(&self) -> bool {
        self.sealer.bytes_since_keys() >= self.cfg.rekey_bytes || self.sealer.packets_since_keys() >= REKEY_PACKETS
    }

    pub(crate) fn handle_kex_message(&mut self, payload: &[u8]) -> Result<()> {
        let kind = payload[0];
        let gex = self
            .hs
            .negotiated
            .as_ref()
            .is_some_and(|n| kex::is_group_exchange(&n.kex));
        match kind {
            msg::KEXINIT => self.on_kexinit(payload),
            msg::NEWKEYS => self.on_newkeys(),
            _ if self.hs.ignore_next => {
                self.hs.ignore_next = false;
                Ok(())
            }
            msg::KEX_DH_GEX_REQUEST if gex && self.cfg.role == Role::Server => self.on_gex_request(payload),
            msg::KEX_DH_GEX_GROUP if gex && self.cfg.role == Role::Client => self.on_gex_group(payload),
            msg::KEX_DH_GEX_INIT if gex && self.cfg.role == Role::Server => self.on_kex_init_server(payload),
            msg::KEX_DH_GEX_REPLY if gex && self.cfg.role == Role::Client => self.on_kex_reply_client(payload),
            msg::KEX_ECDH_INIT if !gex && self.cfg.role == Role::Server => self.on_kex_init_server(payload),
            msg::KEX_ECDH_REPLY if !gex && self.cfg.role == Role::Client => self.on_kex_reply_client(payload),
            _ => Err(Error::protocol(format!("unexpected key exchange message {kind}"))),
        }
    }

    fn on_kexinit(&mut self, payload: &[u8]) -> Result<()> {
        if self.hs.peer_kexinit.is_some() {
            return Err(Error::protocol("second KEXINIT during a key exchange"));
        }
        let peer = KexInit::decode(payload)?;
        if self.hs.kex_count == 0 {
            let strict_marker = if self.cfg.role == Role::Client {
                STRICT_S
            } else {
                STRICT_C
            };
            self.hs.strict = peer.has_kex(strict_marker);
            // Strict kex: KEXINIT must be the very first packet (the Terrapin attack inserts packets before it).
            if self.hs.strict && self.opener.seq() != 1 {
                return Err(Error::protocol("strict kex: KEXINIT was not the first packet"));
            }
            let ext_marker = if self.cfg.role == Role::Client {
                EXT_INFO_S
            } else {
                EXT_INFO_C
            };
            self.hs.peer_ext_info = peer.has_kex(ext_marker);
        }
        self.hs.peer_kexinit = Some(payload.to_vec());
        self.hs.received_newkeys = false;
        if self.hs.our_kexinit.is_none() {
            self.start_kex(); // negotiates too
            return Ok(());
        }
        let peer_payload = payload.to_vec();
        self.after_both_kexinits(&peer_payload)
    }

    fn after_both_kexinits(&mut self, peer_payload: &[u8]) -> Result<()> {
        let ours = KexInit::decode(self.hs.our_kexinit.as_deref().unwrap_or_default())?;
        let peer = KexInit::decode(peer_payload)?;
        let (c, s) = match self.cfg.role {
            Role::Client => (&ours, &peer),
            Role::Server => (&peer, &ours),
        };
        let n = negotiate::negotiate(c, s, cipher::is_aead)?;
        self.hs.ignore_next = peer.first_kex_follows && negotiate::guess_was_wrong(c, s);
        if self.cfg.role == Role::Client && kex::is_group_exchange(&n.kex) {
            // Ask for a group as strong as the strongest key we will derive from it (OpenSSH's dh_estimate).
            let need = [(&n.cipher_c2s, &n.mac_c2s), (&n.cipher_s2c, &n.mac_s2c)]
                .iter()
                .filter_map(|(c, m)| cipher::key_sizes(c, m.as_deref()))
                .map(|s| s.key.max(s.iv).max(s.mac_key))
                .max()
                .unwrap_or(32);
            let req = GexRequest::for_need(need);
            let mut p = Vec::with_capacity(13);
            Writer::new(&mut p)
                .u8(msg::KEX_DH_GEX_REQUEST)
                .u32(req.min)
                .u32(req.n)
                .u32(req.max);
            self.hs.gex = Some(Gex { req, group: None });
            self.send(&p)?;
        } else if self.cfg.role == Role::Client {
            let ck = ClientKex::start(&n.kex)?;
            let mut p = Vec::with_capacity(ck.encoded_public().len() + 1);
            p.push(msg::KEX_ECDH_INIT);
            p.extend_from_slice(ck.encoded_public());
            self.hs.client_kex = Some(ck);
            self.send(&p)?;
        }
        self.hs.negotiated = Some(n);
        Ok(())
    }

    /// H over the versions, KEXINITs, host key, the group exchange's part (empty for other methods), the public
    /// values and K (RFC 4253 §8, RFC 4419 §3, RFC 5656 §4).
    fn exchange_hash(&self, hash: HashAlg, k_s: &[u8], client_pub: &[u8], server_pub: &[u8], k: &[u8]) -> Vec<u8> {
        let gex = self.hs.gex.as_ref().map(Gex::hash_part).unwrap_or_default();
        let (v_c, v_s, i_c, i_s) = {
            let ours = self.hs.our_kexinit.as_deref().unwrap_or_default();
            let peer = self.hs.peer_kexinit.as_deref().unwrap_or_default();
            let peer_v = self.peer_version.as_deref().unwrap_or_default();
            match self.cfg.role {
                Role::Client => (self.our_version.as_str(), peer_v, ours, peer),
                Role::Server => (peer_v, self.our_version.as_str(), peer, ours),
            }
        };
        // Holds K: wiped when dropped. K comes last, so a reallocation never leaves a copy of it behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(4096));
        let mut w = Writer::new(&mut buf);
        w.string(v_c)
            .string(v_s)
            .string(i_c)
            .string(i_s)
            .string(k_s)
            .raw(&gex)
            .raw(client_pub)
            .raw(server_pub)
            .raw(k);
        hash.digest(&buf)
    }

    fn derive_keys(&mut self, hash: HashAlg, k: &[u8], h: &[u8]) -> Result<()> {
        let n = self
            .hs
            .negotiated
            .clone()
            .ok_or_else(|| Error::protocol("kex message before KEXINIT"))?;
        let sid = self.hs.session_id.clone().unwrap_or_else(|| h.to_vec());
        let make = |cipher: &str, mac: &Option<String>, iv_l: u8, key_l: u8, mac_l: u8| -> Result<DirectionKeys> {
            let sizes = cipher::key_sizes(cipher, mac.as_deref())
                .ok_or_else(|| Error::Kex(format!("no key sizes for {cipher}")))?;
            Ok(DirectionKeys {
                cipher: cipher.to_string(),
                mac: mac.clone(),
                iv: kex::derive_key(hash, k, h, iv_l, &sid, sizes.iv),
                key: kex::derive_key(hash, k, h, key_l, &sid, sizes.key),
                mac_key: kex::derive_key(hash, k, h, mac_l, &sid, sizes.mac_key),
            })
        };
        let c2s = make(&n.cipher_c2s, &n.mac_c2s, b'A', b'C', b'E')?;
        let s2c = make(&n.cipher_s2c, &n.mac_s2c, b'B', b'D', b'F')?;
        let comp = |name: &str| {
            CompressionAlg::from_name(name).ok_or_else(|| Error::Kex(format!("unsupported compression {name}")))
        };
        let (comp_c2s, comp_s2c) = (comp(&n.comp_c2s)?, comp(&n.comp_s2c)?);
        let (out, inp, comp_out, comp_in) = match self.cfg.role {
            Role::Client => (c2s, s2c, comp_c2s, comp_s2c),
            Role::Server => (s2c, c2s, comp_s2c, comp_c2s),
        };
        self.hs.keys_out = Some(out);
        self.hs.keys_in = Some(inp);
        self.hs.comp_out = comp_out;
        self.hs.comp_in = comp_in;
        self.hs.session_id = Some(sid);
        Ok(())
    }

    /// Server: SSH_MSG_KEX_DH_GEX_REQUEST; answers with the chosen group.
    fn on_gex_request(&mut self, payload: &[u8]) -> Result<()> {
        if self.hs.gex.is_some() {
            return Err(Error::protocol("second KEX_DH_GEX_REQUEST"));
        }
        let mut r = Reader::new(&payload[1..]);
        let req = GexRequest {
            min: r.u32()?,
            n: r.u32()?,
            max: r.u32()?,
        };
        r.finish()?;
        let group = kex::choose_group(&self.cfg.gex_groups, req)?;
        self.hs.gex_bits = Some(group.bits());
        let mut p = Vec::with_capacity(group.p_bytes().len() + 16);
        Writer::new(&mut p)
            .u8(msg::KEX_DH_GEX_GROUP)
            .mpint_unsigned(&group.p_bytes())
            .mpint_unsigned(&group.g_bytes());
        self.hs.gex = Some(Gex {
            req,
            group: Some(group),
        });
        self.send(&p)
    }

    /// Client: SSH_MSG_KEX_DH_GEX_GROUP; checks the group and sends e.
    fn on_gex_group(&mut self, payload: &[u8]) -> Result<()> {
        let gex = match &mut self.hs.gex {
            Some(g) if g.group.is_none() => g,
            _ => return Err(Error::protocol("unexpected KEX_DH_GEX_GROUP")),
        };
        let mut r = Reader::new(&payload[1..]);
        let p = r.mpint_unsigned()?;
        let g = r.mpint_unsigned()?;
        r.finish()?;
        let group = kex::check_group(gex.req, p, g)?;
        let ck = ClientKex::start_with_group(&group)?;
        self.hs.gex_bits = Some(group.bits());
        gex.group = Some(group);
        let mut m = Vec::with_capacity(ck.encoded_public().len() + 1);
        m.push(msg::KEX_DH_GEX_INIT);
        m.extend_from_slice(ck.encoded_public());
        self.hs.client_kex = Some(ck);
        self.send(&m)
    }

    fn on_kex_init_server(&mut self, payload: &[u8]) -> Result<()> {
        let n = self
            .hs
            .negotiated
            .clone()
            .ok_or_else(|| Error::protocol("KEX_ECDH_INIT before KEXINIT"))?;
        // Once we replied (our NEWKEYS is out) another INIT must not start a second exchange: each one would cost us
        // a key generation and a host-key signature, and would replace the keys the client is about to use.
        if self.hs.keys_out.is_some() || self.hs.sent_newkeys {
            return Err(Error::protocol("second KEX_ECDH_INIT"));
        }
        let field = &payload[1..];
        let mut r = Reader::new(field);
        let client_value = if kex::public_is_mpint(&n.kex) {
            r.mpint_unsigned()?
        } else {
            r.string()?
        }
        .to_vec();
        let field_len = field.len() - r.remaining().len();
        r.finish()?;
        let (server_pub, secret) = if kex::is_group_exchange(&n.kex) {
            let group = self
                .hs
                .gex
                .as_ref()
                .and_then(|g| g.group.as_ref())
                .ok_or_else(|| Error::protocol("KEX_DH_GEX_INIT before KEX_DH_GEX_REQUEST"))?;
            kex::server_respond_with_group(group, &client_value)?
        } else {
            kex::server_respond(&n.kex, &client_value)?
        };
        let key = self
            .host_keys
            .iter()
            .find(|k| k.signature_algorithms().contains(&n.host_key.as_str()))
            .ok_or_else(|| Error::Kex(format!("no host key for {}", n.host_key)))?;
        let k_s = key.public_key().blob().to_vec();
        let k = secret.encoded();
        let hash = kex::hash_for(&n.kex).ok_or_else(|| Error::Kex(format!("unknown kex {}", n.kex)))?;
        let h = self.exchange_hash(hash, &k_s, &field[..field_len], &server_pub, &k);
        let sig = key.sign(&n.host_key, &h)?;
        let mut reply = Vec::with_capacity(k_s.len() + server_pub.len() + sig.len() + 16);
        // KEX_DH_GEX_REPLY has the layout of KEX_ECDH_REPLY (and KEXDH_REPLY) under another number.
        let reply_kind = if kex::is_group_exchange(&n.kex) {
            msg::KEX_DH_GEX_REPLY
        } else {
            msg::KEX_ECDH_REPLY
        };
        Writer::new(&mut reply)
            .u8(reply_kind)
            .string(&k_s)
            .raw(&server_pub)
            .string(&sig);
        self.derive_keys(hash, &k, &h)?;
        self.send(&reply)?;
        self.send_newkeys()
    }

    fn on_kex_reply_client(&mut self, payload: &[u8]) -> Result<()> {
        let n = self
            .hs
            .negotiated
            .clone()
            .ok_or_else(|| Error::protocol("KEX_ECDH_REPLY before KEXINIT"))?;
        let ck = self
            .hs
            .client_kex
            .take()
            .ok_or_else(|| Error::protocol("unexpected KEX_ECDH_REPLY"))?;
        let mut r = Reader::new(&payload[1..]);
        let k_s = r.string()?;
        let before = r.remaining().len();
        let server_value = if kex::public_is_mpint(&n.kex) {
            r.mpint_unsigned()?
        } else {
            r.string()?
        };
        let server_field = &payload[1 + 4 + k_s.len()..][..before - r.remaining().len()];
        let sig = r.string()?;
        r.finish()?;
        let host_key = PublicKey::from_blob(k_s).map_err(|e| Error::Kex(format!("server host key: {e}")))?;
        let client_pub = ck.encoded_public().to_vec();
        let k = ck.finish(server_value)?.encoded();
        let hash = kex::hash_for(&n.kex).ok_or_else(|| Error::Kex(format!("unknown kex {}", n.kex)))?;
        let h = self.exchange_hash(hash, k_s, &client_pub, server_field, &k);
        let sig_alg = host_key
            .verify(&h, sig)
            .map_err(|e| Error::Kex(format!("server's signature does not verify: {e}")))?;
        // A certificate algorithm signs as its plain one (PROTOCOL.certkeys); the key must be a certificate exactly
        // when a certificate algorithm was negotiated.
        if sig_alg != crate::cert::plain_algorithm(&n.host_key)
            || host_key.certificate().is_some() != crate::cert::is_cert_algorithm(&n.host_key)
        {
            return Err(Error::Kex(format!(
                "server signed with {sig_alg}, negotiated {}",
                n.host_key
            )));
        }
        self.derive_keys(hash, &k, &h)?;
        match &self.hs.host_key {
            None => {
                self.hs.awaiting_host_key = Some(host_key.clone());
                self.events.push_back(Event::HostKey(host_key));
                Ok(())
            }
            Some(known) if known.blob() == host_key.blob() => self.send_newkeys(),
            Some(_) => Err(Error::HostKey("the server's host key changed during a rekey".into())),
        }
    }

    /// Client: trusts the host key from `Event::HostKey`; the handshake goes on.
    pub fn accept_host_key(&mut self) -> Result<()> {
        let key = self
            .hs
            .awaiting_host_key
            .take()
            .ok_or_else(|| Error::Usage("no host key awaits a decision".into()))?;
        self.hs.host_key = Some(key);
        self.send_newkeys()?;
        // Input that arrived while we were deciding is processed now.
        self.handle_input(&[])
    }

    /// Client: refuses the host key; the connection ends with HOST_KEY_NOT_VERIFIABLE and nothing is sent after.
    pub fn reject_host_key(&mut self, why: &str) {
        self.hs.awaiting_host_key = None;
        self.disconnect(DisconnectReason::HostKeyNotVerifiable, why);
    }

    fn send_newkeys(&mut self) -> Result<()> {
        let keys = self
            .hs
            .keys_out
            .take()
            .ok_or_else(|| Error::protocol("NEWKEYS without keys"))?;
        self.sealer.seal(&[msg::NEWKEYS], &mut self.outbuf)?;
        self.sealer.set_keys(&keys)?;
        self.sealer.set_compression(self.hs.comp_out);
        if self.hs.strict {
            self.sealer.reset_seq();
        }
        self.hs.sent_newkeys = true;
        if self.hs.kex_count == 0 && self.cfg.role == Role::Server && self.hs.peer_ext_info {
            self.send_ext_info()?;
        }
        self.release_held()?;
        self.kex_maybe_complete()
    }

    fn on_newkeys(&mut self) -> Result<()> {
        let keys = self
            .hs
            .keys_in
            .take()
            .ok_or_else(|| Error::protocol("NEWKEYS before the key exchange"))?;
        self.opener.set_keys(&keys)?;
        self.opener.set_compression(self.hs.comp_in);
        if self.hs.strict {
            self.opener.reset_seq();
        }
        self.hs.received_newkeys = true;
        self.kex_maybe_complete()
    }

    fn kex_maybe_complete(&mut self) -> Result<()> {
        if !(self.hs.sent_newkeys && self.hs.received_newkeys) {
            return Ok(());
        }
        let first = self.hs.kex_count == 0;
        self.hs.kex_count += 1;
        self.hs.our_kexinit = None;
        self.hs.peer_kexinit = None;
        self.hs.gex = None;
        self.hs.done_unstamped = true;
        if let Some(now) = self.now {
            self.hs.note_time(now);
        }
        self.events.push_back(Event::KexDone);
        if first && self.cfg.role == Role::Client {
            let mut p = Vec::new();
            Writer::new(&mut p).u8(msg::SERVICE_REQUEST).string("ssh-userauth");
            self.send(&p)?;
        }
        // Payloads left held at the limit (release_held) go with the next exchange's keys; if none is due after
        // all, they go now.
        self.maybe_rekey();
        if !self.hs.sending_kex() {
            self.release_held()?;
        }
        Ok(())
    }

    fn send_ext_info(&mut self) -> Result<()> {
        // The publickey signature algorithms the server verifies: plain names only (certificates sign with them).
        let mut algs: Vec<&str> = crate::config::HOST_KEY_DEFAULT
            .iter()
            .copied()
            .filter(|a| !crate::cert::is_cert_algorithm(a))
            .chain(crate::config::USER_KEY_VERIFY_ONLY.iter().copied())
            .collect();
        // ssh-rsa user signatures are accepted only when opted in (see auth::server); say so only then.
        if self.cfg.algorithms.host_key.iter().any(|a| a == "ssh-rsa") {
            algs.push("ssh-rsa");
        }
        let mut p = Vec::new();
        Writer::new(&mut p)
            .u8(msg::EXT_INFO)
            .u32(1)
            .string("server-sig-algs")
            .name_list(&algs);
        self.sealer.seal(&p, &mut self.outbuf)
    }

    pub(crate) fn on_ext_info(&mut self, payload: &[u8]) -> Result<()> {
        let mut r = Reader::new(&payload[1..]);
        let count = r.u32()?;
        for _ in 0..count {
            let name = r.utf8()?;
            let value = r.string()?;
            if name == "server-sig-algs" {
                let v = std::str::from_utf8(value).map_err(|_| Error::protocol("server-sig-algs is not text"))?;
                self.hs.server_sig_algs = Some(v.split(',').map(str::to_string).collect());
            }
        }
        Ok(())
    }
}
