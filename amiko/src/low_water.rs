//! Fewer wake-ups on bulk transfers: the socket's receive low-water mark (`SO_RCVLOWAT`) is raised while data
//! pours in, so the reader is woken once per mark's worth of bytes instead of once per packet the peer writes.
//!
//! OpenSSH's sshd writes every packet (32 KiB) with its own `write`; a client that decrypts faster than sshd
//! encrypts finds the socket empty after each packet and goes back to sleep. Measured on a 1 GiB stream from sshd:
//! about 20,000 voluntary context switches, and the scheduler's switch path was the largest item in the client's
//! profile. With the mark at 256 KiB: about 3,000, and a third less client CPU.
//!
//! Three rules keep it from costing anything else:
//! - The mark is only raised after a read of at least [`BULK_READ`] bytes, so interactive traffic never meets it.
//! - It falls back to one byte when nothing has been read for [`QUIET`]: a message smaller than the mark that ends
//!   a burst (the last bytes of a stream, a reply after a transfer) waits at most that long. Lowering the mark wakes
//!   the reader at once if bytes are waiting (Linux re-checks readability in `tcp_set_rcvlowat`).
//! - It stays at most a quarter of the socket's receive buffer. Linux grows the buffer for a higher mark and then
//!   clamps the TCP window to the mark, which would throttle a long fat network; a quarter never triggers that, and
//!   the mark follows the buffer as the kernel's autotuning grows it. If bulk bytes pile up under the mark until
//!   [`QUIET`] again and again (a peer or a network slower than the mark), the mark is halved, down to nothing.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// The highest mark.
const MAX_MARK: usize = 256 * 1024;
/// A read at least this big means bulk data is flowing; no mark is set below it.
const BULK_READ: usize = 64 * 1024;
/// Bulk bytes held back under the mark this many times in a row halve it.
const HELD_BACK_TO_HALVE: u32 = 8;
/// How long a raised mark may hold bytes back when no more arrive.
pub(crate) const QUIET: Duration = Duration::from_millis(1);

/// The low-water mark of one connection's socket: whether it is up, and how high it may go.
#[derive(Debug)]
pub(crate) struct LowWater {
    /// The most the mark may be for this connection; below [`BULK_READ`] it is never raised again.
    max_mark: usize,
    raised: bool,
    /// When [`QUIET`] last lowered the mark: a bulk read right after it means bulk bytes were held back.
    lowered_at: Option<Instant>,
    /// How many times in a row that happened without the mark being met in between.
    held_back: u32,
}

impl LowWater {
    /// For a socket (`Some`), or for a stream that is not one (`None`: never raised).
    pub(crate) fn new(socket: Option<BorrowedFd<'_>>) -> Self {
        let usable = cfg!(target_os = "linux") && socket.is_some();
        Self {
            max_mark: if usable { MAX_MARK } else { 0 },
            raised: false,
            lowered_at: None,
            held_back: 0,
        }
    }

    /// Whether the mark is up, so the reader must lower it after [`QUIET`] without a read.
    pub(crate) fn raised(&self) -> bool {
        self.raised
    }

    /// Called after every read of `n` bytes: raises the mark once reads are bulk-sized.
    pub(crate) fn after_read(&mut self, socket: Option<BorrowedFd<'_>>, n: usize) {
        let lowered_at = self.lowered_at.take();
        if self.raised {
            // The mark was met: the flow keeps up with it.
            self.held_back = 0;
        } else if n >= BULK_READ && lowered_at.is_some_and(|t| t.elapsed() < QUIET) {
            // A bulk read's worth sat under the mark for QUIET (lowering the mark woke us at once). Once in a while
            // that is the peer being descheduled; every time, the flow is slower than the mark, which then only
            // adds delay. (A burst that starts later is a new burst.)
            self.held_back += 1;
            if self.held_back == HELD_BACK_TO_HALVE {
                self.max_mark /= 2;
                self.held_back = 0;
            }
        }
        if self.raised || n < BULK_READ || self.max_mark < BULK_READ {
            return;
        }
        let Some(fd) = socket else {
            self.max_mark = 0;
            return;
        };
        let buffer = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::RcvBuf).unwrap_or(0);
        let mark = self.max_mark.min(buffer / 4);
        if mark >= BULK_READ {
            self.set(fd, mark);
            self.raised = self.max_mark > 0;
        }
    }

    /// Called when [`QUIET`] passed without a read while the mark was up.
    pub(crate) fn lower(&mut self, socket: Option<BorrowedFd<'_>>) {
        if let (true, Some(fd)) = (self.raised, socket) {
            self.set(fd, 1);
            self.raised = false;
            self.lowered_at = Some(Instant::now());
        }
    }

    /// Sets the mark; on failure (an old kernel, a socket that refuses) gives up on it for this connection.
    fn set(&mut self, fd: BorrowedFd<'_>, bytes: usize) {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        if let Err(e) = set_rcvlowat(fd, bytes) {
            tracing::debug!(error = %e, "SO_RCVLOWAT not usable; reading without it");
            self.max_mark = 0;
        }
    }
}

