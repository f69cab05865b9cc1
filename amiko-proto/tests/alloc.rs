//! Steady streaming allocates nothing per packet: a counting allocator watches a client→server transfer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use amiko_proto::config::{Config, Role};
use amiko_proto::connection::{AuthMethod, Connection, Event};
use amiko_proto::keys::PrivateKey;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn pump(a: &mut Connection, b: &mut Connection, buf: &mut Vec<u8>) -> bool {
    a.take_transmit(buf);
    if buf.is_empty() {
        return false;
    }
    b.handle_input(buf).unwrap();
    true
}

#[test]
fn steady_streaming_does_not_allocate_per_packet() {
    let mut c = Connection::new(Config::new(Role::Client), vec![]);
    let mut s = Connection::new(Config::new(Role::Server), vec![PrivateKey::generate_ed25519().unwrap()]);
    let mut buf = Vec::new();
    let mut server_chan = None;
    let mut client_chan = None;
    for _ in 0..100 {
        let moved = pump(&mut c, &mut s, &mut buf) | pump(&mut s, &mut c, &mut buf);
        while let Some(e) = c.poll_event() {
            match e {
                Event::HostKey(_) => c.accept_host_key().unwrap(),
                Event::AuthReady => c.auth_password("u", "pw").unwrap(),
                Event::AuthSuccess => client_chan = Some(c.channel_open_session().unwrap()),
                _ => {}
            }
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::AuthRequest {
                    method: AuthMethod::Password(_),
                    ..
                } => s.auth_accept().unwrap(),
                Event::AuthRequest { .. } => s.auth_reject(false).unwrap(),
                Event::ChannelOpenRequest { id, .. } => {
                    s.channel_accept(id).unwrap();
                    server_chan = Some(id);
                }
                _ => {}
            }
        }
        if !moved && server_chan.is_some() {
            break;
        }
    }
    let (cid, sid) = (client_chan.unwrap(), server_chan.unwrap());
    while pump(&mut s, &mut c, &mut buf) {}
    let chunk = vec![0x5au8; 32 * 1024];
    let mut received = 0usize;
    let mut stream = |packets: usize, received: &mut usize| {
        for _ in 0..packets {
            let n = c.channel_send(cid, &chunk[..32 * 1024 - 64], None).unwrap();
            assert!(n > 0);
            pump(&mut c, &mut s, &mut buf);
            *received += s.channel_consume_with(sid, false, |a, b| a.len() + b.len()).unwrap();
            pump(&mut s, &mut c, &mut buf);
        }
    };
    stream(2000, &mut received); // warm up: buffers reach their working sizes
    let before = ALLOCS.load(Ordering::Relaxed);
    stream(5000, &mut received);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(received > 200 << 20);
    // Window adjusts (one per 4 MiB) may allocate; packets may not.
    eprintln!("allocs={allocs}");
    assert!(allocs < 100, "{allocs} allocations for 5000 packets");
}
