//! A blocking API with Paramiko's names, over a shared tokio runtime (like `reqwest::blocking`).
//!
//! ```no_run
//! use amiko::blocking::{SSHClient, ConnectOptions};
//! use amiko::HostKeyPolicy;
//! use std::io::Read;
//! let mut client = SSHClient::new();
//! client.load_system_host_keys();
//! client.set_missing_host_key_policy(HostKeyPolicy::AutoAdd);
//! client.connect("example.com", ConnectOptions { username: "me".into(), password: Some("pw".into()), ..Default::default() })?;
//! let (_stdin, mut stdout, _stderr) = client.exec_command("uname -n")?;
//! let mut out = String::new();
//! stdout.read_to_string(&mut out)?;
//! assert_eq!(stdout.channel().recv_exit_status()?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod channel;
mod client;
mod sftp;
mod transport;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use channel::{Channel, ChannelStderr, ChannelStdin, ChannelStdout};
pub use client::{ConnectOptions, SSHClient};
pub use sftp::{SFTPClient, SFTPFile};
pub use transport::Transport;

/// How long [`close`] waits for the DISCONNECT to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long the runtime's own thread waits after the last call returned before it drives the runtime again.
const HAND_BACK_AFTER: Duration = Duration::from_millis(2);
/// The longest the runtime's own thread sleeps between looks while calls keep coming: the longest that timers
/// (keepalives) and background work (forwarded connections) can wait once the application stops calling.
const LOOK_AGAIN_AT_MOST: Duration = Duration::from_millis(250);

/// The runtime behind the blocking API, and who drives it.
///
/// It is a single-threaded runtime driven by whoever is waiting on it. A call (`block_on`) drives it itself: it
/// writes its requests, waits for the socket, reads and decrypts the answer on its own thread. With a separate
/// runtime thread, every request and every answer cost a hand-off between two threads (a wake-up through the
/// kernel each way, two context switches), which was most of the CPU of a short connection from Python. Between
/// calls, once none has come for [`HAND_BACK_AFTER`], the runtime's own thread drives it again, so keepalives,
/// window adjustments, forwarded connections and the rest go on while the application does something else.
struct Driven {
    rt: tokio::runtime::Runtime,
    /// Calls inside `block_on` now.
    calls: AtomicUsize,
    /// When the last call returned, in nanoseconds since `epoch`.
    last_return: AtomicU64,
    epoch: Instant,
    /// Tells the runtime's own thread that a call wants to drive.
    call_waiting: tokio::sync::Notify,
}

impl Driven {
    fn get() -> &'static Driven {
        static DRIVEN: OnceLock<Driven> = OnceLock::new();
        DRIVEN.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the blocking API's runtime could not start (no timers on this system?)");
            std::thread::Builder::new()
                .name("amiko-blocking".into())
                .spawn(|| Driven::get().drive_between_calls())
                .expect("the blocking API's runtime thread could not start");
            Driven {
                rt,
                calls: AtomicUsize::new(0),
                last_return: AtomicU64::new(0),
                epoch: Instant::now(),
                call_waiting: tokio::sync::Notify::new(),
            }
        })
    }

    fn since_last_return(&self) -> Duration {
        let now = self.epoch.elapsed().as_nanos() as u64;
        Duration::from_nanos(now.saturating_sub(self.last_return.load(Ordering::Acquire)))
    }

    /// The runtime thread: drives the runtime until a call comes, then leaves it to the calls until they have
    /// been quiet for [`HAND_BACK_AFTER`].
    ///
    /// While calls keep coming it only looks again after a doubling sleep (up to [`LOOK_AGAIN_AT_MOST`]): a
    /// wake-up costs tens of microseconds on a virtual machine, and a signal from each returning call would cost one
    /// per call, which is what driving the runtime from the calling thread saves.
    fn drive_between_calls(&self) {
        loop {
            self.rt.block_on(async {
                while self.calls.load(Ordering::Acquire) == 0 {
                    self.call_waiting.notified().await;
                }
            });
            let mut pause = HAND_BACK_AFTER;
            loop {
                std::thread::sleep(pause);
                if self.calls.load(Ordering::Acquire) == 0 && self.since_last_return() >= HAND_BACK_AFTER {
                    break;
                }
                pause = (pause * 2).min(LOOK_AGAIN_AT_MOST);
            }
        }
    }

    fn block_on<F: Future>(&'static self, f: F) -> F::Output {
        let _call = Call::start(self);
        self.rt.block_on(f)
    }
}

/// One call inside `block_on`; counted out when dropped, also when the future panics, or the runtime thread would
/// never drive again.
struct Call(&'static Driven);

impl Call {
    fn start(d: &'static Driven) -> Call {
        d.calls.fetch_add(1, Ordering::AcqRel);
        // Wakes the runtime thread only if it is driving; otherwise leaves a permit it will find and ignore.
        d.call_waiting.notify_one();
        Call(d)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let now = self.0.epoch.elapsed().as_nanos() as u64;
        self.0.last_return.store(now, Ordering::Release);
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Ends `client`'s connection and returns once the DISCONNECT is written (at most a second): between calls nothing
/// may drive the runtime soon enough for a process that exits right after. The blocking API's and the Python
/// module's `close`.
pub fn close(client: &crate::Client) {
    block_on(async {
        let _ = tokio::time::timeout(CLOSE_WAIT, client.close()).await;
    });
}

/// Runs a future to completion on the shared runtime, on the calling thread: the connections' input and output
/// are handled by the thread waiting for them (see `Driven`), and by the runtime's own thread between calls.
/// This is what the blocking API and the Python module run on.
pub fn block_on<F: Future>(f: F) -> F::Output {
    Driven::get().block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that panics is counted out all the same: otherwise the runtime thread would take the call for
    /// one still running and never drive the runtime between calls again.
    #[test]
    fn a_panicking_call_is_counted_out() {
        let r = std::panic::catch_unwind(|| block_on(async { panic!("from inside the call") }));
        assert!(r.is_err());
        // Other tests of this binary may be inside a call now: wait for them to finish, not for ever.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Driven::get().calls.load(Ordering::Acquire) != 0 {
            assert!(Instant::now() < deadline, "a call was never counted out");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(block_on(async { 7 }), 7);
    }
}