#[cfg(target_os = "linux")]
fn set_rcvlowat(fd: BorrowedFd<'_>, bytes: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `fd` is a borrowed, open descriptor for the call's duration; the option value points at a live
    // `c_int` and the length passed is its size, as setsockopt(2) requires for SO_RCVLOWAT. No crate we use (nix,
    // socket2, rustix) wraps this option.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_rcvlowat(_fd: BorrowedFd<'_>, _bytes: libc::c_int) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    fn rcvlowat(fd: BorrowedFd<'_>) -> libc::c_int {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as in set_rcvlowat, with a live out-value and its length.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        v
    }

    /// A connected pair whose reading end has a 4 MiB receive buffer (SO_RCVBUF doubles what is asked), as autotuning
    /// gives a bulk transfer.
    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        nix::sys::socket::setsockopt(&a, nix::sys::socket::sockopt::RcvBuf, &(2 << 20)).unwrap();
        (a, b)
    }

    #[test]
    fn raised_by_a_bulk_read_only_and_lowered_again() {
        let (a, _b) = pair();
        let mut lw = LowWater::new(Some(a.as_fd()));
        lw.after_read(Some(a.as_fd()), BULK_READ - 1);
        assert!(!lw.raised());
        assert_eq!(rcvlowat(a.as_fd()), 1);
        lw.after_read(Some(a.as_fd()), BULK_READ);
        assert!(lw.raised());
        assert_eq!(rcvlowat(a.as_fd()), MAX_MARK as libc::c_int);
        lw.lower(Some(a.as_fd()));
        assert!(!lw.raised());
        assert_eq!(rcvlowat(a.as_fd()), 1);
    }

    #[test]
    fn never_raised_without_a_socket() {
        let mut lw = LowWater::new(None);
        lw.after_read(None, 1 << 20);
        assert!(!lw.raised());
    }

    /// Linux clamps the TCP window to a mark the receive buffer cannot hold twice over: the mark stays within a
    /// quarter of the buffer, and is not raised while the buffer is small.
    #[test]
    fn the_mark_stays_within_a_quarter_of_the_receive_buffer() {
        let (a, _b) = pair();
        let buffer = nix::sys::socket::getsockopt(&a, nix::sys::socket::sockopt::RcvBuf).unwrap();
        let mut lw = LowWater::new(Some(a.as_fd()));
        lw.after_read(Some(a.as_fd()), 1 << 20);
        assert_eq!(rcvlowat(a.as_fd()) as usize, MAX_MARK.min(buffer / 4));
        // A small buffer (SO_RCVBUF doubles what is asked): no mark, and the buffer is left as it was.
        let (c, _d) = pair();
        nix::sys::socket::setsockopt(&c, nix::sys::socket::sockopt::RcvBuf, &(64 << 10)).unwrap();
        let small = nix::sys::socket::getsockopt(&c, nix::sys::socket::sockopt::RcvBuf).unwrap();
        let mut lw = LowWater::new(Some(c.as_fd()));
        lw.after_read(Some(c.as_fd()), 1 << 20);
        assert!(!lw.raised());
        assert_eq!(rcvlowat(c.as_fd()), 1);
        assert_eq!(
            nix::sys::socket::getsockopt(&c, nix::sys::socket::sockopt::RcvBuf).unwrap(),
            small
        );
    }

    /// Bulk bytes that sat under the mark until QUIET, every time, halve it; after two halvings (256 -> 128 -> 64
    /// KiB) and a third, it is never raised again. Once the mark is met, the count starts again.
    #[test]
    fn bulk_held_back_under_the_mark_again_and_again_halves_it_down_to_nothing() {
        let (a, _b) = pair();
        let mut lw = LowWater::new(Some(a.as_fd()));
        let n = HELD_BACK_TO_HALVE as usize;
        let mut marks = Vec::new();
        for i in 0..n + n / 2 + 2 * n {
            lw.after_read(Some(a.as_fd()), BULK_READ);
            if i == n / 2 {
                // Met once: the count so far is forgotten.
                lw.after_read(Some(a.as_fd()), BULK_READ);
            }
            marks.push(rcvlowat(a.as_fd()) as usize);
            lw.lower(Some(a.as_fd()));
        }
        let mut want = vec![MAX_MARK; n + n / 2];
        want.extend(vec![MAX_MARK / 2; n]);
        want.extend(vec![MAX_MARK / 4; n]);
        assert_eq!(marks, want);
        lw.after_read(Some(a.as_fd()), BULK_READ);
        assert!(!lw.raised());
        assert_eq!(rcvlowat(a.as_fd()), 1);
        // A burst that simply ended (a small read after QUIET), or a new burst that starts later, keeps the mark.
        let (c, _d) = pair();
        let mut lw = LowWater::new(Some(c.as_fd()));
        lw.after_read(Some(c.as_fd()), BULK_READ);
        lw.lower(Some(c.as_fd()));
        lw.after_read(Some(c.as_fd()), 100);
        lw.after_read(Some(c.as_fd()), BULK_READ);
        assert_eq!(rcvlowat(c.as_fd()) as usize, MAX_MARK);
        lw.lower(Some(c.as_fd()));
        std::thread::sleep(QUIET * 3);
        lw.after_read(Some(c.as_fd()), BULK_READ);
        assert_eq!(rcvlowat(c.as_fd()) as usize, MAX_MARK);
    }

    /// What the reader relies on: below the mark a socket does not poll readable, and lowering the mark makes the
    /// waiting bytes readable at once.
    #[test]
    fn bytes_below_the_mark_wait_until_it_is_lowered() {
        let (a, mut b) = pair();
        let mut lw = LowWater::new(Some(a.as_fd()));
        lw.after_read(Some(a.as_fd()), BULK_READ);
        assert!(lw.raised());
        b.write_all(&[7u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let readable = |fd: BorrowedFd<'_>| {
            let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u8)).unwrap() == 1
        };
        assert!(!readable(a.as_fd()), "1000 bytes under the mark polled readable");
        lw.lower(Some(a.as_fd()));
        assert!(readable(a.as_fd()));
        let mut got = [0u8; 1000];
        (&a).read_exact(&mut got).unwrap();
        assert_eq!(got, [7u8; 1000]);
    }
}
