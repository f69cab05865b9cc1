//! The packet path's cost per cipher: seal then open one 32 KiB payload through amiko-proto's public
//! [`Sealer`]/[`Opener`] (padding, random bytes, length handling, MAC or tag, sequence numbers), beside a raw
//! aws-lc-rs AES-128-GCM seal and open of the same bytes, the crypto floor underneath.
//!
//! `cargo bench -p amiko-proto --bench packet` (scripts/bench adds `-- --output-format bencher` and reads ns/iter).

use std::hint::black_box;

use amiko_proto::transport::cipher::{key_sizes, DirectionKeys};
use amiko_proto::transport::packet::{Opener, Sealer};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The payload size: a full channel data packet at OpenSSH's usual maximum packet size.
const PAYLOAD: usize = 32 * 1024;

const CIPHERS: &[(&str, Option<&str>)] = &[
    ("aes128-gcm@openssh.com", None),
    ("aes256-gcm@openssh.com", None),
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-ctr", Some("hmac-sha2-256-etm@openssh.com")),
];

fn keys(cipher: &str, mac: Option<&str>) -> DirectionKeys {
    let sizes = key_sizes(cipher, mac).expect("supported cipher");
    DirectionKeys {
        cipher: cipher.into(),
        mac: mac.map(Into::into),
        key: (0..sizes.key).map(|i| i as u8).collect(),
        iv: (0..sizes.iv).map(|i| 0x40 + i as u8).collect(),
        mac_key: (0..sizes.mac_key).map(|i| 0x80 + i as u8).collect(),
    }
}

fn bench(c: &mut Criterion) {
    let payload: Vec<u8> = (0..PAYLOAD).map(|i| (i * 31) as u8).collect();
    let mut g = c.benchmark_group("seal+open 32KiB");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for &(cipher, mac) in CIPHERS {
        let k = keys(cipher, mac);
        let (mut sealer, mut opener) = (Sealer::new(), Opener::new());
        sealer.set_keys(&k).expect("sealer keys");
        opener.set_keys(&k).expect("opener keys");
        let mut buf = Vec::with_capacity(PAYLOAD + 64);
        let name = cipher.split('@').next().unwrap_or(cipher).to_string() + mac.map_or("", |_| "+hmac-sha2-256-etm");
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                sealer.seal(black_box(&payload), &mut buf).expect("seal");
                let opened = opener.open(&mut buf).expect("open").expect("a whole packet");
                assert_eq!(opened.payload.len(), PAYLOAD);
                black_box(&buf[opened.payload]);
            })
        });
    }
    // The floor: AES-128-GCM straight from aws-lc-rs, the payload copied into a buffer, sealed and opened in place.
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).expect("key"));
    let mut counter = 0u64;
    let mut buf = Vec::with_capacity(PAYLOAD + 16);
    g.bench_function("raw aws-lc aes128-gcm", |b| {
        b.iter(|| {
            counter += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&counter.to_be_bytes());
            buf.clear();
            buf.extend_from_slice(black_box(&payload));
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
                .expect("seal");
            let plain = key
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
                .expect("open");
            black_box(plain);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
