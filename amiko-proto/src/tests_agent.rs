//! Engine tests of agent forwarding and of publickey auth with a signature made outside the engine (by an agent).

use crate::connection::{ChannelRequest, Event, AGENT_CHANNEL};
use crate::keys::PrivateKey;
use crate::tests::Pair;

fn open_failures(events: &[Event], id: u32) -> Vec<(u32, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelOpenFailed {
                id: i,
                reason,
                description,
            } if *i == id => Some((*reason, description.clone())),
            _ => None,
        })
        .collect()
}

fn agent_open_requests(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelOpenRequest { id, kind } if kind == AGENT_CHANNEL => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn agent_channel_is_refused_unless_the_client_asked_for_forwarding() {
    let mut p = Pair::default_pair();
    p.authenticate();
    // The server opens an agent channel out of the blue: refused as prohibited, nothing reaches the application.
    let id = p.server.channel_open_agent().unwrap();
    p.run();
    assert_eq!(
        open_failures(&p.server_events, id),
        vec![(1, "agent forwarding was not requested".to_string())]
    );
    assert!(agent_open_requests(&p.client_events).is_empty());
    assert!(!p.client.agent_forwarding_requested());

    // After auth-agent-req@openssh.com on a session, the same open reaches the client application.
    let cid = p.client.channel_open_session().unwrap();
    p.run();
    p.client.channel_request(cid, &ChannelRequest::AuthAgent).unwrap();
    p.run();
    assert!(p.client.agent_forwarding_requested());
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::ChannelRequest {
            request: ChannelRequest::AuthAgent,
            want_reply: true,
            ..
        }
    )));
    let id = p.server.channel_open_agent().unwrap();
    p.run();
    let reqs = agent_open_requests(&p.client_events);
    assert_eq!(reqs.len(), 1);
    p.client.channel_accept(reqs[0]).unwrap();
    p.run();
    assert!(p.server_events.contains(&Event::ChannelOpened(id)));
    // Bytes flow to the client side of the agent channel.
    p.server.channel_send(id, b"\0\0\0\x01\x0b", None).unwrap();
    p.run();
    let mut buf = [0u8; 16];
    assert_eq!(p.client.channel_recv(reqs[0], false, &mut buf).unwrap(), 5);
}

#[test]
fn a_client_cannot_open_an_agent_channel_to_a_server() {
    let mut p = Pair::default_pair();
    p.authenticate();
    let id = p.client.channel_open_agent().unwrap();
    p.run();
    assert_eq!(open_failures(&p.client_events, id).len(), 1);
    assert!(agent_open_requests(&p.server_events).is_empty());
}

fn offer(p: &mut Pair, key: &PrivateKey) -> (String, Vec<u8>) {
    p.client_events.clear();
    p.client.auth_publickey_offer("u", &key.public_key()).unwrap();
    p.run();
    p.client_events
        .iter()
        .find_map(|e| match e {
            Event::AuthSignatureRequest {
                key: k,
                algorithm,
                data,
            } if *k == key.public_key() => Some((algorithm.clone(), data.clone())),
            _ => None,
        })
        .expect("signature request")
}

#[test]
fn publickey_signed_outside_the_engine() {
    for key in [
        PrivateKey::generate_ed25519().unwrap(),
        PrivateKey::generate_ecdsa(256).unwrap(),
        PrivateKey::from_text(include_str!("../tests/data/rsa2048.pem"), None).unwrap(),
    ] {
        let mut p = Pair::default_pair();
        p.run();
        let (alg, _) = offer(&mut p, &key);
        // Garbage instead of a signature is an error, not a panic, and drops the attempt.
        assert!(p.client.auth_publickey_signature(b"\0\0\0\x03abc").is_err());
        assert!(
            p.client.auth_publickey_signature(b"").is_err(),
            "nothing is asked any more"
        );
        if key.public_key().key_type() == "ssh-rsa" {
            // Negotiated from server-sig-algs: never SHA-1.
            assert!(alg.starts_with("rsa-sha2-"), "{alg}");
            let (alg, data) = offer(&mut p, &key);
            // A signature with another hash than asked is refused before it goes out.
            let other = if alg == "rsa-sha2-512" {
                "rsa-sha2-256"
            } else {
                "rsa-sha2-512"
            };
            assert!(p
                .client
                .auth_publickey_signature(&key.sign(other, &data).unwrap())
                .is_err());
        }
        // Declining lets a new attempt start.
        offer(&mut p, &key);
        p.client.auth_publickey_decline();
        let (alg2, data) = offer(&mut p, &key);
        assert_eq!(alg2, alg);
        p.client
            .auth_publickey_signature(&key.sign(&alg, &data).unwrap())
            .unwrap();
        p.run();
        assert!(p.client_events.contains(&Event::AuthSuccess), "{:?}", p.client_events);
    }
}
